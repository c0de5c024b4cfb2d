"""Login through Sésame, on the portal's side: what the portal sends to the IdP, what it accepts
back, logout, and back-channel logout. The IdP's discovery document and keys are given to the
portal beforehand (rp_helpers.seed_discovery), so these tests need no IdP; the whole flow
against the real IdP is tests/client_portal_rp/test_sso_live.py."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from relying_party.views import SESSION_KEY, _claims
from tests.client_portal_rp.rp_helpers import (
    BASE_URL,
    CLIENT_ID,
    ISSUER,
    IdPKeys,
    csrf_of,
    log_in_directly,
    logout_claims,
    portal_config,
    portal_with_schema,
    relying_party,
    seed_discovery,
    seeded_portal,
)
from tests.helpers import free_port


@pytest.fixture(scope="module")
def keys() -> IdPKeys:
    return IdPKeys()


@pytest.fixture
def portal(tmp_path: Path, keys: IdPKeys) -> Flask:
    return seeded_portal(tmp_path, keys)


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def start_login(browser: FlaskClient) -> dict[str, str]:
    response = browser.get("/login")
    assert response.status_code == 302
    return query_of(response.headers["Location"])


# --- login ----------------------------------------------------------------------------------


def test_sso_login_redirects_to_the_idp_with_pkce_s256_state_and_nonce(portal: Flask) -> None:
    browser = portal.test_client()
    response = browser.get("/login")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(f"{ISSUER}/authorize?")
    query = query_of(location)
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"{BASE_URL}/callback"
    assert query["scope"].split() == ["openid", "profile", "email", "ordre"]
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url of a SHA-256 digest
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20
    assert "client_secret" not in location
    other = start_login(portal.test_client())
    assert other["state"] != query["state"] and other["nonce"] != query["nonce"]
    assert other["code_challenge"] != query["code_challenge"]


def test_sso_login_unregistered_site_says_so_in_french(tmp_path: Path) -> None:
    app = portal_with_schema(portal_config(tmp_path, PORTAL_CLIENT_ID="", PORTAL_CLIENT_SECRET=""))
    browser = app.test_client()
    response = browser.get("/login")
    assert response.status_code == 503
    assert "Connexion indisponible" in response.get_data(as_text=True)
    home = browser.get("/").get_data(as_text=True)
    assert "pas encore enregistré auprès de Sésame" in home
    assert "Se connecter avec Sésame" not in home


def test_sso_login_idp_unreachable_is_a_french_page(tmp_path: Path) -> None:
    app = portal_with_schema(
        portal_config(tmp_path, PORTAL_IDP_ISSUER=f"http://127.0.0.1:{free_port()}")
    )
    response = app.test_client().get("/login")
    assert response.status_code == 503
    assert "Sésame injoignable" in response.get_data(as_text=True)


def test_sso_login_refuses_a_discovery_document_of_another_issuer(
    tmp_path: Path, keys: IdPKeys
) -> None:
    app = portal_with_schema(portal_config(tmp_path))
    seed_discovery(app, keys, issuer="https://evil.example")
    response = app.test_client().get("/login")
    assert response.status_code == 503
    assert "Location" not in response.headers


# --- callback -------------------------------------------------------------------------------


def test_sso_callback_refuses_an_unknown_state(portal: Flask) -> None:
    browser = portal.test_client()
    start_login(browser)
    response = browser.get(
        "/callback", query_string={"code": "c", "state": "forged", "iss": ISSUER}
    )
    assert response.status_code == 400
    assert "Demande de connexion expirée" in response.get_data(as_text=True)
    assert SESSION_KEY not in session_of(browser)


def test_sso_callback_from_another_browser_is_refused(portal: Flask) -> None:
    """Login CSRF: a code+state obtained by an attacker, opened in the victim's browser."""
    attacker = start_login(portal.test_client())
    victim = portal.test_client()
    response = victim.get(
        "/callback", query_string={"code": "c", "state": attacker["state"], "iss": ISSUER}
    )
    assert response.status_code == 400
    assert "Demande de connexion expirée" in response.get_data(as_text=True)


@pytest.mark.parametrize("iss", ["https://evil.example", None, ISSUER + "/"])
def test_sso_callback_refuses_a_response_from_another_issuer(
    portal: Flask, iss: str | None
) -> None:
    """RFC 9207 (mix-up attacks): the code is not even sent to the token endpoint (that would
    answer 503 here, the IdP being fictitious)."""
    browser = portal.test_client()
    state = start_login(browser)["state"]
    query = {"code": "c", "state": state, **({"iss": iss} if iss is not None else {})}
    response = browser.get("/callback", query_string=query)
    assert response.status_code == 400
    assert "Connexion impossible" in response.get_data(as_text=True)


def test_sso_callback_error_access_denied_is_explained(portal: Flask) -> None:
    browser = portal.test_client()
    state = start_login(browser)["state"]
    response = browser.get(
        "/callback", query_string={"error": "access_denied", "state": state, "iss": ISSUER}
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Connexion refusée" in page and "profil" in page
    assert not any(key.startswith("_state_") for key in session_of(browser))


@pytest.mark.parametrize(
    ("error", "title"),
    [
        ("unmet_authentication_requirements", "Sécurité avancée non atteinte"),
        ("interaction_required", "Confirmation nécessaire"),
    ],
)
def test_sso_callback_step_up_errors_are_explained(portal: Flask, error: str, title: str) -> None:
    """The IdP's answers to a site asking for "sécurité avancée" (ADR 0022), in words."""
    browser = portal.test_client()
    state = start_login(browser)["state"]
    response = browser.get(
        "/callback", query_string={"error": error, "state": state, "iss": ISSUER}
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert title in page and "second facteur" in page
    assert "Connexion impossible" not in page


def test_sso_callback_unknown_error_and_hostile_description_are_not_echoed(
    portal: Flask,
) -> None:
    browser = portal.test_client()
    state = start_login(browser)["state"]
    response = browser.get(
        "/callback",
        query_string={
            "error": "<script>alert(1)</script>",
            "error_description": "<img src=x onerror=alert(1)>",
            "state": state,
            "iss": ISSUER,
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Connexion impossible" in page
    assert "<script>alert" not in page and "onerror" not in page
    assert not any(key.startswith("_state_") for key in session_of(browser))


def test_sso_callback_token_endpoint_unreachable_is_a_french_page(
    tmp_path: Path, keys: IdPKeys
) -> None:
    app = portal_with_schema(portal_config(tmp_path))
    metadata = seed_discovery(app, keys)
    metadata_port = free_port()
    relying_party(app).oauth.server_metadata["token_endpoint"] = (
        f"http://127.0.0.1:{metadata_port}/token"
    )
    browser = app.test_client()
    state = start_login(browser)["state"]
    response = browser.get(
        "/callback", query_string={"code": "c", "state": state, "iss": metadata["issuer"]}
    )
    assert response.status_code == 503
    assert "Sésame injoignable" in response.get_data(as_text=True)


def session_of(browser: FlaskClient) -> dict[str, Any]:
    with browser.session_transaction() as session:
        return dict(session)


# --- who is logged in -----------------------------------------------------------------------


def test_sso_home_shows_who_is_logged_in_with_ordre_claims(portal: Flask) -> None:
    browser = portal.test_client()
    log_in_directly(
        portal,
        browser,
        ordre_profile="expert-comptable",
        ordre_registration_number="75-123456",
        ordre_council="IDF",
    )
    page = browser.get("/").get_data(as_text=True)
    assert "Vous êtes connecté" in page
    assert '<dd data-claim="name">Marie Curie</dd>' in page
    assert '<dd data-claim="preferred_username">marie.curie</dd>' in page
    assert "<dt>Profil</dt><dd>Expert-comptable</dd>" in page
    assert "<dt>Numéro d&#39;inscription au tableau</dt><dd>75-123456</dd>" in page
    assert "<dt>Conseil régional</dt><dd>IDF</dd>" in page
    assert "Se connecter avec Sésame" not in page


def test_sso_home_escapes_hostile_claims(portal: Flask) -> None:
    browser = portal.test_client()
    log_in_directly(portal, browser, name="<script>alert(1)</script>", ordre_council="<b>x</b>")
    page = browser.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "<b>x</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_sso_home_without_login_offers_login(portal: Flask) -> None:
    page = portal.test_client().get("/").get_data(as_text=True)
    assert 'href="/login"' in page and "Se connecter avec Sésame" in page
    assert "Se déconnecter" not in page


# --- logout ---------------------------------------------------------------------------------


def test_sso_logout_ends_the_login_and_goes_to_the_idp_end_session(portal: Flask) -> None:
    browser = portal.test_client()
    login_id = log_in_directly(portal, browser, id_token="the.id.token")
    token = csrf_of(browser.get("/").get_data(as_text=True))
    response = browser.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(f"{ISSUER}/end-session?")
    query = query_of(location)
    assert query["id_token_hint"] == "the.id.token"
    assert query["post_logout_redirect_uri"] == f"{BASE_URL}/logged-out"
    assert query["client_id"] == CLIENT_ID
    assert len(query["state"]) >= 20
    assert relying_party(portal).store.find(login_id) is None
    assert "Vous êtes connecté" not in browser.get("/").get_data(as_text=True)
    back = browser.get("/logged-out", query_string={"state": query["state"]})
    assert back.status_code == 303
    assert "Vous êtes déconnecté de ce site et de Sésame." in browser.get("/").get_data(
        as_text=True
    )


def test_sso_logged_out_with_a_foreign_state_says_nothing(portal: Flask) -> None:
    browser = portal.test_client()
    assert browser.get("/logged-out", query_string={"state": "forged"}).status_code == 303
    assert "déconnecté de ce site et de Sésame" not in browser.get("/").get_data(as_text=True)


def test_sso_logout_requires_the_csrf_token(portal: Flask) -> None:
    browser = portal.test_client()
    login_id = log_in_directly(portal, browser)
    response = browser.post("/logout")
    assert response.status_code == 400
    assert "Formulaire expiré" in response.get_data(as_text=True)
    assert relying_party(portal).store.find(login_id) is not None
    assert browser.get("/logout").status_code == 405  # no logout by a link or an <img>


def test_sso_logout_with_the_idp_unreachable_still_ends_the_login_here(tmp_path: Path) -> None:
    app = portal_with_schema(
        portal_config(tmp_path, PORTAL_IDP_ISSUER=f"http://127.0.0.1:{free_port()}")
    )
    browser = app.test_client()
    login_id = log_in_directly(app, browser)
    token = csrf_of(browser.get("/").get_data(as_text=True))
    response = browser.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert relying_party(app).store.find(login_id) is None
    page = browser.get("/").get_data(as_text=True)
    assert "Sésame n&#39;a pas pu être joint" in page and "Vous êtes connecté" not in page


def test_sso_logout_csp_lets_the_form_redirect_to_the_idp(portal: Flask) -> None:
    csp = portal.test_client().get("/").headers["Content-Security-Policy"]
    assert f"form-action 'self' {ISSUER}" in csp


# --- back-channel logout --------------------------------------------------------------------


def post_logout_token(portal: Flask, token: str) -> Any:
    return portal.test_client().post("/backchannel-logout", data={"logout_token": token})


def test_sso_backchannel_logout_ends_every_login_of_the_idp_session_only(
    portal: Flask, keys: IdPKeys
) -> None:
    phone, laptop, colleague = (portal.test_client() for _ in range(3))
    log_in_directly(portal, phone)
    log_in_directly(portal, laptop)  # the same IdP session's second login here
    log_in_directly(portal, colleague, sid="idp-session-2", sub="subject-2", name="Irène Joliot")
    response = post_logout_token(portal, keys.sign(logout_claims(), typ="logout+jwt"))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    for browser in (phone, laptop):
        page = browser.get("/").get_data(as_text=True)
        assert "Vous êtes connecté" not in page and "Se connecter avec Sésame" in page
        assert SESSION_KEY not in session_of(browser)
    assert "Irène Joliot" in colleague.get("/").get_data(as_text=True)


def test_sso_backchannel_logout_by_sub_alone_ends_every_login_of_the_user(
    portal: Flask, keys: IdPKeys
) -> None:
    first, second = portal.test_client(), portal.test_client()
    log_in_directly(portal, first)
    log_in_directly(portal, second, sid="idp-session-9")
    assert post_logout_token(portal, keys.sign(logout_claims(sid=None))).status_code == 200
    assert "Vous êtes connecté" not in first.get("/").get_data(as_text=True)
    assert "Vous êtes connecté" not in second.get("/").get_data(as_text=True)


def test_sso_backchannel_logout_sid_and_sub_must_both_match(portal: Flask, keys: IdPKeys) -> None:
    browser = portal.test_client()
    log_in_directly(portal, browser)
    token = keys.sign(logout_claims(sub="subject-of-someone-else"))
    assert post_logout_token(portal, token).status_code == 200
    assert "Vous êtes connecté" in browser.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "another-client"},
        {"iss": "https://evil.example"},
        {"events": None},
        {"nonce": "abc"},
        {"sid": None, "sub": None},
    ],
)
def test_sso_backchannel_logout_refuses_a_bad_token_and_ends_nothing(
    portal: Flask, keys: IdPKeys, overrides: dict[str, Any]
) -> None:
    browser = portal.test_client()
    log_in_directly(portal, browser)
    response = post_logout_token(portal, keys.sign(logout_claims(**overrides)))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Vous êtes connecté" in browser.get("/").get_data(as_text=True)


def test_sso_backchannel_logout_without_token_or_by_get_is_refused(portal: Flask) -> None:
    client = portal.test_client()
    assert client.post("/backchannel-logout").status_code == 400
    assert client.post("/backchannel-logout", data={"logout_token": "x"}).status_code == 400
    assert client.get("/backchannel-logout").status_code == 405


def test_sso_backchannel_logout_replayed_or_concurrent_is_harmless(
    portal: Flask, keys: IdPKeys
) -> None:
    browser = portal.test_client()
    log_in_directly(portal, browser)
    token = keys.sign(logout_claims())
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        statuses.append(post_logout_token(portal, token).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4
    assert "Vous êtes connecté" not in browser.get("/").get_data(as_text=True)
    assert post_logout_token(portal, token).status_code == 200  # a later replay: nothing to do


def test_sso_backchannel_logout_keys_unreachable_asks_the_idp_to_retry(tmp_path: Path) -> None:
    app = portal_with_schema(
        portal_config(tmp_path, PORTAL_IDP_ISSUER=f"http://127.0.0.1:{free_port()}")
    )
    keys = IdPKeys()
    response = post_logout_token(app, keys.sign(logout_claims()))
    assert response.status_code == 503
    assert response.get_json()["error"] == "temporarily_unavailable"


# --- the claims kept with a login -----------------------------------------------------------


class UserinfoEndpoint:
    """Stands for the Authlib client's `userinfo()` call (the live tests use the real one)."""

    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.answer = answer

    def userinfo(self, token: dict[str, Any]) -> dict[str, Any]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


ID_TOKEN_CLAIMS = {
    "iss": ISSUER,
    "aud": CLIENT_ID,
    "sub": "subject-1",
    "sid": "idp-session-1",
    "nonce": "n",
    "at_hash": "h",
    "exp": 1,
    "iat": 0,
    "name": "Marie Curie",
}


def claims_kept(userinfo: dict[str, Any] | Exception) -> dict[str, Any]:
    rp = SimpleNamespace(oauth=UserinfoEndpoint(userinfo))
    return _claims(rp, {"userinfo": dict(ID_TOKEN_CLAIMS)})  # type: ignore[arg-type]


def test_sso_claims_userinfo_completes_the_id_token_for_the_same_sub() -> None:
    kept = claims_kept({"sub": "subject-1", "email": "marie@cabinet.example", "name": "Autre"})
    assert kept["email"] == "marie@cabinet.example"
    assert kept["name"] == "Marie Curie"  # the signed ID token wins
    assert not {"nonce", "at_hash", "aud", "iss", "exp", "iat"} & set(kept)
    assert kept["sid"] == "idp-session-1"


def test_sso_claims_userinfo_of_another_sub_or_failing_is_ignored() -> None:
    other = claims_kept({"sub": "someone-else", "email": "intrus@evil.example"})
    assert "email" not in other and other["sub"] == "subject-1"
    failed = claims_kept(requests.ConnectionError("down"))
    assert failed["name"] == "Marie Curie" and "email" not in failed
