"""ID tokens (docs/security.md 25): nonce, iss, aud, exp, iat, auth_time, sub, at_hash, sid,
acr, amr, azp; `sub` opaque, stable and not the username; signed by the one current key of
the client's algorithm (RS256 by default, ES256 when registered; OIDC_NOTES pitfall 1); the
claims of each scope, `ordre` from the live registry claim; refresh ID tokens keep the
grant's authentication."""

from __future__ import annotations

import time
from datetime import timedelta

from authlib.oidc.core.util import create_half_hash
from sqlalchemy import select

from idp.accounts.models import UserSession
from idp.config import settings
from idp.database import utcnow
from idp.extensions import db
from idp.oidc import claims, keys
from idp.oidc.acr import ACR_BASIC
from idp.oidc.models import Grant, KeyState, SigningKey
from idp.profiles.catalog import Profile
from idp.registry.catalog import RegistryStatus
from idp.registry.models import ProfileClaim
from tests.factories import create_registry_entry, create_user
from tests.idp.oidc.helpers import (
    code_flow,
    decode_id_token,
    jwt_header,
    register_client,
    sign_in,
)


def _session_of(user) -> UserSession:
    return db.session.scalar(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    )


def test_id_token_contains_every_required_claim(app, client):
    rp = register_client()
    user = sign_in(client)
    before = int(time.time())
    flow = code_flow(client, rp, nonce="n-0S6_WzA2Mj")
    token = decode_id_token(flow.id_token)
    user_session = _session_of(user)
    assert token["iss"] == settings().issuer
    assert token["aud"] == rp.client_id and token["azp"] == rp.client_id
    assert token["nonce"] == "n-0S6_WzA2Mj"
    assert before - 1 <= token["iat"] <= int(time.time()) + 1
    assert token["exp"] - token["iat"] == settings().oidc.id_token_lifetime
    assert token["auth_time"] == int(user_session.auth_time.timestamp())
    assert token["sub"] == user.subject
    assert token["sid"] == user_session.public_id
    assert token["acr"] == ACR_BASIC
    assert token["amr"] == ["pwd"]
    assert token["at_hash"] == create_half_hash(flow.access_token, "RS256").decode()


def test_id_token_sub_is_opaque_stable_and_not_the_username(app, client):
    rp = register_client()
    other_rp = register_client(name="Autre site")
    user = create_user("jean.dupont")
    sign_in(client, user)
    first = decode_id_token(code_flow(client, rp).id_token)["sub"]
    sign_in(client, user)  # a new login, a new session
    second = decode_id_token(code_flow(client, other_rp).id_token)["sub"]
    assert first == second == user.subject
    assert "jean" not in first.lower() and "dupont" not in first.lower()
    assert len(first) >= 20


def test_id_token_without_nonce_has_none(app, client):
    rp = register_client()
    sign_in(client)
    token = decode_id_token(code_flow(client, rp, nonce=None).id_token)
    assert "nonce" not in token


def test_id_token_is_signed_rs256_by_the_current_key_never_the_next(app, client):
    rp = register_client()
    sign_in(client)
    keys.ensure_keys()
    current = db.session.scalar(
        select(SigningKey.kid).where(
            SigningKey.alg == "RS256", SigningKey.state == KeyState.CURRENT
        )
    )
    following = db.session.scalar(
        select(SigningKey.kid).where(SigningKey.alg == "RS256", SigningKey.state == KeyState.NEXT)
    )
    assert current and following and current != following
    kids = {jwt_header(code_flow(client, rp).id_token)["kid"] for _ in range(8)}
    assert kids == {current}
    assert jwt_header(code_flow(client, rp).id_token)["alg"] == "RS256"


def test_id_token_es256_when_the_client_registered_it(app, client):
    rp = register_client(id_token_signed_response_alg="ES256")
    sign_in(client)
    flow = code_flow(client, rp)
    header = jwt_header(flow.id_token)
    assert header["alg"] == "ES256"
    assert header["kid"] == keys.current_signing_key("ES256").kid
    token = decode_id_token(flow.id_token)
    assert token["at_hash"] == create_half_hash(flow.access_token, "ES256").decode()


def test_id_token_lifetime_follows_the_setting(app, client, configure):
    configure(oidc__id_token_lifetime=120)
    rp = register_client()
    sign_in(client)
    token = decode_id_token(code_flow(client, rp).id_token)
    assert token["exp"] - token["iat"] == 120


def test_id_token_profile_and_email_claims_follow_the_scopes(app, client):
    rp = register_client()
    user = create_user("marie.curie", given_name="Marie", family_name="Curie")
    user.email_verified_at = utcnow()
    db.session.commit()
    sign_in(client, user)
    full = decode_id_token(code_flow(client, rp, scope="openid profile email").id_token)
    assert full["preferred_username"] == "marie.curie"
    assert (full["given_name"], full["family_name"], full["name"]) == (
        "Marie",
        "Curie",
        "Marie Curie",
    )
    assert full["email"] == "marie.curie@cabinet.example" and full["email_verified"] is True
    assert full["locale"] == "fr"
    bare = decode_id_token(code_flow(client, rp, scope="openid").id_token)
    for claim in ("preferred_username", "name", "email", "email_verified", "given_name"):
        assert claim not in bare


def test_id_token_email_verified_false_until_verified(app, client):
    rp = register_client()
    sign_in(client)
    assert decode_id_token(code_flow(client, rp).id_token)["email_verified"] is False


def test_id_token_ordre_claims_come_from_the_live_registry_claim(app, client):
    rp = register_client(scopes=["openid", "profile", "ordre"])
    member = create_user("jf.lefevre")
    member.profile = Profile.EXPERT_COMPTABLE.value
    entry = create_registry_entry(registration_number="00012345", council_code="IDF")
    db.session.add(ProfileClaim(user_id=member.id, registry_entry_id=entry.id))
    db.session.commit()
    sign_in(client, member)
    token = decode_id_token(code_flow(client, rp, scope="openid ordre").id_token)
    assert token["ordre_profile"] == Profile.EXPERT_COMPTABLE.value
    assert token["ordre_registration_number"] == "00012345"
    assert token["ordre_council"] == "IDF"
    entry.status = RegistryStatus.RADIE.value  # struck off: the claim is no longer live
    db.session.commit()
    token = decode_id_token(code_flow(client, rp, scope="openid ordre").id_token)
    assert not {"ordre_profile", "ordre_registration_number", "ordre_council"} & set(token)


def test_id_token_ordre_claims_absent_without_a_registry_claim(app, client):
    rp = register_client(scopes=["openid", "ordre"])
    sign_in(client)
    token = decode_id_token(code_flow(client, rp, scope="openid ordre").id_token)
    assert "ordre_profile" not in token


def test_id_token_keeps_the_authentication_of_an_older_session(app, client):
    """auth_time is the login's, not the token's (pitfall 4): a session that logged in an
    hour ago gets an ID token saying so."""
    rp = register_client()
    user = sign_in(client)
    user_session = _session_of(user)
    user_session.auth_time = utcnow() - timedelta(hours=1)
    db.session.commit()
    token = decode_id_token(code_flow(client, rp).id_token)
    assert token["auth_time"] == int(user_session.auth_time.timestamp())
    assert token["iat"] - token["auth_time"] >= 3599


def test_id_token_built_for_a_refresh_keeps_the_grant_authentication(app, client):
    rp = register_client()
    user = sign_in(client)
    code_flow(client, rp)
    grant = db.session.scalar(select(Grant))
    grant.auth_time = utcnow() - timedelta(hours=2)
    grant.acr = "urn:sesame:acr:mfa"
    grant.amr = ["pwd", "otp"]
    db.session.commit()
    token = decode_id_token(
        claims.build_id_token(rp.row(), user, grant, access_token="some-access-token")
    )
    assert token["auth_time"] == int(grant.auth_time.timestamp())
    assert (token["acr"], token["amr"], token["sid"]) == (
        "urn:sesame:acr:mfa",
        ["pwd", "otp"],
        grant.session_public_id,
    )
    assert "nonce" not in token
    assert token["at_hash"] == create_half_hash("some-access-token", "RS256").decode()
