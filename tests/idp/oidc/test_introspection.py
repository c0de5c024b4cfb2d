"""/introspect (RFC 7662): open only to authenticated clients; `active: false` for revoked,
expired, foreign or unknown tokens (docs/security.md 30)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from idp.database import utcnow
from idp.extensions import db
from idp.oidc.models import RefreshToken
from tests.idp.oidc.helpers import register_client
from tests.idp.oidc.tokens_support import (
    foreign_key,
    forge,
    introspect,
    issue,
    refresh,
    revoke,
    segments,
)


def test_introspection_describes_an_active_access_token(client):
    issued = issue(client)
    response = introspect(client, issued.rp, issued.access_token)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    _, claims = segments(issued.access_token)
    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid profile email"
    assert body["client_id"] == issued.rp.client_id
    assert body["sub"] == issued.user.subject
    assert body["username"] == "jean.dupont"
    assert (body["exp"], body["iat"], body["jti"]) == (claims["exp"], claims["iat"], claims["jti"])


def test_introspection_describes_an_active_refresh_token(client):
    issued = issue(client)
    body = introspect(client, issued.rp, issued.refresh_token).get_json()
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["scope"] == "openid profile email"
    assert body["client_id"] == issued.rp.client_id
    assert body["sub"] == issued.user.subject and body["username"] == "jean.dupont"
    assert body["exp"] > time.time() + 29 * 24 * 3600


def test_introspection_revoked_tokens_are_inactive(client):
    issued = issue(client)
    revoke(client, issued.rp, issued.access_token)
    assert introspect(client, issued.rp, issued.access_token).get_json() == {"active": False}
    revoke(client, issued.rp, issued.refresh_token)
    assert introspect(client, issued.rp, issued.refresh_token).get_json() == {"active": False}


def test_introspection_used_refresh_token_is_inactive(client):
    issued = issue(client)
    fresh = refresh(client, issued.rp, issued.refresh_token).get_json()
    assert introspect(client, issued.rp, issued.refresh_token).get_json() == {"active": False}
    assert introspect(client, issued.rp, fresh["refresh_token"]).get_json()["active"] is True


def test_introspection_expired_tokens_are_inactive(client):
    issued = issue(client)
    expired = forge({"exp": int(time.time()) - 1}, base=issued.access_token)
    assert introspect(client, issued.rp, expired).get_json() == {"active": False}
    db.session.execute(update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert introspect(client, issued.rp, issued.refresh_token).get_json() == {"active": False}


def test_introspection_another_clients_tokens_are_inactive_to_it(client):
    issued = issue(client)
    other = register_client(name="Autre site")
    assert introspect(client, other, issued.access_token).get_json() == {"active": False}
    assert introspect(client, other, issued.refresh_token).get_json() == {"active": False}
    assert introspect(client, issued.rp, issued.access_token).get_json()["active"] is True


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "x" * 5000, "é.é.é"])
def test_introspection_unknown_tokens_are_inactive(client, token):
    rp = register_client()
    response = introspect(client, rp, token)
    assert response.status_code == 200 and response.get_json() == {"active": False}


def test_introspection_needs_the_token_parameter(client):
    rp = register_client()
    response = introspect(client, rp, None)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_introspection_refresh_token_of_an_ended_session_is_inactive(client):
    from idp.accounts.models import UserSession

    issued = issue(client)
    db.session.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert introspect(client, issued.rp, issued.refresh_token).get_json() == {"active": False}


def test_introspection_forged_tokens_are_inactive(client):
    issued = issue(client)
    foreign = forge(base=issued.access_token, key=foreign_key())
    assert introspect(client, issued.rp, foreign).get_json() == {"active": False}
    head, _, signature = issued.access_token.split(".")
    from tests.idp.oidc.tokens_support import b64

    _, claims = segments(issued.access_token)
    tampered = f"{head}.{b64({**claims, 'scope': 'openid ordre'})}.{signature}"
    assert introspect(client, issued.rp, tampered).get_json() == {"active": False}


def test_introspection_refused_to_unauthenticated_callers(client):
    issued = issue(client)
    anonymous = client.post("/introspect", data={"token": issued.access_token})
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"] == "invalid_client"
    assert "active" not in anonymous.get_json()


def test_introspection_refused_to_public_clients(client):
    issued = issue(client, public=True)
    response = introspect(client, issued.rp, issued.access_token)
    assert response.status_code == 401
    assert "active" not in response.get_json()


def test_introspection_refused_with_a_wrong_secret(client):
    from tests.idp.oidc.helpers import basic_authorization

    issued = issue(client)
    response = client.post(
        "/introspect",
        data={"token": issued.access_token},
        headers={"Authorization": basic_authorization(issued.rp.client_id, "not-the-secret")},
    )
    assert response.status_code == 401
