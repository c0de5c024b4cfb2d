"""A sample partner site of the profession: a real relying party of Sésame, started twice by
`make run` ("Bibliothèque de l'Ordre", "Revue Française de Comptabilité") so a person sees one
login across several sites, and one logout ending them all.

« Espace des experts-comptables » (`PARTNER_SITE=experts`, the third site of `make run`) is
registered at Sésame for experts-comptables only, admitting their delegates too (ADR 0025): it
asks for scope `delegations` and its home page says, in words, whether the person comes as an
expert-comptable or through a delegation (who granted it, their registration number and firm,
the services covered, until when).

One factory, parameterised by `PARTNER_SITE` (which site: its name and colour) and the
`PARTNER_*` variables of the relying party (relying_party/settings.py, docs/configuration.md).
It logs in exactly as the client portal does (the same `relying_party` package): code flow +
PKCE, userinfo, RP-initiated logout, back-channel logout. It never imports `idp`.

« Espace sécurisé » (`/espace-securise`) shows what a site asking for "sécurité avancée"
receives: its login link sends `acr_values=urn:sesame:acr:mfa` (ADR 0022), and the page shows
the ID token's `acr` and `amr` once the login carries the MFA level.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from flask import Flask, Response, render_template

from relying_party import RelyingPartyConfigError, current_login
from relying_party import rp_config_from_env as rp_config_from_env
from relying_party.logins import ACR_ADVANCED, Login
from relying_party.settings import DEFAULT_SCOPES
from relying_party.views import UNREACHABLE, IssuerMismatch, error_page, relying_party
from relying_party.web import cookie_config, create_site

PREFIX = "PARTNER_"
DEV_SECRET_KEY = "dev-partner-secret-not-for-production"  # noqa: S105 - the known dev value
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_SLUG = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


@dataclass(frozen=True)
class Site:
    slug: str
    name: str
    colour: str  # #rrggbb, white text on it must stay readable (WCAG AA)
    tagline: str
    port: int  # `make run`'s default
    scopes: str = DEFAULT_SCOPES  # asked at login (`PARTNER_SCOPES` overrides)


SITES = {
    site.slug: site
    for site in (
        Site(
            "bibliotheque",
            "Bibliothèque de l'Ordre",
            "#7a3b12",
            "Ouvrages, normes et commentaires pour les professionnels de l'expertise comptable.",
            5002,
        ),
        Site(
            "revue",
            "Revue Française de Comptabilité",
            "#1f3f8f",
            "Le mensuel de la profession : analyses, doctrine et actualité comptable.",
            5003,
        ),
        Site(
            "experts",
            "Espace des experts-comptables",
            "#0d5c4a",
            "Réservé aux experts-comptables inscrits au tableau et à leurs collaborateurs "
            "titulaires d'une délégation.",
            5004,
            DEFAULT_SCOPES + " delegations",
        ),
    )
}


def site_from_env(env: Mapping[str, str]) -> Site:
    """`PARTNER_SITE` names a known site; `PARTNER_NAME` / `PARTNER_COLOUR` may restyle it."""
    slug = env.get("PARTNER_SITE", "bibliotheque")
    if not _SLUG.match(slug):
        raise RelyingPartyConfigError("PARTNER_SITE must be a short lowercase name")
    known = SITES.get(slug, Site(slug, slug, "#1b5e20", "", 5002))
    colour = env.get("PARTNER_COLOUR", known.colour)
    if not _COLOUR.match(colour):
        raise RelyingPartyConfigError("PARTNER_COLOUR must be a colour such as #1f3f8f")
    return Site(
        slug, env.get("PARTNER_NAME", known.name), colour, known.tagline, known.port, known.scopes
    )


def build_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ if env is None else env)
    site = site_from_env(env)
    production = (env.get("PARTNER_ENV") or env.get("SESAME_ENV")) == "production"
    env.setdefault("PARTNER_SCOPES", site.scopes)
    secret = env.get("PARTNER_SECRET_KEY") or DEV_SECRET_KEY
    if production and (secret == DEV_SECRET_KEY or len(secret) < 32):
        raise RelyingPartyConfigError("PARTNER_SECRET_KEY must be 32 random characters or more")
    rp = rp_config_from_env(
        env, PREFIX, default_base_url=f"http://127.0.0.1:{site.port}", production=production
    )
    try:
        links = [(str(name), str(url)) for name, url in json.loads(env.get("PARTNER_LINKS", "[]"))]
    except (ValueError, TypeError) as error:
        raise RelyingPartyConfigError('PARTNER_LINKS: JSON [["name", "url"], ...]') from error
    return {
        **rp,
        **cookie_config(f"partner_{site.slug}_session", rp["PARTNER_BASE_URL"], 64 * 1024),
        "PARTNER_SITE": site,
        "PARTNER_LINKS": links,
        "SECRET_KEY": secret,
    }


MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


def _paris() -> tzinfo:
    try:
        return ZoneInfo("Europe/Paris")
    except ZoneInfoNotFoundError:  # no time zone database on this machine
        return UTC


def french_date(epoch: Any) -> str:
    """« 12 mars 2027 » (Paris time) for epoch seconds; "" when not a number."""
    if isinstance(epoch, bool) or not isinstance(epoch, int | float):
        return ""
    day = datetime.fromtimestamp(epoch, _paris())
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True)
class DelegationShown:
    """One item of the `delegations` claim, as the page says it."""

    grantor_name: str
    registration_number: str
    firm: str
    services: list[str]  # this site in words, others by their client id
    until: str


def delegations_shown(
    login: Login | None, own_client_id: str, site_name: str
) -> list[DelegationShown]:
    """The `delegations` claim of the login (ADR 0025: only those covering this site), in
    words; malformed items are skipped (the claim comes from another system)."""
    items = login.claims.get("delegations") if login is not None else None
    shown = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("grantor"), dict):
            continue
        grantor = item["grantor"]
        listed = item.get("services")
        services: list[Any] = listed if isinstance(listed, list) else []
        shown.append(
            DelegationShown(
                grantor_name=str(grantor.get("name") or grantor.get("sub") or ""),
                registration_number=str(grantor.get("registration_number") or ""),
                firm=str(grantor.get("firm") or ""),
                services=[
                    f"{site_name} (ce site)" if service == own_client_id else str(service)
                    for service in services
                ],
                until=french_date(item.get("expires_at")),
            )
        )
    return shown


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """A partner site; `test_config` overrides the environment (tests build both sites)."""
    config = build_config()
    site: Site = {**config, **(test_config or {})}["PARTNER_SITE"]
    app = create_site(
        __name__, config, test_config, prefix=PREFIX, database_file=f"partner-{site.slug}.sqlite"
    )
    app.context_processor(lambda: {"site": site, "links": app.config["PARTNER_LINKS"]})

    @app.get("/")
    def index() -> str:
        login = current_login()
        return render_template(
            "index.html",
            login=login,
            asks_delegations="delegations" in str(app.config.get("PARTNER_SCOPES", "")).split(),
            delegations=delegations_shown(
                login, str(app.config.get("PARTNER_CLIENT_ID", "")), site.name
            ),
        )

    @app.get("/espace-securise")
    def secure_area() -> str:
        """What the ID token says of the login: its level (`acr`) and methods (`amr`)."""
        login = current_login()
        claims = login.claims if login is not None else {}
        amr = claims.get("amr")
        return render_template(
            "secure.html",
            login=login,
            acr=str(claims.get("acr") or ""),
            amr=[str(m) for m in amr] if isinstance(amr, list) else [],
            advanced=claims.get("acr") == ACR_ADVANCED,
            acr_advanced=ACR_ADVANCED,
        )

    @app.get("/espace-securise/connexion")
    def secure_login() -> Response | tuple[str, int]:
        """Log in through Sésame asking for "sécurité avancée" (`acr_values`)."""
        rp = relying_party()
        if not rp.settings.configured:
            return error_page(
                "Connexion indisponible",
                "Ce site n'est pas encore enregistré auprès de Sésame.",
                503,
            )
        try:
            rp.metadata()
            response: Response = rp.oauth.authorize_redirect(
                rp.settings.redirect_uri, acr_values=ACR_ADVANCED
            )
        except (requests.RequestException, ValueError, IssuerMismatch):
            return error_page(*UNREACHABLE, 503)
        return response

    @app.get("/theme.css")
    def theme() -> Response:
        """The site's colour, as a stylesheet (the CSP allows no inline style)."""
        css = f":root {{ --brand: {site.colour}; }}\n"
        return Response(css, mimetype="text/css", headers={"Cache-Control": "max-age=300"})

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "site": site.slug}

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return render_template(
            "sso_error.html",
            title="Page introuvable",
            message="Cette page n'existe pas sur ce site.",
        ), 404

    return app
