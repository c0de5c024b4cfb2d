"""RFC 9068 access tokens: what they contain, how long they live, and how every place that
accepts one validates it (docs/security.md 31 and 32)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from sqlalchemy import update

from idp.accounts.models import User, UserSession
from idp.config import settings
from idp.extensions import db
from idp.oidc import keys, tokens
from idp.oidc.models import Grant, OAuthClient
from tests.idp.oidc.helpers import register_client
from tests.idp.oidc.tokens_support import (
    b64,
    client_credentials,
    foreign_key,
    forge,
    grant_of,
    issue,
    segments,
    userinfo,
)


def _refused_at_userinfo(client: Any, token: str) -> None:
    response = userinfo(client, token)
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="userinfo", error=')
    with pytest.raises(tokens.InvalidAccessToken):
        tokens.validate_access_token(token)


# --- contents (security 31) -------------------------------------------------------------


def test_access_tokens_are_es256_at_jwt_naming_user_client_session_and_grant(client):
    issued = issue(client)
    header, claims = segments(issued.access_token)
    assert header == {
        "typ": "at+jwt",
        "alg": "ES256",
        "kid": keys.current_signing_key("ES256").kid,
    }
    session_row = db.session.query(UserSession).filter_by(user_id=issued.user.id).one()
    grant = grant_of(issued.access_token)
    assert claims["iss"] == settings().issuer
    assert claims["sub"] == issued.user.subject != issued.user.username
    assert claims["aud"] == claims["client_id"] == issued.rp.client_id
    assert claims["scope"] == "openid profile email"
    assert claims["sid"] == session_row.public_id
    assert claims["gid"] == grant.public_id and grant.user_id == issued.user.id
    assert claims["auth_time"] == int(session_row.auth_time.timestamp())
    assert claims["amr"] == ["pwd"] and claims["acr"]
    assert len(claims["jti"]) >= 22
    valid = tokens.validate_access_token(issued.access_token)
    assert valid.user is not None and valid.user.id == issued.user.id
    assert valid.scopes == ("openid", "profile", "email")


def test_access_tokens_live_ten_minutes_at_most_and_say_so(client):
    issued = issue(client)
    _, claims = segments(issued.access_token)
    assert claims["exp"] - claims["iat"] == 600 == settings().oidc.access_token_lifetime
    assert issued.flow.tokens["expires_in"] == 600
    assert abs(claims["iat"] - time.time()) < 5


def test_access_tokens_lifetime_follows_the_settings(client, configure):
    configure(oidc__access_token_lifetime=120)
    issued = issue(client)
    _, claims = segments(issued.access_token)
    assert claims["exp"] - claims["iat"] == 120
    assert issued.flow.tokens["expires_in"] == 120


def test_access_tokens_each_have_their_own_jti(client):
    rp = register_client(grant_types=["client_credentials"], scopes=["api"])
    jtis = {
        segments(client_credentials(client, rp).get_json()["access_token"])[1]["jti"]
        for _ in range(5)
    }
    assert len(jtis) == 5


# --- validation: expired, revoked, foreign (security 31) -----------------------------------


def test_access_tokens_expired_is_refused(client):
    issued = issue(client)
    assert userinfo(client, forge(base=issued.access_token)).status_code == 200  # control
    past = int(time.time()) - 1
    _refused_at_userinfo(client, forge({"exp": past}, base=issued.access_token))


def test_access_tokens_of_a_revoked_grant_are_refused_at_once(client):
    issued = issue(client)
    assert userinfo(client, issued.access_token).status_code == 200
    tokens.revoke_grant(db.session, grant_of(issued.access_token), "test")
    db.session.commit()
    _refused_at_userinfo(client, issued.access_token)


def test_access_tokens_of_a_user_no_longer_active_are_refused(client):
    issued = issue(client)
    db.session.execute(update(User).where(User.id == issued.user.id).values(status="disabled"))
    db.session.commit()
    _refused_at_userinfo(client, issued.access_token)


def test_access_tokens_of_a_disabled_client_are_refused(client):
    issued = issue(client)
    db.session.execute(
        update(OAuthClient).where(OAuthClient.id == issued.rp.id).values(disabled_at=db.func.now())
    )
    db.session.commit()
    _refused_at_userinfo(client, issued.access_token)


def test_access_tokens_naming_an_unknown_grant_or_another_user_are_refused(client):
    issued = issue(client)
    _refused_at_userinfo(client, forge({"gid": "no-such-grant"}, base=issued.access_token))
    _refused_at_userinfo(client, forge({"sub": "someone-else"}, base=issued.access_token))
    other = register_client(name="Autre site")
    _refused_at_userinfo(client, forge({"client_id": other.client_id}, base=issued.access_token))


def test_access_tokens_of_another_issuer_are_refused(client):
    issued = issue(client)
    _refused_at_userinfo(client, forge({"iss": "https://evil.example"}, base=issued.access_token))


def test_access_tokens_issued_in_the_future_are_refused(client):
    issued = issue(client)
    future = int(time.time()) + 3600
    _refused_at_userinfo(client, forge({"iat": future}, base=issued.access_token))


@pytest.mark.parametrize("claim", ["jti", "exp", "iat", "client_id", "sub", "iss", "aud"])
def test_access_tokens_missing_a_required_claim_are_refused(client, claim):
    issued = issue(client)
    _refused_at_userinfo(client, forge(base=issued.access_token, drop=(claim,)))


def test_access_tokens_id_token_is_not_an_access_token(client):
    """Our own ID token (signed by our RS256 key, typ JWT) is refused where an access token is
    expected (RFC 9068 section 4: typ at+jwt)."""
    issued = issue(client)
    _refused_at_userinfo(client, issued.flow.id_token)


@pytest.mark.parametrize("typ", [None, "JWT", "id+jwt", "logout+jwt"])
def test_access_tokens_without_the_at_jwt_type_are_refused(client, typ):
    issued = issue(client)
    if typ is None:
        forged = _without_typ(issued.access_token)
        assert "typ" not in segments(forged)[0]
    else:
        forged = forge(base=issued.access_token, header={"typ": typ})
    _refused_at_userinfo(client, forged)


def _without_typ(token: str) -> str:
    from joserfc import jwt

    _, claims = segments(token)
    key = keys.current_signing_key("ES256")
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, default_type=None)


# --- validation: JWT attacks (security 32) -------------------------------------------------


def test_access_tokens_alg_none_is_refused(client):
    issued = issue(client)
    header, claims = segments(issued.access_token)
    for alg in ("none", "None", "NONE"):
        unsigned = f"{b64({**header, 'alg': alg})}.{b64(claims)}."
        _refused_at_userinfo(client, unsigned)


def test_access_tokens_hs256_signed_with_our_public_key_is_refused(client):
    """The key confusion attack: HMAC with the published public key as the secret, in each
    form an attacker could take it (the JWK JSON, the PEM)."""
    issued = issue(client)
    header, claims = segments(issued.access_token)
    public = keys.current_signing_key("ES256")
    secrets_tried = [
        json.dumps(public.as_dict(private=False)).encode(),
        public.as_pem(private=False),
        json.dumps(keys.public_jwks()).encode(),
    ]
    for secret in secrets_tried:
        signing_input = f"{b64({**header, 'alg': 'HS256'})}.{b64(claims)}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        signature = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        _refused_at_userinfo(client, f"{signing_input}.{signature}")


def test_access_tokens_unknown_kid_is_refused(client):
    issued = issue(client)
    _refused_at_userinfo(client, forge(base=issued.access_token, key=foreign_key("unknown-kid")))


def test_access_tokens_signed_by_another_key_under_our_kid_are_refused(client):
    issued = issue(client)
    ours = keys.current_signing_key("ES256").kid
    _refused_at_userinfo(client, forge(base=issued.access_token, key=foreign_key(ours)))


def test_access_tokens_without_kid_are_refused(client):
    from joserfc import jwt

    issued = issue(client)
    _, claims = segments(issued.access_token)
    key = keys.current_signing_key("ES256")
    token = jwt.encode({"alg": "ES256", "typ": "at+jwt"}, claims, key)
    _refused_at_userinfo(client, token)


def test_access_tokens_tampered_payload_is_refused(client):
    """The signature of a real token over a payload changed in every way that would matter:
    wider scope, another user, a later expiry, another grant."""
    issued = issue(client)
    head, body, signature = issued.access_token.split(".")
    _, claims = segments(issued.access_token)
    for change in (
        {"scope": "openid profile email ordre"},
        {"sub": "another-subject"},
        {"exp": claims["exp"] + 3600},
        {"gid": "another-grant"},
    ):
        _refused_at_userinfo(client, f"{head}.{b64({**claims, **change})}.{signature}")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    _refused_at_userinfo(client, f"{head}.{body}.{flipped}")


@pytest.mark.parametrize(
    "garbage",
    ["", "abc", "a.b.c", "....", "eyJhbGciOiJFUzI1NiJ9.e30.", "x" * 10000, "é.é.é"],
)
def test_access_tokens_garbage_is_refused_cleanly(client, garbage):
    with pytest.raises(tokens.InvalidAccessToken):
        tokens.validate_access_token(garbage)
    if garbage and garbage.isascii():
        response = userinfo(client, garbage)
        assert response.status_code == 401


def test_access_tokens_of_a_previous_key_still_validate_until_it_is_retired(client):
    """A rotation does not break tokens in flight (the previous key stays published)."""
    issued = issue(client)
    keys.rotate(db.session, force=True)
    db.session.commit()
    assert keys.current_signing_key("ES256").kid != segments(issued.access_token)[0]["kid"]
    assert userinfo(client, issued.access_token).status_code == 200


def test_access_tokens_grant_keeps_the_sessions_authentication(client):
    issued = issue(client)
    grant = db.session.get(Grant, grant_of(issued.access_token).id)
    assert grant is not None
    _, claims = segments(issued.access_token)
    assert claims["sid"] == grant.session_public_id
    assert claims["auth_time"] == int(grant.auth_time.timestamp())
