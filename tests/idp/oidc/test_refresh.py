"""Refresh tokens: opaque, stored as digests, rotated on every use; a reused one revokes its
whole family, access tokens included (docs/security.md 29)."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp.accounts import sessions
from idp.accounts.models import User, UserSession
from idp.database import utcnow
from idp.extensions import db
from idp.oidc.models import Grant, RefreshToken
from tests.idp.oidc.helpers import decode_id_token, register_client
from tests.idp.oidc.tokens_support import (
    grant_of,
    issue,
    refresh,
    segments,
    userinfo,
)


def _row(token: str) -> RefreshToken:
    db.session.expire_all()
    digest = hashlib.sha256(token.encode()).hexdigest()
    row = db.session.scalar(select(RefreshToken).where(RefreshToken.token_digest == digest))
    assert row is not None
    return row


def test_refresh_tokens_are_random_and_stored_only_as_digests(client):
    issued = issue(client)
    token = issued.refresh_token
    assert len(token) >= 43  # 256 bits, base64url
    rows = db.session.scalars(select(RefreshToken)).all()
    assert len(rows) == 1
    assert rows[0].token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (rows[0].token_digest, rows[0].scope)
    assert rows[0].grant_id == grant_of(issued.access_token).id
    lifetime = rows[0].expires_at - rows[0].created_at
    assert lifetime == timedelta(days=30)


def test_refresh_rotates_the_refresh_token_and_issues_new_tokens(client):
    issued = issue(client)
    response = refresh(client, issued.rp, issued.refresh_token)
    assert response.status_code == 200, response.get_data(as_text=True)
    tokens = response.get_json()
    assert tokens["refresh_token"] != issued.refresh_token
    assert tokens["access_token"] != issued.access_token
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 600
    assert tokens["scope"] == "openid profile email"
    assert response.headers["Cache-Control"] == "no-store"
    assert _row(issued.refresh_token).used_at is not None
    assert _row(tokens["refresh_token"]).used_at is None
    assert userinfo(client, tokens["access_token"]).status_code == 200
    again = refresh(client, issued.rp, tokens["refresh_token"])
    assert again.status_code == 200, again.get_data(as_text=True)


def test_refresh_reuse_revokes_the_whole_family(client):
    issued = issue(client)
    first = refresh(client, issued.rp, issued.refresh_token).get_json()
    replay = refresh(client, issued.rp, issued.refresh_token)
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    grant = grant_of(issued.access_token)
    assert grant.revoked_at is not None and grant.revoke_reason == "refresh_token_reuse"
    # everything of the family stops: the rotated refresh token and both access tokens
    assert refresh(client, issued.rp, first["refresh_token"]).get_json()["error"] == (
        "invalid_grant"
    )
    assert userinfo(client, first["access_token"]).status_code == 401
    assert userinfo(client, issued.access_token).status_code == 401


def test_refresh_reuse_does_not_touch_other_families(app, client):
    issued = issue(client)
    # the same user and client, logged in on a second browser (its own IdP session)
    other = issue(app.test_client(), rp=issued.rp, user=issued.user)
    refresh(client, issued.rp, issued.refresh_token)
    refresh(client, issued.rp, issued.refresh_token)  # reuse: family 1 revoked
    assert grant_of(issued.access_token).revoked_at is not None
    assert grant_of(other.access_token).revoked_at is None
    assert refresh(client, issued.rp, other.refresh_token).status_code == 200


def test_refresh_keeps_the_grants_authentication_in_new_tokens(client):
    issued = issue(client)
    _, first_claims = segments(issued.access_token)
    first_id = decode_id_token(issued.flow.id_token)
    tokens = refresh(client, issued.rp, issued.refresh_token).get_json()
    _, claims = segments(tokens["access_token"])
    for name in ("gid", "sid", "auth_time", "acr", "amr", "sub"):
        assert claims[name] == first_claims[name], name
    id_token = decode_id_token(tokens["id_token"])
    for name in ("sub", "aud", "auth_time", "acr", "amr", "sid"):
        assert id_token[name] == first_id[name], name
    assert "nonce" not in id_token
    assert id_token["iat"] >= first_id["iat"]


def test_refresh_may_narrow_the_scope_never_widen_it(client):
    issued = issue(client)
    narrowed = refresh(client, issued.rp, issued.refresh_token, scope="openid email")
    assert narrowed.status_code == 200, narrowed.get_data(as_text=True)
    body = narrowed.get_json()
    assert body["scope"] == "openid email"
    assert segments(body["access_token"])[1]["scope"] == "openid email"
    assert "preferred_username" not in userinfo(client, body["access_token"]).get_json()
    # the new refresh token keeps the original scope (RFC 6749 section 6)
    assert _row(body["refresh_token"]).scope == "openid profile email"
    wider = refresh(client, issued.rp, body["refresh_token"], scope="openid profile email ordre")
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"
    full = refresh(client, issued.rp, body["refresh_token"])
    assert full.status_code == 200 and full.get_json()["scope"] == "openid profile email"


def test_refresh_without_openid_gives_no_id_token(client):
    issued = issue(client)
    body = refresh(client, issued.rp, issued.refresh_token, scope="profile").get_json()
    assert "id_token" not in body and body["scope"] == "profile"


def test_refresh_token_of_another_client_is_refused_without_harm(client):
    issued = issue(client)
    other = register_client(name="Autre site")
    response = refresh(client, other, issued.refresh_token)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert _row(issued.refresh_token).used_at is None
    assert grant_of(issued.access_token).revoked_at is None
    assert refresh(client, issued.rp, issued.refresh_token).status_code == 200


def test_refresh_unknown_or_missing_token_is_invalid(client):
    issued = issue(client)
    unknown = refresh(client, issued.rp, "x" * 43)
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "invalid_grant"
    missing = refresh(client, issued.rp, None)
    assert missing.status_code == 400 and missing.get_json()["error"] == "invalid_request"
    assert grant_of(issued.access_token).revoked_at is None


def test_refresh_expired_token_is_refused(client):
    issued = issue(client)
    db.session.execute(update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    response = refresh(client, issued.rp, issued.refresh_token)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_refresh_token_in_the_query_string_is_ignored(client):
    issued = issue(client)
    from tests.idp.oidc.helpers import basic_authorization

    response = client.post(
        "/token?refresh_token=" + issued.refresh_token,
        data={"grant_type": "refresh_token"},
        headers={"Authorization": basic_authorization(issued.rp.client_id, issued.rp.secret)},
    )
    assert response.status_code == 400
    assert _row(issued.refresh_token).used_at is None


def test_refresh_for_a_user_no_longer_active_is_refused(client):
    issued = issue(client)
    db.session.execute(update(User).where(User.id == issued.user.id).values(status="disabled"))
    db.session.commit()
    response = refresh(client, issued.rp, issued.refresh_token)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_refresh_after_the_idp_session_ended_is_refused(client):
    issued = issue(client)
    user_session = db.session.scalars(select(UserSession)).one()
    sessions.end_sessions(db.session, [user_session], reason=sessions.EndReason.LOGOUT)
    db.session.commit()
    response = refresh(client, issued.rp, issued.refresh_token)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_refresh_without_offline_access_ends_with_the_sessions_absolute_lifetime(client):
    issued = issue(client)
    db.session.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    response = refresh(client, issued.rp, issued.refresh_token)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_refresh_with_offline_access_outlives_the_sessions_absolute_lifetime(client):
    issued = issue(client, scope="openid profile offline_access")
    db.session.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    response = refresh(client, issued.rp, issued.refresh_token)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_refresh_revoked_grant_refuses_the_current_token(client):
    from idp.oidc import tokens as oidc_tokens

    issued = issue(client)
    oidc_tokens.revoke_grant(db.session, grant_of(issued.access_token), "consent_withdrawn")
    db.session.commit()
    response = refresh(client, issued.rp, issued.refresh_token)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert grant_of(issued.access_token).revoke_reason == "consent_withdrawn"


# --- concurrency (real commits, several threads) ------------------------------------------


def _race(app, rp, token: str, threads: int) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(threads)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def attempt() -> None:
        web = app.test_client()
        barrier.wait()
        response = refresh(web, rp, token)
        with lock:
            results.append((response.status_code, response.get_json()))

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return results


@pytest.mark.parametrize("threads", [2, 4])
def test_refresh_concurrent_uses_of_one_token_one_wins_and_the_family_is_revoked(
    committed_app, threads
):
    web = committed_app.test_client()
    with committed_app.app_context():
        issued = issue(web)
        rp = issued.rp
        token = issued.refresh_token
        gid = segments(issued.access_token)[1]["gid"]
        db.session.remove()
    results = _race(committed_app, rp, token, threads)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [400] * (threads - 1), results
    assert all(body["error"] == "invalid_grant" for status, body in results if status == 400)
    winner = next(body for status, body in results if status == 200)
    with committed_app.app_context():
        grant = db.session.scalar(select(Grant).where(Grant.public_id == gid))
        assert grant is not None and grant.revoked_at is not None
        used = db.session.scalars(select(RefreshToken).where(RefreshToken.used_at.is_not(None)))
        assert len(list(used)) == 1
        after = refresh(web, rp, winner["refresh_token"])
        assert after.status_code == 400 and after.get_json()["error"] == "invalid_grant"
        assert userinfo(web, winner["access_token"]).status_code == 401
        db.session.remove()


def test_refresh_by_a_public_client_rotates_too(client):
    issued = issue(client, public=True)
    first = refresh(client, issued.rp, issued.refresh_token)
    assert first.status_code == 200, first.get_data(as_text=True)
    replay = refresh(client, issued.rp, issued.refresh_token)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert grant_of(issued.access_token).revoked_at is not None


def test_refresh_token_of_a_confidential_client_is_useless_without_its_secret(client):
    """A stolen refresh token alone: the client's id without its secret is not enough."""
    issued = issue(client)
    response = client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": issued.refresh_token,
            "client_id": issued.rp.client_id,
        },
    )
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert _row(issued.refresh_token).used_at is None
    assert grant_of(issued.access_token).revoked_at is None
