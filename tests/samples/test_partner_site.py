"""The sample partner sites `make run` starts: one factory, two sites (name, colour, cookie),
logging in exactly as the portal does (the shared relying_party package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from relying_party import RelyingPartyConfigError
from samples.partner_site import SITES, build_config, create_app
from tests.client_portal_rp.rp_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    IdPKeys,
    log_in_directly,
    logout_claims,
    relying_party,
    seed_discovery,
)


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
