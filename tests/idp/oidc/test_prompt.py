"""prompt, max_age and id_token_hint (docs/security.md 26, and the id_token_hint part of 32):
`prompt=none` never shows a page, `prompt=login` and an exceeded `max_age` force a new login
that `auth_time` shows, without a loop; a hint must be an ID token we signed for this client,
and names the user who must be logged in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from idp.accounts.models import UserSession
from idp.config import settings
from idp.database import utcnow
from idp.extensions import db
from idp.oidc import keys
from idp.oidc.models import AuthorizationCode
from tests.factories import create_user
from tests.idp.oidc.helpers import (
    authorize,
    callback_params,
    code_flow,
    decode_id_token,
    get_code,
    log_in_and_return,
    pkce_pair,
    register_client,
    sign_in,
)


def _codes() -> int:
    return int(db.session.scalar(select(func.count()).select_from(AuthorizationCode)) or 0)


def _to_login(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def _pkce() -> dict[str, str]:
    return {"code_challenge": pkce_pair()[1], "code_challenge_method": "S256"}


def _live_session(user) -> UserSession:
    db.session.expire_all()
    return db.session.scalar(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    )


def _age_session(user, *, hours: int = 1) -> UserSession:
    user_session = _live_session(user)
    user_session.auth_time = utcnow() - timedelta(hours=hours)
    db.session.commit()
    return user_session


# --- prompt=none --------------------------------------------------------------------------------


def test_prompt_none_without_session_answers_login_required_with_iss(app, client):
    rp = register_client()
    response = authorize(client, rp, prompt="none", state="s-26")
    params = callback_params(response)
    assert response.headers["Location"].startswith(rp.redirect_uri + "?")
    assert params["error"] == "login_required"
    assert params["state"] == "s-26" and params["iss"] == settings().issuer
    assert _codes() == 0


def test_prompt_none_with_session_answers_a_code_without_a_page(app, client):
    rp = register_client()
    sign_in(client)
    params = callback_params(authorize(client, rp, prompt="none", **_pkce()))
    assert params["code"]


def test_prompt_none_cannot_be_combined(app, client):
    rp = register_client()
    sign_in(client)
    params = callback_params(authorize(client, rp, prompt="none login"))
    assert params["error"] == "invalid_request"


def test_prompt_select_account_is_refused_cleanly(app, client):
    rp = register_client()
    sign_in(client)
    params = callback_params(authorize(client, rp, prompt="select_account", state="x"))
    assert params["error"] == "account_selection_required"
    assert params["state"] == "x" and params["iss"] == settings().issuer


# --- prompt=login -------------------------------------------------------------------------------


def test_prompt_login_forces_a_new_login_that_auth_time_shows(app, client):
    rp = register_client()
    user = sign_in(client)
    old = _age_session(user)
    response = authorize(client, rp, prompt="login", **_pkce())
    assert _to_login(response)
    assert _codes() == 0
    back = log_in_and_return(client, response, user)
    assert "code" in callback_params(back)  # no loop: this login satisfies this request
    new = _live_session(user)
    assert new.id != old.id and new.auth_time > old.auth_time + timedelta(minutes=59)
    row = db.session.scalar(select(AuthorizationCode))
    assert row.auth_time == new.auth_time and row.session_public_id == new.public_id


def test_prompt_login_auth_time_in_the_id_token_is_the_new_login(app, client):
    rp = register_client()
    user = sign_in(client)
    _age_session(user, hours=3)
    flow_params = {"prompt": "login"}
    response = authorize(client, rp, **flow_params)
    log_in_and_return(client, response, user)
    token = decode_id_token(code_flow(client, rp).id_token)  # a later request, same session
    assert token["auth_time"] >= int(utcnow().timestamp()) - 60


def test_prompt_login_not_satisfied_by_coming_back_without_logging_in(app, client):
    rp = register_client()
    user = sign_in(client)
    _age_session(user)
    response = authorize(client, rp, prompt="login")
    next_url = parse_qs(urlsplit(response.headers["Location"]).query)["next"][0]
    again = client.get(next_url)  # straight back to /authorize, no login in between
    assert _to_login(again)
    assert _codes() == 0


def test_prompt_login_prefills_the_current_username(app, client):
    rp = register_client()
    user = sign_in(client)
    response = authorize(client, rp, prompt="login")
    page = client.get(response.headers["Location"])
    assert f'value="{user.username}"' in page.get_data(as_text=True)


# --- max_age ------------------------------------------------------------------------------------


def test_max_age_older_than_the_login_forces_a_new_one(app, client):
    rp = register_client()
    user = sign_in(client)
    _age_session(user)
    response = authorize(client, rp, max_age="600", **_pkce())
    assert _to_login(response)
    back = log_in_and_return(client, response, user)
    assert "code" in callback_params(back)


def test_max_age_within_the_login_gives_a_code_at_once(app, client):
    rp = register_client()
    user = sign_in(client)
    _age_session(user)
    params = callback_params(authorize(client, rp, max_age="7200", **_pkce()))
    assert params["code"]


def test_max_age_zero_logs_in_once_then_answers(app, client):
    rp = register_client()
    user = sign_in(client)
    response = authorize(client, rp, max_age="0", **_pkce())
    assert _to_login(response)
    assert "code" in callback_params(log_in_and_return(client, response, user))


def test_max_age_exceeded_with_prompt_none_is_login_required(app, client):
    rp = register_client()
    user = sign_in(client)
    _age_session(user)
    params = callback_params(authorize(client, rp, max_age="60", prompt="none"))
    assert params["error"] == "login_required"


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "99999999999"])
def test_max_age_invalid_is_refused(app, client, value):
    rp = register_client()
    sign_in(client)
    assert callback_params(authorize(client, rp, max_age=value))["error"] == "invalid_request"


# --- id_token_hint ------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict, claims: dict) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def _hint_for(client, rp, user) -> str:
    """A real ID token of `user` for `rp` (the user logs in on `client`)."""
    sign_in(client, user)
    return code_flow(client, rp).id_token


def _claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_id_token_hint_of_the_logged_in_user_gives_a_code(app, client):
    rp = register_client()
    user = create_user("marie.curie")
    hint = _hint_for(client, rp, user)
    params = callback_params(authorize(client, rp, id_token_hint=hint, prompt="none", **_pkce()))
    assert params["code"]


def test_id_token_hint_expired_is_still_a_valid_hint(app, client):
    rp = register_client()
    user = create_user("marie.curie")
    sign_in(client, user)
    claims = _claims_of(code_flow(client, rp).id_token)
    claims.update(iat=claims["iat"] - 7200, exp=claims["exp"] - 7200)
    key = keys.current_signing_key("RS256")
    hint = jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)
    assert "code" in callback_params(authorize(client, rp, id_token_hint=hint, **_pkce()))


def test_id_token_hint_of_another_user_asks_to_log_in_as_them(app, client):
    rp = register_client()
    marie = create_user("marie.curie")
    pierre = create_user("pierre.curie")
    hint = _hint_for(client, rp, marie)
    sign_in(client, pierre)
    response = authorize(client, rp, id_token_hint=hint, **_pkce())
    assert _to_login(response)
    assert _codes() == 1  # the hint's own code flow only
    back = log_in_and_return(client, response, marie)
    assert "code" in callback_params(back)
    assert db.session.scalars(select(AuthorizationCode.user_id)).all() == [marie.id, marie.id]


def test_id_token_hint_still_another_user_after_the_login_is_login_required(app, client):
    rp = register_client()
    marie = create_user("marie.curie")
    pierre = create_user("pierre.curie")
    hint = _hint_for(client, rp, marie)
    sign_in(client, pierre)
    response = authorize(client, rp, id_token_hint=hint)
    back = log_in_and_return(client, response, pierre)  # logs in as someone else again
    assert callback_params(back)["error"] == "login_required"


def test_id_token_hint_of_another_user_with_prompt_none_is_login_required(app, client):
    rp = register_client()
    marie = create_user("marie.curie")
    pierre = create_user("pierre.curie")
    hint = _hint_for(client, rp, marie)
    sign_in(client, pierre)
    params = callback_params(authorize(client, rp, id_token_hint=hint, prompt="none"))
    assert params["error"] == "login_required"


def _forged_hints(client, rp, other_rp, marie, pierre) -> dict[str, str]:
    """Hints that must all be refused, although most name the logged-in user (pierre)."""
    genuine = _hint_for(client, rp, marie)
    header_b64, _payload, signature = genuine.split(".")
    claims = _claims_of(genuine)
    as_pierre = {**claims, "sub": pierre.subject}
    key = keys.current_signing_key("RS256")
    public_pem = key.as_pem(private=False)
    hs256_input = _unsigned({"alg": "HS256", "kid": key.kid, "typ": "JWT"}, as_pierre)
    hs256_sig = _b64(hmac.new(public_pem, hs256_input.encode(), hashlib.sha256).digest())
    stranger = RSAKey.generate_key(2048, parameters={"kid": "not-one-of-ours"})
    unknown_kid = RSAKey.generate_key(2048, parameters={"kid": "unknown-kid"})
    genuine_other_client = _hint_for(client, other_rp, pierre)
    sign_in(client, pierre)
    access_token = code_flow(client, rp).access_token

    def ours(payload: dict, **header: str) -> str:
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT", **header}, payload, key)

    return {
        "alg_none": _unsigned({"alg": "none", "typ": "JWT"}, as_pierre) + ".",
        "hs256_with_public_key": f"{hs256_input}.{hs256_sig}",
        "unknown_kid": jwt.encode({"alg": "RS256", "kid": "unknown-kid"}, as_pierre, unknown_kid),
        "foreign_key_with_our_kid": jwt.encode(
            {"alg": "RS256", "kid": key.kid}, as_pierre, stranger
        ),
        "tampered_payload": f"{header_b64}.{_b64(json.dumps(as_pierre).encode())}.{signature}",
        "other_issuer": ours({**as_pierre, "iss": "https://evil.example"}),
        "issued_to_another_client": genuine_other_client,
        "access_token": access_token,
        "garbage": "not-a-jwt",
        "two_parts": "e30.e30",
    }


def test_id_token_hint_forged_or_foreign_is_refused(app, client):
    """docs/security.md 32 (id_token_hint): every forgery names the logged-in user (pierre),
    and is still refused: invalid_request, no code."""
    rp = register_client()
    other_rp = register_client(name="Autre site")
    marie = create_user("marie.curie")
    pierre = create_user("pierre.curie")
    hints = _forged_hints(client, rp, other_rp, marie, pierre)
    before = _codes()
    for name, hint in hints.items():
        response = authorize(client, rp, id_token_hint=hint, prompt="none", state=name, **_pkce())
        params = callback_params(response)
        assert params.get("error") == "invalid_request", (name, params)
        assert params["state"] == name and params["iss"] == settings().issuer
    assert _codes() == before
    # the same user, with a genuine hint, is answered
    genuine = _hint_for(client, rp, pierre)
    assert "code" in callback_params(authorize(client, rp, id_token_hint=genuine, **_pkce()))


def test_id_token_hint_survives_the_login_round_trip(app, client):
    rp = register_client()
    marie = create_user("marie.curie")
    hint = _hint_for(client, rp, marie)
    client.post("/logout", data={"csrf_token": _csrf(client, "/logout")})
    response = authorize(client, rp, id_token_hint=hint, **_pkce())
    assert _to_login(response)
    assert "code" in callback_params(log_in_and_return(client, response, marie))


def _csrf(client, url: str) -> str:
    from tests.helpers import csrf_token

    return csrf_token(client, url)


def test_prompt_none_with_hint_and_a_code_flow_for_a_logged_in_user(app, client):
    rp = register_client()
    user = sign_in(client)
    code = get_code(client, rp, prompt="none", **_pkce())["code"]
    assert code
    assert user.is_active
