"""The authorization endpoint: the client and its redirect URI (docs/security.md 19, 20), code
flow only (21), state and iss (24), the login round trip, POST requests, request objects,
unknown parameters, scopes, ui_locales and login_hint."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from idp.accounts.models import UserStatus
from idp.config import settings
from idp.database import utcnow
from idp.extensions import db
from idp.oidc.models import AuthorizationCode, OAuthClient
from tests.factories import create_user
from tests.idp.oidc.helpers import (
    authorization_params,
    authorize,
    callback_params,
    code_flow,
    decode_id_token,
    get_code,
    log_in_and_return,
    pkce_pair,
    redirect_target,
    register_client,
    sign_in,
)

REDIRECT = "https://rp.example/callback"


def _codes() -> int:
    return int(db.session.scalar(select(func.count()).select_from(AuthorizationCode)) or 0)


def _is_error_page(response, text: str) -> None:
    """An HTML page of the IdP (400), not a redirect anywhere."""
    assert response.status_code == 400, response.status_code
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert text in html.unescape(response.get_data(as_text=True))


# --- 19. exact redirect_uri matching ------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://rp.example/callback/",  # trailing slash
        "https://rp.example/callbac",  # prefix
        "https://rp.example/callback/extra",  # extra path
        "https://rp.example/callback?x=1",  # extra query
        "https://rp.example/callback#frag",  # fragment
        "https://RP.example/callback",  # case
        "https://rp.example/Callback",
        "http://rp.example/callback",  # scheme
        "https://rp.example:443/callback",  # explicit port
        "https://rp.example@evil.example/callback",  # userinfo trick
        "https://evil.example/callback",
        "https://rp.example.evil.example/callback",
        "https://rp.example/callback%20",
        " https://rp.example/callback",
    ],
)
def test_authorize_redirect_uri_must_match_exactly_else_error_page(app, client, redirect_uri):
    rp = register_client()
    sign_in(client)
    response = authorize(client, rp, redirect_uri=redirect_uri)
    _is_error_page(response, "L'adresse de retour demandée n'est pas enregistrée pour ce site.")
    assert _codes() == 0


def test_authorize_redirect_uri_is_required_even_with_one_registered(app, client):
    rp = register_client()
    sign_in(client)
    response = authorize(client, rp, redirect_uri=None)
    _is_error_page(response, "ne dit pas où revenir")
    assert _codes() == 0


def test_authorize_repeated_redirect_uri_is_an_error_page(app, client):
    rp = register_client(redirect_uris=[REDIRECT, "https://rp.example/other"])
    sign_in(client)
    query = authorization_params(rp)
    response = client.get(
        "/authorize",
        query_string=[*query.items(), ("redirect_uri", "https://rp.example/other")],
    )
    _is_error_page(response, "paramètre répété")


def test_authorize_accepts_each_registered_redirect_uri_exactly(app, client):
    other = "https://rp.example/other?tenant=1"
    rp = register_client(redirect_uris=[REDIRECT, other])
    sign_in(client)
    _verifier, challenge = pkce_pair()
    response = authorize(
        client, rp, redirect_uri=other, code_challenge=challenge, code_challenge_method="S256"
    )
    location = response.headers["Location"]
    assert location.startswith(other + "&")  # the registered query is kept, ours appended
    assert "code" in parse_qs(urlsplit(location).query)


# --- 20. unknown client -------------------------------------------------------------------------


@pytest.mark.parametrize("client_id", ["unknown-client", "", None, "x" * 200])
def test_authorize_unknown_client_is_an_error_page_never_a_redirect(app, client, client_id):
    rp = register_client()
    sign_in(client)
    response = authorize(client, rp, client_id=client_id)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "n'est pas connu de Sésame" in html.unescape(response.get_data(as_text=True))


def test_authorize_removed_client_is_unknown(app, client):
    rp = register_client()
    row = db.session.get(OAuthClient, rp.id)
    row.disabled_at = utcnow()
    db.session.commit()
    from idp.oidc.clients import forget_client

    forget_client(rp.client_id)
    sign_in(client)
    response = authorize(client, rp)
    _is_error_page(response, "n'est pas connu de Sésame")


def test_authorize_unknown_client_shows_the_page_before_asking_to_log_in(app, client):
    rp = register_client()
    response = authorize(client, rp, client_id="nope")
    _is_error_page(response, "n'est pas connu de Sésame")


# --- 21. code flow only -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response_type", ["token", "id_token", "code id_token", "code token", "id_token token", "none"]
)
def test_authorize_only_response_type_code_is_accepted(app, client, response_type):
    rp = register_client()
    sign_in(client)
    response = authorize(client, rp, response_type=response_type, state="s-21")
    params = callback_params(response)
    assert redirect_target(response) == REDIRECT
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == "s-21"
    assert params["iss"] == settings().issuer
    assert "code" not in params and "access_token" not in response.headers["Location"]
    assert "#" not in response.headers["Location"]  # nothing in a fragment (implicit, hybrid)
    assert _codes() == 0


def test_authorize_missing_response_type_is_refused(app, client):
    rp = register_client()
    sign_in(client)
    params = callback_params(authorize(client, rp, response_type=None))
    assert params["error"] == "unsupported_response_type"
    assert params["iss"] == settings().issuer


# --- 24. state and iss --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state", ["abc", "ça & va=1?#x", "x" * 500, "%2F%3D", "a b+c"], ids=range(5)
)
def test_authorize_returns_state_unchanged_with_iss(app, client, state):
    rp = register_client()
    sign_in(client)
    _verifier, challenge = pkce_pair()
    params = get_code(
        client, rp, state=state, code_challenge=challenge, code_challenge_method="S256"
    )
    assert params["state"] == state
    assert params["iss"] == settings().issuer
    assert params["code"]


def test_authorize_without_state_answers_without_state(app, client):
    rp = register_client()
    sign_in(client)
    _verifier, challenge = pkce_pair()
    params = get_code(
        client, rp, state=None, code_challenge=challenge, code_challenge_method="S256"
    )
    assert "state" not in params
    assert params["iss"] == settings().issuer


def test_authorize_every_error_redirect_carries_iss_once(app, client):
    rp = register_client()
    sign_in(client)
    for extra in (
        {"response_type": "token"},
        {"code_challenge": "x" * 43, "code_challenge_method": "plain"},
        {"prompt": "none login"},
        {"request": "eyJhbGciOiJub25lIn0.e30."},
        {"max_age": "-3"},
    ):
        response = authorize(client, rp, state="st", **extra)
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        assert query["iss"] == [settings().issuer], extra
        assert query["state"] == ["st"], extra
        assert "error" in query, extra


# --- the login round trip -----------------------------------------------------------------------


def test_authorize_without_session_sends_to_login_and_comes_back_with_the_request(app, client):
    rp = register_client()
    user = create_user("marie.curie")
    _verifier, challenge = pkce_pair()
    response = authorize(
        client,
        rp,
        state="st-1",
        nonce="n-1",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    back = log_in_and_return(client, response, user)
    params = callback_params(back)
    assert params["state"] == "st-1" and params["iss"] == settings().issuer
    row = db.session.scalar(select(AuthorizationCode))
    assert row.user_id == user.id and row.nonce == "n-1" and row.code_challenge == challenge


def test_authorize_post_request_works_and_survives_the_login(app, client):
    rp = register_client()
    user = create_user("marie.curie")
    _verifier, challenge = pkce_pair()
    response = authorize(
        client, rp, method="POST", state="st-p", code_challenge=challenge,
        code_challenge_method="S256",
    )  # fmt: skip
    assert response.status_code == 303  # asked again as a GET (see the next test)
    assert urlsplit(response.headers["Location"]).path == "/authorize"
    to_login = client.get(response.headers["Location"])
    assert urlsplit(to_login.headers["Location"]).path == "/login"
    params = callback_params(log_in_and_return(client, to_login, user))
    assert params["state"] == "st-p" and params["code"]


def test_authorize_cross_site_post_without_the_cookie_finds_the_session_on_the_get(app, client):
    """A relying party's auto-submitted form POST is cross-site: the SameSite=Lax session
    cookie is not sent, so the IdP sees no session. It answers 303 to the same request as a
    GET, a top-level navigation that carries the cookie: no needless login (nor a wrong
    login_required for prompt=none)."""
    rp = register_client()
    sign_in(client)
    cookieless = app.test_client()  # the same browser, as the cross-site POST reaches us
    _verifier, challenge = pkce_pair()
    response = authorize(
        cookieless, rp, method="POST", prompt="none", state="st-x",
        code_challenge=challenge, code_challenge_method="S256",
    )  # fmt: skip
    assert response.status_code == 303
    params = callback_params(client.get(response.headers["Location"]))
    assert params["code"] and params["state"] == "st-x"
    # a browser without any session still gets login_required for prompt=none
    again = authorize(cookieless, rp, method="POST", prompt="none", state="st-y")
    params = callback_params(cookieless.get(again.headers["Location"]))
    assert params["error"] == "login_required" and params["state"] == "st-y"


def test_authorize_post_request_of_a_logged_in_user_needs_no_csrf_token(app, client):
    rp = register_client()
    sign_in(client)
    _verifier, challenge = pkce_pair()
    response = authorize(
        client, rp, method="POST", code_challenge=challenge, code_challenge_method="S256"
    )
    assert "code" in callback_params(response)


def test_authorize_tampered_resume_token_is_an_error_page(app, client):
    rp = register_client()
    user = create_user("marie.curie")
    response = authorize(client, rp)
    next_url = parse_qs(urlsplit(response.headers["Location"]).query)["next"][0]
    token = parse_qs(urlsplit(next_url).query)["resume"][0]
    sign_in(client, user)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    page = client.get("/authorize", query_string={"resume": tampered})
    _is_error_page(page, "La demande de connexion a expiré.")


def test_authorize_login_hint_prefills_the_login_username(app, client):
    rp = register_client()
    response = authorize(client, rp, login_hint="jean.dupont")
    page = client.get(response.headers["Location"])
    assert 'value="jean.dupont"' in page.get_data(as_text=True)


def test_authorize_session_of_a_disabled_account_does_not_count(app, client):
    from idp.accounts import services
    from idp.audit.services import SYSTEM

    rp = register_client()
    user = sign_in(client)
    services.disable_user(db.session, user, actor=SYSTEM)
    db.session.commit()
    response = authorize(client, rp, prompt="none")
    assert callback_params(response)["error"] == "login_required"
    assert user.status == UserStatus.DISABLED


# --- request objects, unknown parameters, scopes, ui_locales -----------------------------------


def test_authorize_request_object_is_not_supported(app, client):
    rp = register_client()
    sign_in(client)
    params = callback_params(authorize(client, rp, request="eyJhbGciOiJub25lIn0.e30."))
    assert params["error"] == "request_not_supported"
    params = callback_params(authorize(client, rp, request_uri="https://rp.example/req.jwt"))
    assert params["error"] == "request_uri_not_supported"
    assert params["iss"] == settings().issuer
    assert _codes() == 0


def test_authorize_unknown_parameters_are_ignored(app, client):
    rp = register_client()
    sign_in(client)
    flow = code_flow(client, rp, foo="bar", display="popup", claims_locales="fr", vendor_x="1")
    assert flow.tokens["scope"] == "openid profile email"


def test_authorize_scopes_the_client_may_not_have_are_dropped(app, client):
    rp = register_client(scopes=["openid", "profile"])
    sign_in(client)
    flow = code_flow(client, rp, scope="openid profile email address phone ordre")
    assert flow.tokens["scope"] == "openid profile"


def test_authorize_ui_locales_sets_the_language_of_the_pages(app, client):
    rp = register_client()
    response = authorize(client, rp, ui_locales="en-GB fr")
    page = client.get(response.headers["Location"])
    assert '<html lang="en"' in page.get_data(as_text=True)


def test_authorize_invalid_claims_parameter_is_refused(app, client):
    rp = register_client()
    sign_in(client)
    params = callback_params(authorize(client, rp, claims="{not json"))
    assert params["error"] == "invalid_request"
    params = callback_params(authorize(client, rp, claims='{"id_token": 3}'))
    assert params["error"] == "invalid_request"


def test_authorize_claims_with_essential_acr_is_accepted(app, client):
    from tests.idp.mfa.support import code_at, enrol_totp, login_with_otp

    rp = register_client()
    user = create_user("camille.martin")
    login_with_otp(client, user.username, code_at(enrol_totp(user)))  # an MFA session
    claims = '{"id_token": {"acr": {"essential": true, "values": ["urn:sesame:acr:mfa"]}}}'
    flow = code_flow(client, rp, claims=claims, acr_values="urn:sesame:acr:mfa")
    row = db.session.scalar(select(AuthorizationCode))
    assert row.claims_request["id_token"]["acr"]["essential"] is True
    # Step-up itself: tests/idp/oidc/test_step_up.py.
    assert decode_id_token(flow.id_token)["acr"] == "urn:sesame:acr:mfa"


def test_authorize_records_the_session_client(app, client):
    from idp.oidc.models import SessionClient

    rp = register_client()
    sign_in(client)
    code_flow(client, rp)
    rows = db.session.scalars(select(SessionClient)).all()
    assert [r.client_id for r in rows] == [rp.id]


def test_authorize_nonce_too_long_is_invalid_request_not_a_crash(app, client):
    rp = register_client()
    sign_in(client)
    params = callback_params(authorize(client, rp, nonce="n" * 256, state="s"))
    assert params["error"] == "invalid_request" and params["state"] == "s"
    assert _codes() == 0
    assert "code" in callback_params(
        authorize(client, rp, nonce="n" * 255, code_challenge=pkce_pair()[1],
                  code_challenge_method="S256")
    )  # fmt: skip


def test_authorize_client_without_the_code_grant_is_unauthorized_client(app, client):
    rp = register_client(grant_types=["client_credentials"])
    sign_in(client)
    params = callback_params(authorize(client, rp, state="s"))
    assert params["error"] == "unauthorized_client"
    assert params["state"] == "s" and params["iss"] == settings().issuer
    assert _codes() == 0


@pytest.mark.parametrize(
    "params",
    [
        {"scope": "openid " * 2000},
        {"state": "s" * 3000},
        {"login_hint": "x" * 3000},
        {"ui_locales": "zz-ZZ " * 500},
        {"claims": "[1, 2]"},
        {"claims": '{"id_token": {"acr": null}}'},
        {"max_age": "1e9"},
        {"prompt": "none none"},
        {"code_challenge_method": "S256"},
        {"id_token_hint": "x" * 10000},
        {"response_mode": "form_post"},
        {"client_id": ["a", "b"]},
    ],
    ids=lambda p: next(iter(p)),
)
def test_authorize_odd_input_never_crashes(app, client, params):
    rp = register_client()
    sign_in(client)
    response = authorize(client, rp, **params)
    assert response.status_code in (200, 302, 400), response.status_code
