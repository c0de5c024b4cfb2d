"""The sample partner sites `make run` starts: one factory, two sites (name, colour, cookie),
logging in exactly as the portal does (the shared relying_party package); « Espace sécurisé »
asks Sésame for "sécurité avancée" (acr_values) and shows the ID token's acr and amr, checked
against the real IdP over HTTP with a TOTP step-up (ADR 0022)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests
from flask import Flask

from relying_party import RelyingPartyConfigError
from samples.partner_site import SITES, build_config, create_app
from tests.client_portal_rp.rp_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    IdPKeys,
    browse,
    create_idp_user,
    idp_lacks,
    log_in_directly,
    logout_claims,
    register_site,
    relying_party,
    seed_discovery,
    sign_in_at_idp,
    submit,
)
from tests.helpers import Inbox, LiveIdP, free_port, running_idp, serving

ACR_MFA = "urn:sesame:acr:mfa"


def partner(tmp_path: Path, slug: str, **overrides: Any) -> Flask:
    config = build_config(
        {
            "PARTNER_SITE": slug,
            "PARTNER_IDP_ISSUER": ISSUER,
            "PARTNER_CLIENT_ID": CLIENT_ID,
            "PARTNER_CLIENT_SECRET": CLIENT_SECRET,
            "PARTNER_CLIENT_AUTH_METHOD": overrides.pop("auth_method", "client_secret_basic"),
            "PARTNER_DATABASE_URL": f"sqlite:///{tmp_path}/{slug}.sqlite",
            "PARTNER_LINKS": '[["Portail client", "http://127.0.0.1:5001"]]',
        }
    )
    return create_app({**config, "TESTING": True, **overrides})


@pytest.fixture(scope="module")
def keys() -> IdPKeys:
    return IdPKeys()


def test_partner_site_two_sites_two_names_colours_and_cookies(tmp_path: Path) -> None:
    library, journal = partner(tmp_path, "bibliotheque"), partner(tmp_path, "revue")
    library_page = library.test_client().get("/").get_data(as_text=True)
    journal_page = journal.test_client().get("/").get_data(as_text=True)
    assert "<h1>Bibliothèque de l&#39;Ordre</h1>" in library_page
    assert "<h1>Revue Française de Comptabilité</h1>" in journal_page
    assert "Se connecter avec Sésame" in library_page
    assert 'href="http://127.0.0.1:5001">Portail client</a>' in library_page
    assert library.config["SESSION_COOKIE_NAME"] != journal.config["SESSION_COOKIE_NAME"]
    assert library.config["SESSION_COOKIE_NAME"] not in {"portal_session", "sesame_session"}
    theme = journal.test_client().get("/theme.css")
    assert theme.mimetype == "text/css"
    assert SITES["revue"].colour in theme.get_data(as_text=True)
    assert " style=" not in library_page  # the CSP forbids inline styles: /theme.css does it


def test_partner_site_logs_in_with_its_registered_auth_method(
    tmp_path: Path, keys: IdPKeys
) -> None:
    journal = partner(tmp_path, "revue", auth_method="client_secret_post")
    seed_discovery(journal, keys)
    oauth = relying_party(journal).oauth
    assert oauth.client_kwargs["token_endpoint_auth_method"] == "client_secret_post"
    response = journal.test_client().get("/login")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"{ISSUER}/authorize?")
    assert "code_challenge_method=S256" in response.headers["Location"]


def test_partner_site_shows_who_is_logged_in_and_backchannel_logout_ends_it(
    tmp_path: Path, keys: IdPKeys
) -> None:
    library = partner(tmp_path, "bibliotheque")
    seed_discovery(library, keys)
    browser = library.test_client()
    log_in_directly(library, browser, ordre_profile="expert-comptable")
    page = browser.get("/").get_data(as_text=True)
    assert "Bonjour Marie Curie" in page
    assert '<strong data-claim="preferred_username">marie.curie</strong>' in page
    assert "Profil : Expert-comptable" in page and "Se déconnecter" in page
    response = library.test_client().post(
        "/backchannel-logout", data={"logout_token": keys.sign(logout_claims())}
    )
    assert response.status_code == 200
    assert "Bonjour" not in browser.get("/").get_data(as_text=True)


def test_partner_site_refuses_bad_settings() -> None:
    with pytest.raises(RelyingPartyConfigError, match="PARTNER_COLOUR"):
        build_config({"PARTNER_COLOUR": "red;} body{display:none"})
    with pytest.raises(RelyingPartyConfigError, match="PARTNER_SITE"):
        build_config({"PARTNER_SITE": "../etc"})
    with pytest.raises(RelyingPartyConfigError, match="PARTNER_LINKS"):
        build_config({"PARTNER_LINKS": "not json"})
    with pytest.raises(RelyingPartyConfigError, match="PARTNER_SECRET_KEY"):
        build_config({"SESAME_ENV": "production"})
    custom = build_config({"PARTNER_SITE": "annuaire", "PARTNER_NAME": "Annuaire"})
    assert custom["PARTNER_SITE"].name == "Annuaire"
    assert custom["PARTNER_BASE_URL"] == "http://127.0.0.1:5002"


def test_partner_site_unknown_page_and_health(tmp_path: Path) -> None:
    client = partner(tmp_path, "revue").test_client()
    missing = client.get("/nope")
    assert missing.status_code == 404 and "Page introuvable" in missing.get_data(as_text=True)
    assert client.get("/health").get_json() == {"status": "ok", "site": "revue"}


# --- « Espace sécurisé » (sécurité avancée) -----------------------------------------------------


def test_partner_site_secure_area_login_asks_sesame_for_advanced_security(
    tmp_path: Path, keys: IdPKeys
) -> None:
    library = partner(tmp_path, "bibliotheque")
    seed_discovery(library, keys)
    browser = library.test_client()
    home = browser.get("/").get_data(as_text=True)
    assert '<a href="/espace-securise">Espace sécurisé (sécurité avancée)</a>' in home
    page = browser.get("/espace-securise").get_data(as_text=True)
    assert "Sécurité avancée nécessaire" in page
    assert 'href="/espace-securise/connexion"' in page
    response = browser.get("/espace-securise/connexion")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISSUER}/authorize"
    query = parse_qs(location.query)
    assert query["acr_values"] == [ACR_MFA]
    assert query["code_challenge_method"] == ["S256"] and "nonce" in query and "state" in query


def test_partner_site_secure_area_shows_the_id_tokens_acr_and_amr(
    tmp_path: Path, keys: IdPKeys
) -> None:
    library = partner(tmp_path, "bibliotheque")
    seed_discovery(library, keys)
    password_only = library.test_client()
    log_in_directly(library, password_only, acr="urn:sesame:acr:pwd", amr=["pwd"])
    page = password_only.get("/espace-securise").get_data(as_text=True)
    assert "Sécurité avancée nécessaire" in page
    assert '<code data-claim="acr">urn:sesame:acr:pwd</code>' in page
    stepped_up = library.test_client()
    log_in_directly(library, stepped_up, acr=ACR_MFA, amr=["pwd", "otp", "mfa"])
    page = stepped_up.get("/espace-securise").get_data(as_text=True)
    assert "Connexion en sécurité avancée" in page
    assert f'<code data-claim="acr">{ACR_MFA}</code>' in page
    assert '<code data-claim="amr">pwd otp mfa</code>' in page


def test_partner_site_secure_area_unregistered_site_says_so(tmp_path: Path) -> None:
    site = create_app(
        {**build_config({"PARTNER_SITE": "revue"}), "TESTING": True, "PARTNER_CLIENT_ID": ""}
    )
    response = site.test_client().get("/espace-securise/connexion")
    assert response.status_code == 503
    assert "Connexion indisponible" in response.get_data(as_text=True)


@pytest.fixture
def live_idp(own_database_url: str, smtp_server: Inbox) -> Iterator[LiveIdP]:
    missing = idp_lacks("oidc.discovery", "oidc_pages.authorize", "oidc.token")
    if missing:
        pytest.skip(missing)
    with running_idp(own_database_url, smtp_server) as idp:
        yield idp


def test_partner_site_secure_area_gets_an_mfa_id_token_from_the_real_idp(
    live_idp: LiveIdP, tmp_path: Path
) -> None:
    """The issue's proof: a sample partner site asking for MFA gets an ID token with acr at
    the MFA level and amr listing the factors (password, then TOTP at the IdP)."""
    from sqlalchemy import select

    from idp.accounts.models import User
    from idp.extensions import db
    from tests.idp.mfa.support import enrol_totp

    create_idp_user(live_idp, "marie.curie", given_name="Marie", family_name="Curie")
    with live_idp.app.app_context():
        user = db.session.scalars(select(User).where(User.username == "marie.curie")).one()
        secret = enrol_totp(user)
        db.session.remove()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client_id, client_secret = register_site(
        live_idp, "Bibliothèque de l'Ordre", url, auth_method="client_secret_basic"
    )
    site = partner(
        tmp_path,
        "bibliotheque",
        PARTNER_IDP_ISSUER=live_idp.url,
        PARTNER_BASE_URL=url,
        PARTNER_CLIENT_ID=client_id,
        PARTNER_CLIENT_SECRET=client_secret,
    )
    http = requests.Session()
    with serving(site, port):
        login_page = browse(http, f"{url}/espace-securise/connexion")
        assert login_page.url.startswith(f"{live_idp.url}/login"), login_page.url
        verify = sign_in_at_idp(http, login_page, "marie.curie")
        assert urlsplit(verify.url).path == "/login/verify", verify.url
        home = submit(http, verify, "/login/verify", {"otp": pyotp.TOTP(secret).now()})
        assert home.url.rstrip("/") == url, home.url
        page = browse(http, f"{url}/espace-securise").text
    relying_party(site).store.dispose()
    assert "Connexion en sécurité avancée" in page
    assert f'<code data-claim="acr">{ACR_MFA}</code>' in page
    assert '<code data-claim="amr">pwd otp mfa</code>' in page
