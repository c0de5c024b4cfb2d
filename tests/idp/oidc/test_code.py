"""Authorization codes (docs/security.md 23): 60 seconds, bound to their client and redirect
URI, stored as digests, single use; a second redemption fails and revokes what the first one
minted (also when both arrive at once); the token endpoint reads the POST body only."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

from sqlalchemy import select, update

from idp.accounts import sessions
from idp.database import utcnow
from idp.extensions import db
from idp.oidc import keys
from idp.oidc.models import AuthorizationCode, Grant, RefreshToken
from tests.factories import create_user
from tests.idp.oidc.helpers import (
    REDIRECT_URI,
    get_code,
    pkce_pair,
    redeem_code,
    register_client,
    sign_in,
    token_request,
)


def _code(client, rp, **params):
    verifier, challenge = pkce_pair()
    callback = get_code(
        client, rp, code_challenge=challenge, code_challenge_method="S256", **params
    )
    return callback["code"], verifier


def _grants() -> list[Grant]:
    db.session.expire_all()
    return list(db.session.scalars(select(Grant).order_by(Grant.id)))


def test_code_is_stored_as_a_digest_and_lives_sixty_seconds(app, client):
    rp = register_client()
    sign_in(client)
    code, _verifier = _code(client, rp)
    row = db.session.scalar(select(AuthorizationCode))
    assert row.code_digest == hashlib.sha256(code.encode()).hexdigest()
    stored = " ".join(str(getattr(row, c.key)) for c in AuthorizationCode.__table__.columns)
    assert code not in stored
    assert row.expires_at - row.created_at == timedelta(seconds=60)
    assert len(code) >= 43


def test_code_redeemed_once_gives_tokens_and_starts_a_grant(app, client):
    keys.ensure_keys()
    rp = register_client()
    user = sign_in(client)
    code, verifier = _code(client, rp)
    response = redeem_code(client, rp, code, verifier=verifier)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"].lower() == "bearer" and body["access_token"] and body["id_token"]
    assert response.headers["Cache-Control"] == "no-store"
    (grant,) = _grants()
    row = db.session.scalar(select(AuthorizationCode))
    assert row.used_at is not None and row.grant_id == grant.id
    assert grant.user_id == user.id and grant.client_id == rp.id and grant.revoked_at is None
    assert grant.session_public_id == row.session_public_id


def test_code_second_redemption_fails_and_revokes_the_first_grant(app, client):
    keys.ensure_keys()
    rp = register_client()
    sign_in(client)
    code, verifier = _code(client, rp)
    first = redeem_code(client, rp, code, verifier=verifier)
    assert first.status_code == 200
    second = redeem_code(client, rp, code, verifier=verifier)
    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    (grant,) = _grants()
    assert grant.revoked_at is not None and grant.revoke_reason == "code_reuse"
    refresh = first.get_json().get("refresh_token")
    if refresh is not None:  # the family's refresh token no longer refreshes
        again = token_request(client, rp, grant_type="refresh_token", refresh_token=refresh)
        assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
        assert (
            db.session.scalar(select(RefreshToken).where(RefreshToken.used_at.is_not(None))) is None
        )


def test_code_reuse_after_thirty_seconds_still_revokes(app, client):
    keys.ensure_keys()
    rp = register_client()
    sign_in(client)
    code, verifier = _code(client, rp)
    assert redeem_code(client, rp, code, verifier=verifier).status_code == 200
    db.session.execute(update(AuthorizationCode).values(used_at=utcnow() - timedelta(seconds=30)))
    db.session.commit()
    assert redeem_code(client, rp, code, verifier=verifier).get_json()["error"] == "invalid_grant"
    assert _grants()[0].revoked_at is not None


def test_code_expired_is_refused(app, client):
    rp = register_client()
    sign_in(client)
    code, verifier = _code(client, rp)
    db.session.execute(update(AuthorizationCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    response = redeem_code(client, rp, code, verifier=verifier)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert _grants() == []


def test_code_lifetime_follows_the_setting(app, client, configure):
    configure(oidc__code_lifetime=5)
    rp = register_client()
    sign_in(client)
    _code(client, rp)
    row = db.session.scalar(select(AuthorizationCode))
    assert row.expires_at - row.created_at == timedelta(seconds=5)


def test_code_is_bound_to_its_client(app, client):
    rp = register_client()
    other = register_client(name="Autre site")
    sign_in(client)
    code, verifier = _code(client, rp)
    response = redeem_code(client, other, code, verifier=verifier)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert redeem_code(client, rp, code, verifier=verifier).status_code == 200  # still unused


def test_code_is_bound_to_its_redirect_uri(app, client):
    other_uri = "https://rp.example/other"
    rp = register_client(redirect_uris=[REDIRECT_URI, other_uri])
    sign_in(client)
    code, verifier = _code(client, rp)
    for redirect_uri in (other_uri, REDIRECT_URI + "/", "https://evil.example/callback"):
        response = redeem_code(client, rp, code, verifier=verifier, redirect_uri=redirect_uri)
        assert response.get_json()["error"] == "invalid_grant", redirect_uri
    missing = token_request(
        client, rp, grant_type="authorization_code", code=code, code_verifier=verifier
    )
    assert missing.get_json()["error"] == "invalid_grant"
    assert _grants() == []


def test_code_of_an_ended_session_is_refused(app, client):
    rp = register_client()
    user = sign_in(client)
    code, verifier = _code(client, rp)
    sessions.end_all_sessions(db.session, user, reason=sessions.EndReason.LOGOUT)
    db.session.commit()
    response = redeem_code(client, rp, code, verifier=verifier)
    assert response.get_json()["error"] == "invalid_grant"
    assert _grants() == []


def test_code_of_a_disabled_account_is_refused(app, client):
    from idp.accounts import services
    from idp.audit.services import SYSTEM

    rp = register_client()
    user = sign_in(client)
    code, verifier = _code(client, rp)
    services.disable_user(db.session, user, actor=SYSTEM)
    db.session.commit()
    assert redeem_code(client, rp, code, verifier=verifier).get_json()["error"] == "invalid_grant"


def test_code_unknown_or_garbage_is_invalid_grant(app, client):
    rp = register_client()
    for code in ("nope", "x" * 5000, "é"):
        response = redeem_code(client, rp, code, verifier=pkce_pair()[0])
        assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_code_token_endpoint_reads_the_post_body_only(app, client):
    """Pitfall 10: parameters in the query string are not read (they would be logged)."""
    rp = register_client(auth_method="client_secret_post")
    sign_in(client)
    code, verifier = _code(client, rp)
    response = client.post(
        "/token",
        query_string={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": verifier,
        },
        data={"client_id": rp.client_id, "client_secret": rp.secret},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"
    assert client.get("/token", query_string={"code": code}).status_code == 405
    assert redeem_code(client, rp, code, verifier=verifier).status_code == 200


def test_code_two_concurrent_redemptions_exactly_one_succeeds(committed_app):
    """Both requests race on one code in their own transactions: one gets tokens, the other
    invalid_grant; being a reuse, it revokes the winner's family (RFC 6749 4.1.2)."""
    browser = committed_app.test_client()
    with committed_app.app_context():
        keys.ensure_keys()
        rp = register_client()
        sign_in(browser, create_user("marie.curie"))
        code, verifier = _code(browser, rp)
        db.session.remove()

    barrier = threading.Barrier(2)
    results: list[tuple[int, str | None]] = []

    def redeem() -> None:
        http = committed_app.test_client()
        barrier.wait()
        response = redeem_code(http, rp, code, verifier=verifier)
        results.append((response.status_code, response.get_json().get("error")))

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [(200, None), (400, "invalid_grant")]
    with committed_app.app_context():
        grants = db.session.scalars(select(Grant)).all()
        assert len(grants) == 1  # one family was started, not two
        assert grants[0].revoked_at is not None and grants[0].revoke_reason == "code_reuse"
        db.session.remove()


def test_code_claim_is_one_conditional_update_whatever_was_read_before(app, client):
    """The check of `used_at` at reading is not what protects: a redemption that read the code
    unused, then lost the race, is refused by the UPDATE's condition."""
    import pytest
    from authlib.oauth2.rfc6749 import InvalidGrantError

    from idp.oidc.server import claim_code

    rp = register_client()
    sign_in(client)
    _code(client, rp)
    row = db.session.scalar(select(AuthorizationCode))
    first = claim_code(row)  # read unused, claimed
    db.session.commit()
    stale = AuthorizationCode(id=row.id)  # what a concurrent request read before that commit
    with pytest.raises(InvalidGrantError):
        claim_code(stale)
    db.session.expire_all()
    assert db.session.get(Grant, first.id).revoked_at is not None
    assert len(_grants()) == 1


def test_code_token_endpoint_odd_requests_are_oauth_errors(app, client):
    rp = register_client()
    auth = {"Authorization": f"Basic {'x' * 10}"}
    for response in (
        client.post("/token", json={"grant_type": "authorization_code", "code": "x"}),
        client.post("/token", data={}),
        client.post("/token", data={"grant_type": "password", "username": "a", "password": "b"}),
        client.post("/token", data={"grant_type": "authorization_code"}, headers=auth),
        token_request(client, rp, grant_type="authorization_code"),  # no code
        token_request(client, rp, grant_type=["authorization_code", "refresh_token"], code="x"),
    ):
        assert response.status_code in (400, 401), response.status_code
        assert response.is_json and response.get_json()["error"]
