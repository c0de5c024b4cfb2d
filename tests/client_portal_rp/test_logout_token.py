"""Back-channel logout tokens as the relying parties verify them (OpenID Connect Back-Channel
Logout 1.0, section 2.6): every check refuses a token built to fail it, and only it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from relying_party.logout_token import (
    LogoutRequest,
    LogoutTokenInvalid,
    verify_logout_token,
)
from tests.client_portal_rp.rp_helpers import CLIENT_ID, ISSUER, IdPKeys, logout_claims


@pytest.fixture(scope="module")
def keys() -> IdPKeys:
    return IdPKeys()


def verify(keys: IdPKeys, token: str, **options: Any) -> LogoutRequest:
    jwks = options.pop("jwks", lambda force: keys.jwks())
    return verify_logout_token(token, issuer=ISSUER, client_id=CLIENT_ID, jwks=jwks, **options)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_logout_token_valid_rs256_and_es256_give_sid_and_sub(keys: IdPKeys) -> None:
    claims = logout_claims()
    for alg in ("RS256", "ES256"):
        request = verify(keys, keys.sign(claims, alg=alg, typ="logout+jwt"))
        assert request == LogoutRequest(sid="idp-session-1", subject="subject-1", jti=claims["jti"])


def test_logout_token_sid_alone_or_sub_alone_is_enough(keys: IdPKeys) -> None:
    assert verify(keys, keys.sign(logout_claims(sub=None))).subject is None
    assert verify(keys, keys.sign(logout_claims(sid=None))).sid is None


def test_logout_token_audience_may_be_a_list(keys: IdPKeys) -> None:
    verify(keys, keys.sign(logout_claims(aud=["other", CLIENT_ID])))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://evil.example"}, "iss"),
        ({"iss": None}, "iss"),
        ({"aud": "another-client"}, "aud"),
        ({"aud": ["a", "b"]}, "aud"),
        ({"iat": None}, "iat"),
        ({"iat": "now"}, "iat"),
        ({"iat": int(time.time()) + 3600}, "iat"),  # from the future
        ({"iat": int(time.time()) - 3600}, "iat"),  # too old: a replay from an hour ago
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"jti": None}, "jti"),
        ({"events": None}, "events"),
        ({"events": {"http://schemas.openid.net/event/other": {}}}, "events"),
        ({"events": {"http://schemas.openid.net/event/backchannel-logout": "yes"}}, "events"),
        ({"nonce": "n-0S6_WzA2Mj"}, "nonce"),  # an ID token is not a logout token
        ({"sid": None, "sub": None}, "neither"),
        ({"sid": 42}, "sid"),
    ],
)
def test_logout_token_refuses_bad_claims(
    keys: IdPKeys, overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(LogoutTokenInvalid, match=reason):
        verify(keys, keys.sign(logout_claims(**overrides)))


def test_logout_token_refuses_alg_none(keys: IdPKeys) -> None:
    token = f"{b64({'alg': 'none', 'kid': 'rsa-1'})}.{b64(logout_claims())}."
    with pytest.raises(LogoutTokenInvalid, match="signature"):
        verify(keys, token)


def test_logout_token_refuses_hs256_keyed_with_the_public_key(keys: IdPKeys) -> None:
    public_pem = keys.rsa.as_pem(private=False)  # what an attacker can read in the JWKS
    signing_input = f"{b64({'alg': 'HS256', 'kid': 'rsa-1'})}.{b64(logout_claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(LogoutTokenInvalid, match="signature"):
        verify(keys, forged)


def test_logout_token_refuses_a_tampered_payload(keys: IdPKeys) -> None:
    header, _, signature = keys.sign(logout_claims()).split(".")
    tampered = f"{header}.{b64(logout_claims(sid='someone-elses-session'))}.{signature}"
    with pytest.raises(LogoutTokenInvalid, match="signature"):
        verify(keys, tampered)


def test_logout_token_refuses_a_key_the_idp_never_published(keys: IdPKeys) -> None:
    stranger = RSAKey.generate_key(2048, {"kid": "rsa-1"})  # same kid, other key
    token = jwt.encode({"alg": "RS256", "kid": "rsa-1"}, logout_claims(), stranger)
    with pytest.raises(LogoutTokenInvalid, match="signature"):
        verify(keys, token)


def test_logout_token_unknown_kid_fetches_the_jwks_again_once(keys: IdPKeys) -> None:
    rotated = RSAKey.generate_key(2048, {"kid": "rsa-2"})
    calls: list[bool] = []

    def jwks(force: bool) -> dict[str, Any]:
        calls.append(force)
        published = [keys.rsa.as_dict(private=False)]
        if force:  # the IdP published its next key since the site cached the set
            published.append(rotated.as_dict(private=False))
        return {"keys": published}

    token = jwt.encode({"alg": "RS256", "kid": "rsa-2"}, logout_claims(), rotated)
    assert verify(keys, token, jwks=jwks).sid == "idp-session-1"
    assert calls == [False, True]
    calls.clear()
    unknown = RSAKey.generate_key(2048, {"kid": "rsa-9"})
    with pytest.raises(LogoutTokenInvalid, match="signature"):
        verify(
            keys, jwt.encode({"alg": "RS256", "kid": "rsa-9"}, logout_claims(), unknown), jwks=jwks
        )
    assert calls == [False, True]  # one refetch, then refused


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "...", "e30.e30.e30"])
def test_logout_token_refuses_garbage(keys: IdPKeys, token: str) -> None:
    with pytest.raises(LogoutTokenInvalid):
        verify(keys, token)


def test_logout_token_refuses_another_type(keys: IdPKeys) -> None:
    with pytest.raises(LogoutTokenInvalid, match="typ"):
        verify(keys, keys.sign(logout_claims(), typ="at+jwt"))
