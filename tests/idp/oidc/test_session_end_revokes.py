"""Logout everywhere: ending an IdP session by any path (logout, « Fermer » on « Mon compte »,
« Fermer toutes les autres sessions », a password reset or change, a timeout) revokes the
grants it started and queues one back-channel logout per client it was used for, in the same
transaction (docs/security.md 36, ADR 0021)."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.accounts import sessions
from idp.accounts.models import User, UserSession
from idp.database import utcnow
from idp.extensions import db
from idp.mail.models import OutboxMessage
from idp.oidc.models import BackchannelLogout, Grant, OAuthClient
from tests.factories import create_session, create_user
from tests.helpers import csrf_token, login
from tests.idp.oidc.logout_rows import create_grant, create_oauth_client, use_session_for

NEW_PASSWORD = "une nouvelle phrase bien longue"


def _queued() -> set[tuple[str, int, int | None]]:
    """(sid, client pk, user id) of every queued back-channel logout."""
    db.session.expire_all()
    return {
        (r.session_public_id, r.client_id, r.user_id)
        for r in db.session.scalars(select(BackchannelLogout))
    }


def _revoked(*grants: Grant) -> list[str | None]:
    db.session.expire_all()
    reasons = []
    for grant in grants:
        row = db.session.get(Grant, grant.id)
        assert row is not None
        reasons.append(row.revoke_reason if row.revoked_at is not None else None)
    return reasons


class Scene:
    """Two sessions of one user (this browser's and another device's), a second user's
    session, three clients with back-channel URIs (one disabled), one without; grants and
    uses of each."""

    def __init__(self, client: FlaskClient) -> None:
        self.user = create_user("camille.martin")
        assert login(client, "camille.martin").status_code == 302
        here = db.session.scalar(
            select(UserSession).where(
                UserSession.user_id == self.user.id, UserSession.revoked_at.is_(None)
            )
        )
        assert here is not None
        self.here: UserSession = here
        self.elsewhere, _ = create_session(self.user, user_agent="Firefox sur Android")
        self.other_user: User = create_user("marie.curie")
        self.other_users_session, _ = create_session(self.other_user)
        self.site_a = create_oauth_client(backchannel_logout_uri="https://a.example/bc")
        self.site_b = create_oauth_client(backchannel_logout_uri="https://b.example/bc")
        self.no_uri = create_oauth_client()
        self.disabled: OAuthClient = create_oauth_client(
            backchannel_logout_uri="https://d.example/bc", disabled=True
        )
        use_session_for(self.here, self.site_a, self.site_b, self.no_uri, self.disabled)
        use_session_for(self.elsewhere, self.site_a)
        use_session_for(self.other_users_session, self.site_a)
        self.grant_here_a = create_grant(self.user, self.site_a, self.here)
        self.grant_here_b = create_grant(self.user, self.site_b, self.here)
        self.grant_elsewhere = create_grant(self.user, self.site_a, self.elsewhere)
        self.grant_other_user = create_grant(self.other_user, self.site_a, self.other_users_session)
        # A client_credentials-like grant with no session is no session's to revoke.
        self.grant_no_session = create_grant(self.user, self.site_b, None)

    def queued_for_here(self) -> set[tuple[str, int, int | None]]:
        sid, uid = self.here.public_id, self.user.id
        return {(sid, self.site_a.id, uid), (sid, self.site_b.id, uid)}

    def queued_for_elsewhere(self) -> set[tuple[str, int, int | None]]:
        return {(self.elsewhere.public_id, self.site_a.id, self.user.id)}


def test_session_end_logout_revokes_its_grants_and_queues_its_clients(
    client: FlaskClient,
) -> None:
    scene = Scene(client)

    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/logout")})

    assert response.status_code == 302
    assert _revoked(scene.grant_here_a, scene.grant_here_b) == ["session_ended"] * 2
    assert _revoked(scene.grant_elsewhere, scene.grant_other_user, scene.grant_no_session) == [
        None,
        None,
        None,
    ]
    # One per client with a back-channel URI: not the one without, not the disabled one.
    assert _queued() == scene.queued_for_here()


def test_session_end_close_another_session_from_account_page(client: FlaskClient) -> None:
    scene = Scene(client)
    token = csrf_token(client, "/account")

    response = client.post(
        f"/account/sessions/{scene.elsewhere.public_id}/revoke", data={"csrf_token": token}
    )

    assert response.status_code == 302
    assert _revoked(scene.grant_elsewhere) == ["session_ended"]
    assert _revoked(scene.grant_here_a, scene.grant_here_b) == [None, None]
    assert _queued() == scene.queued_for_elsewhere()


def test_session_end_close_all_other_sessions(client: FlaskClient) -> None:
    scene = Scene(client)
    response = client.post(
        "/account/sessions/revoke-others", data={"csrf_token": csrf_token(client, "/account")}
    )
    assert response.status_code == 302
    assert _revoked(scene.grant_elsewhere, scene.grant_here_a) == ["session_ended", None]
    assert _queued() == scene.queued_for_elsewhere()


def test_session_end_password_reset_logs_out_everywhere(client: FlaskClient) -> None:
    scene = Scene(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/logout")})
    db.session.execute(BackchannelLogout.__table__.delete())
    db.session.commit()
    # The reset ends the device's session left open (this browser's is already ended).
    token = csrf_token(client, "/password/forgot")
    client.post("/password/forgot", data={"csrf_token": token, "identifier": "camille.martin"})
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.template == "password_reset")
    )
    assert message is not None
    link = next(w for w in message.body_text.split() if "/password/reset/" in w)
    path = link.removeprefix("http://idp.test")
    response = client.post(
        path,
        data={
            "csrf_token": csrf_token(client, path),
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )

    assert response.status_code == 302
    assert _revoked(scene.grant_elsewhere) == ["session_ended"]
    assert _revoked(scene.grant_other_user) == [None]
    assert _queued() == scene.queued_for_elsewhere()


def test_session_end_password_change_keeps_this_session(client: FlaskClient) -> None:
    scene = Scene(client)
    response = client.post(
        "/account/password",
        data={
            "csrf_token": csrf_token(client, "/account/password"),
            "current_password": "cheval agrafe batterie correcte",
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert _revoked(scene.grant_elsewhere, scene.grant_here_a) == ["session_ended", None]
    assert _queued() == scene.queued_for_elsewhere()


def test_session_end_idle_timeout_noticed_by_a_request(client: FlaskClient) -> None:
    scene = Scene(client)
    here = db.session.get(UserSession, scene.here.id)
    assert here is not None
    here.last_seen_at = utcnow() - timedelta(hours=2)
    db.session.commit()

    assert client.get("/account").status_code == 302  # to the login page: the session is over

    assert _revoked(scene.grant_here_a, scene.grant_here_b) == ["session_ended"] * 2
    assert _queued() == scene.queued_for_here()


def test_session_end_rolled_back_queues_nothing_and_revokes_nothing(app: Flask) -> None:
    """Same transaction as the session's end: a use case that fails after ending a session
    leaves the grants live and nothing queued."""
    user = create_user("camille.martin")
    user_session, _ = create_session(user)
    site = create_oauth_client(backchannel_logout_uri="https://a.example/bc")
    use_session_for(user_session, site)
    grant = create_grant(user, site, user_session)

    ended = sessions.end_sessions(db.session, [user_session], reason=sessions.EndReason.LOGOUT)
    assert len(ended) == 1
    db.session.rollback()

    assert _revoked(grant) == [None]
    assert _queued() == set()
    db.session.expire_all()
    row = db.session.get(UserSession, user_session.id)
    assert row is not None and row.revoked_at is None


def test_session_end_already_ended_session_queues_nothing_twice(app: Flask) -> None:
    user = create_user("camille.martin")
    user_session, _ = create_session(user)
    site = create_oauth_client(backchannel_logout_uri="https://a.example/bc")
    use_session_for(user_session, site)
    for _ in range(2):
        sessions.end_sessions(db.session, [user_session], reason=sessions.EndReason.LOGOUT)
        db.session.commit()
    assert len(list(db.session.scalars(select(BackchannelLogout)))) == 1


# --- with the real code flow --------------------------------------------------------------------


def test_session_end_logout_stops_the_sessions_refresh_and_access_tokens(
    client: FlaskClient,
) -> None:
    from tests.idp.oidc.helpers import code_flow, register_client, sign_in, token_request

    rp = register_client(backchannel_logout_uri="https://rp.example/bc")
    sign_in(client)
    flow = code_flow(client, rp, scope="openid profile offline_access")
    bearer = {"Authorization": f"Bearer {flow.access_token}"}
    assert client.get("/userinfo", headers=bearer).status_code == 200

    client.post("/logout", data={"csrf_token": csrf_token(client, "/logout")})

    refreshed = token_request(
        client, rp, grant_type="refresh_token", refresh_token=flow.refresh_token
    )
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    assert client.get("/userinfo", headers=bearer).status_code == 401
    assert len(_queued()) == 1


def test_session_end_closed_from_another_browser_stops_that_sessions_tokens(
    app: Flask,
) -> None:
    """« Fermer » on « Mon compte » in browser B ends browser A's session: the site A logged
    into loses its tokens, and is told by a back-channel logout."""
    from tests.idp.oidc.helpers import code_flow, register_client, sign_in, token_request

    rp = register_client(backchannel_logout_uri="https://rp.example/bc")
    browser_a, browser_b = app.test_client(), app.test_client()
    user = sign_in(browser_a)
    flow = code_flow(browser_a, rp, scope="openid offline_access")
    assert login(browser_b, user.username).status_code == 302
    session_a = db.session.scalar(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.id)
    )
    assert session_a is not None

    response = browser_b.post(
        f"/account/sessions/{session_a.public_id}/revoke",
        data={"csrf_token": csrf_token(browser_b, "/account")},
    )

    assert response.status_code == 302
    refreshed = token_request(
        browser_a, rp, grant_type="refresh_token", refresh_token=flow.refresh_token
    )
    assert refreshed.status_code == 400
    bearer = {"Authorization": f"Bearer {flow.access_token}"}
    assert browser_a.get("/userinfo", headers=bearer).status_code == 401
    assert _queued() == {(session_a.public_id, rp.id, user.id)}


def test_session_end_timed_out_sessions_swept_without_a_request(app: Flask) -> None:
    """A browser that never comes back: the worker's sweep ends its idle or expired session,
    revokes its grants and queues its back-channel logouts; live sessions are left alone."""
    user = create_user("camille.martin")
    idle, _ = create_session(user)
    expired, _ = create_session(user)
    live, _ = create_session(user)
    site = create_oauth_client(backchannel_logout_uri="https://a.example/bc")
    grants = []
    for user_session in (idle, expired, live):
        use_session_for(user_session, site)
        grants.append(create_grant(user, site, user_session))
    idle.last_seen_at = utcnow() - timedelta(hours=2)
    expired.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    ended = sessions.end_timed_out_sessions(db.session)
    db.session.commit()

    assert sorted((e.public_id, e.reason) for e in ended) == sorted(
        [(idle.public_id, sessions.EndReason.IDLE), (expired.public_id, sessions.EndReason.EXPIRED)]
    )
    assert _revoked(*grants) == ["session_ended", "session_ended", None]
    assert {sid for sid, _, _ in _queued()} == {idle.public_id, expired.public_id}
    assert sessions.end_timed_out_sessions(db.session) == []  # nothing twice
