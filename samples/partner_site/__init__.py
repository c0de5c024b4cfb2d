"""A sample partner site of the profession: a real relying party of Sésame, started twice by
`make run` ("Bibliothèque de l'Ordre", "Revue Française de Comptabilité") so a person sees one
login across several sites, and one logout ending them all.

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
from typing import Any

import requests
from flask import Flask, Response, render_template

from relying_party import RelyingPartyConfigError, current_login
from relying_party import rp_config_from_env as rp_config_from_env
from relying_party.logins import ACR_ADVANCED
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
    return Site(slug, env.get("PARTNER_NAME", known.name), colour, known.tagline, known.port)


def build_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ if env is None else env)
    site = site_from_env(env)
    production = (env.get("PARTNER_ENV") or env.get("SESAME_ENV")) == "production"
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
        return render_template("index.html", login=current_login())

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
