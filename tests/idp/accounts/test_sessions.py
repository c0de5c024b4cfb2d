"""idp/accounts/sessions.py (and the cookie side, idp/accounts/auth.py), SECURITY.md 14 and 15:
session rotation, cookie flags, timeouts, logout, revocation; over HTTP first, then the
module's functions themselves."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.accounts import services, sessions
from idp.accounts.models import User, UserSession, UserStatus
from idp.audit.models import AuditEvent
from idp.database import utcnow
from idp.extensions import db
from tests.factories import create_session, create_user
from tests.helpers import TEST_PASSWORD, change_password, csrf_token, login

COOKIE = "sesame_session"


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def _browser_with_cookie(app: Flask, value: str) -> FlaskClient:
    """Another browser holding a copy of a cookie (stolen, planted or kept after logout)."""
    other = app.test_client()
    other.set_cookie(COOKIE, value)
    return other


def _cookie_session(client: FlaskClient) -> dict[str, Any]:
    with client.session_transaction() as sess:
        return dict(sess)


def _is_anonymous(client: FlaskClient) -> bool:
    response = client.get("/account")
    if response.status_code == 302:
        assert response.headers["Location"] == "/login?next=/account"
        return True
    assert response.status_code == 200
    return False


def _rows(user: User) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.query(UserSession).filter_by(user_id=user.id).order_by(UserSession.id))


def _set_cookie_header(response: Any, name: str = COOKIE) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, headers
    return headers[0]


# --- 14. rotation at login (session fixation) ---------------------------------------------


def test_sessions_login_rotates_the_cookie_session(app, client):
    user = create_user("jean.dupont")
    client.get("/login")
    before = _cookie_session(client)
    pre_login_cookie = _cookie(client)
    assert "csrf_token" in before and "session_token" not in before

    assert login(client, "jean.dupont").status_code == 302

    after = _cookie_session(client)
    assert after["session_token"] not in before.values()
    assert after.get("csrf_token") != before["csrf_token"]  # the CSRF token is new too
    (row,) = _rows(user)
    assert row.token_hash == hashlib.sha256(after["session_token"].encode()).hexdigest()
    assert not _is_anonymous(client)
    # Whoever kept (or planted) the pre-login cookie is still nobody.
    assert _is_anonymous(_browser_with_cookie(app, pre_login_cookie))


def test_sessions_planted_logged_in_cookie_does_not_capture_the_victims_login(app, client):
    """An attacker plants their own session cookie in the victim's browser; the victim logs in:
    the victim gets a new server-side session, and the planted one ends (one browser, one
    session): the attacker's cookie is useless from then on."""
    create_user("mallory")
    victim = create_user("jean.dupont")
    attacker = app.test_client()
    login(attacker, "mallory")
    planted = _cookie(attacker)
    attacker_sid = _cookie_session(attacker)["session_token"]

    client.set_cookie(COOKIE, planted)
    assert login(client, "jean.dupont").status_code == 302
    assert _cookie_session(client)["session_token"] != attacker_sid

    page = (
        _browser_with_cookie(app, planted)
        .get("/account", follow_redirects=True)
        .get_data(as_text=True)
    )
    assert "mallory" not in page and "jean.dupont" not in page
    assert "jean.dupont" in client.get("/account").get_data(as_text=True)
    assert len(_rows(victim)) == 1


def test_sessions_login_again_in_the_same_browser_ends_the_previous_session(app, client):
    """Logging in again on the same browser gives a new token, and the previous server-side
    session ends (it used to stay alive, unseen, until its timeout)."""
    user = create_user("jean.dupont")
    login(client, "jean.dupont")
    first_token = _cookie_session(client)["session_token"]
    login(client, "jean.dupont")
    assert _cookie_session(client)["session_token"] != first_token
    rows = sorted(_rows(user), key=lambda row: row.id)
    assert len(rows) == 2
    assert rows[0].revoke_reason == "replaced" and rows[1].revoked_at is None


# --- 14. cookie flags -------------------------------------------------------------------------


def test_sessions_cookie_flags_over_http(client):
    create_user("jean.dupont")
    response = login(client, "jean.dupont")
    header = _set_cookie_header(response)
    attributes = [part.strip().lower() for part in header.split(";")[1:]]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert not any(a.startswith("domain=") for a in attributes)  # host-only
    assert "secure" not in attributes  # a Secure cookie would never come back over http
    assert "path=/" in attributes


def test_sessions_cookie_is_secure_under_https(https_app):
    client = https_app.test_client()
    token = csrf_token(client, "/login", base_url="https://idp.test")
    response = client.post(
        "/login",
        base_url="https://idp.test",
        headers={"Referer": "https://idp.test/login"},
        data={"csrf_token": token, "username": "jean.dupont", "password": TEST_PASSWORD},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    # __Host-: the browser refuses it without Secure, with a Domain, or a Path other than /.
    header = _set_cookie_header(response, name="__Host-sesame_session")
    attributes = [p.strip().lower() for p in header.split(";")[1:]]
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(attributes)
    assert not any(a.startswith("domain=") for a in attributes)
    with https_app.app_context():
        assert db.session.query(UserSession).count() == 1
        db.session.remove()


# --- 14. idle and absolute timeouts ----------------------------------------------------------


def _shift(row: UserSession, **changes: Any) -> None:
    for name, value in changes.items():
        setattr(row, name, value)
    db.session.commit()


@pytest.mark.parametrize(("idle_minutes", "alive"), [(9, True), (11, False)])
def test_sessions_idle_timeout(app, client, monkeypatch, idle_minutes, alive, configure):
    configure(session_idle=timedelta(minutes=10))
    user = create_user("jean.dupont")
    login(client, "jean.dupont")
    (row,) = _rows(user)
    _shift(row, last_seen_at=utcnow() - timedelta(minutes=idle_minutes))

    assert _is_anonymous(client) is not alive

    (row,) = _rows(user)
    if alive:
        assert row.revoked_at is None
        assert utcnow() - row.last_seen_at < timedelta(minutes=1)  # activity pushes it back
    else:
        assert row.revoked_at is not None and row.revoke_reason == "idle"
        assert "session_token" not in _cookie_session(client)  # the dead token left the cookie
        assert "Se déconnecter" not in client.get("/login").get_data(as_text=True)


def test_sessions_absolute_timeout_even_when_active(app, client, monkeypatch, configure):
    configure(session_absolute=timedelta(hours=2))
    user = create_user("jean.dupont")
    login(client, "jean.dupont")
    (row,) = _rows(user)
    assert row.expires_at - row.created_at == timedelta(hours=2)

    # Two hours and a minute later, after constant activity (last seen just now).
    back = timedelta(hours=2, minutes=1)
    _shift(
        row,
        created_at=row.created_at - back,
        auth_time=row.auth_time - back,
        expires_at=row.expires_at - back,
        last_seen_at=utcnow(),
    )
    assert _is_anonymous(client)
    (row,) = _rows(user)
    assert row.revoked_at is not None and row.revoke_reason == "expired"


def test_sessions_absolute_timeout_not_reached_keeps_the_session(
    app, client, monkeypatch, configure
):
    configure(session_absolute=timedelta(hours=2))
    user = create_user("jean.dupont")
    login(client, "jean.dupont")
    (row,) = _rows(user)
    back = timedelta(hours=1, minutes=59)
    _shift(row, created_at=row.created_at - back, expires_at=row.expires_at - back)
    assert not _is_anonymous(client)
    assert _rows(user)[0].revoked_at is None


# --- 15. logout and revocation -----------------------------------------------------------------


def test_sessions_logout_makes_the_old_cookie_useless(app, client):
    user = create_user("jean.dupont")
    login(client, "jean.dupont")
    old_cookie = _cookie(client)
    token = csrf_token(client, "/account")

    response = client.post("/logout", data={"csrf_token": token})

    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "Vous êtes déconnecté." in client.get("/login").get_data(as_text=True)
    assert _is_anonymous(client)
    replay = _browser_with_cookie(app, old_cookie)
    assert _is_anonymous(replay)
    (row,) = _rows(user)
    assert row.revoked_at is not None and row.revoke_reason == "logout"


def _two_browsers(app: Flask, client: FlaskClient) -> tuple[User, FlaskClient, UserSession]:
    user = create_user("jean.dupont")
    other = app.test_client()
    other.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (Windows NT 10.0) Firefox/130.0"
    login(other, "jean.dupont")
    login(client, "jean.dupont")
    other_row = _rows(user)[0]
    return user, other, other_row


def test_sessions_revoke_from_account_page_ends_the_other_browser(app, client):
    user, other, other_row = _two_browsers(app, client)
    page = client.get("/account").get_data(as_text=True)
    action = f"/account/sessions/{other_row.public_id}/revoke"
    assert action in page and "Firefox sur Windows" in page
    token = csrf_token(client, "/account")

    response = client.post(action, data={"csrf_token": token})

    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert "La session a été fermée." in client.get("/account").get_data(as_text=True)
    assert _is_anonymous(other)
    rows = _rows(user)
    assert rows[0].revoked_at is not None and rows[0].revoke_reason == "revoked_by_user"
    assert rows[1].revoked_at is None and not _is_anonymous(client)
    assert action not in client.get("/account").get_data(as_text=True)


def test_sessions_revoke_own_current_session_logs_out(app, client):
    user, _other, _row = _two_browsers(app, client)
    this_row = _rows(user)[1]
    token = csrf_token(client, "/account")
    response = client.post(
        f"/account/sessions/{this_row.public_id}/revoke", data={"csrf_token": token}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert _is_anonymous(client)
    assert _rows(user)[1].revoked_at is not None


def test_sessions_revoke_others_keeps_only_this_one(app, client):
    user = create_user("jean.dupont")
    others = [app.test_client() for _ in range(2)]
    for other in others:
        login(other, "jean.dupont")
    login(client, "jean.dupont")
    token = csrf_token(client, "/account")

    response = client.post("/account/sessions/revoke-others", data={"csrf_token": token})

    assert response.status_code == 302
    assert "2 autres sessions fermées." in client.get("/account").get_data(as_text=True)
    assert all(_is_anonymous(other) for other in others)
    rows = _rows(user)
    assert [r.revoke_reason for r in rows] == ["revoked_by_user", "revoked_by_user", None]
    assert not _is_anonymous(client)


def _victim_logged_in_beside(app: Flask, client: FlaskClient) -> tuple[User, FlaskClient]:
    """marie.curie logged in in her own browser, jean.dupont in `client`."""
    create_user("jean.dupont")
    victim = create_user("marie.curie")
    victim_browser = app.test_client()
    login(victim_browser, "marie.curie")
    login(client, "jean.dupont")
    return victim, victim_browser


def test_sessions_cannot_revoke_another_users_session(app, client):
    victim, victim_browser = _victim_logged_in_beside(app, client)
    (victim_row,) = _rows(victim)
    token = csrf_token(client, "/account")

    for url in (
        f"/account/sessions/{victim_row.public_id}/revoke",
        f"/account/sessions/{victim_row.public_id}x/revoke",
    ):
        response = client.post(url, data={"csrf_token": token})
        assert response.status_code == 404
        assert "Page introuvable" in response.get_data(as_text=True)

    (victim_row,) = _rows(victim)
    assert victim_row.revoked_at is None
    assert not _is_anonymous(victim_browser)
    assert not _is_anonymous(client)


def test_sessions_revoke_others_leaves_other_users_alone(app, client):
    victim, victim_browser = _victim_logged_in_beside(app, client)
    token = csrf_token(client, "/account")
    client.post("/account/sessions/revoke-others", data={"csrf_token": token})
    assert _rows(victim)[0].revoked_at is None
    assert not _is_anonymous(victim_browser)


# --- the one end-of-session path (idp/accounts/sessions.py) -----------------------------------


def test_sessions_end_sessions_returns_what_it_ended_with_one_audit_row_each(app):
    user = create_user("jean.dupont")
    first, _ = create_session(user)
    second, _ = create_session(user)
    ended = sessions.end_all_sessions(db.session, user, reason=sessions.EndReason.PASSWORD_RESET)
    db.session.commit()
    assert sorted(e.public_id for e in ended) == sorted([first.public_id, second.public_id])
    assert all(e.reason == sessions.EndReason.PASSWORD_RESET for e in ended)
    rows = db.session.query(AuditEvent).filter_by(event_type="session_ended").all()
    assert sorted(r.details["sid"] for r in rows) == sorted(e.public_id for e in ended)
    assert sessions.end_all_sessions(db.session, user, reason=sessions.EndReason.LOGOUT) == []


def test_sessions_idle_session_is_ended_after_the_request_with_its_reason(app, client, configure):
    user = create_user("jean.dupont")
    login(client, "jean.dupont")
    (row,) = _rows(user)
    row.last_seen_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    assert _is_anonymous(client)
    (row,) = _rows(user)
    assert row.revoke_reason == "idle"


def test_sessions_login_racing_a_password_reset_does_not_outlive_it(app, client):
    """A login that verified the old password just before a reset creates its session after
    it: the session is bound to the verified credential, and dies (issue 11, defect 1)."""
    user = create_user("jean.dupont")
    with app.test_request_context():
        verified = services.authenticate(db.session, "jean.dupont", TEST_PASSWORD, ip="1")
        db.session.commit()
        # the reset lands between the verification and the session's creation
        fingerprint = services.reset_fingerprint(user)
        token = services.reset_tokens().dumps({"sub": user.subject, "fp": fingerprint})
        services.reset_password(db.session, token, "une toute nouvelle phrase de passe")
        db.session.commit()
        _, cookie_token = sessions.start_session(
            db.session, verified.user, credential_epoch=verified.credential_epoch
        )
        db.session.commit()
        lookup = sessions.find_session(db.session, cookie_token)
    assert lookup.live is None
    assert lookup.reason == sessions.EndReason.CREDENTIAL_CHANGED
    assert sessions_alive(user) == 0


def sessions_alive(user: User) -> int:
    db.session.expire_all()
    return len(sessions.active_sessions(db.session, user))


def test_sessions_logins_looping_during_a_password_change_keep_no_session(app, client):
    """Over HTTP: a browser logged in with the old password is anonymous after a change made
    elsewhere, even though its session was created before the change committed."""
    user = create_user("jean.dupont")
    attacker = app.test_client()
    assert login(attacker, "jean.dupont").status_code == 302
    assert login(client, "jean.dupont").status_code == 302
    response = change_password(client, TEST_PASSWORD, "une toute nouvelle phrase de passe")
    assert response.status_code == 302
    assert _is_anonymous(attacker)
    assert not _is_anonymous(client)
    assert sessions_alive(user) == 1


def test_sessions_get_logout_asks_for_confirmation(client):
    create_user("jean.dupont")
    login(client, "jean.dupont")
    page = client.get("/logout")
    assert page.status_code == 200
    assert "Voulez-vous fermer votre session" in page.get_data(as_text=True)
    assert not _is_anonymous(client)  # a GET changes nothing


# --- idp/accounts/sessions.py, without HTTP -----------------------------------------------------


def _ago(**delta: float) -> Any:
    return utcnow() - timedelta(**delta)


def test_sessions_start_session_binds_the_credential_and_cuts_the_user_agent(app, configure):
    configure(session_absolute=timedelta(hours=2))
    user = create_user("jean.dupont")
    row, token = sessions.start_session(
        db.session, user, credential_epoch=user.credential_epoch, user_agent="x" * 400
    )
    db.session.commit()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert row.credential_epoch == user.credential_epoch and row.amr == "pwd"
    assert row.expires_at - row.created_at == timedelta(hours=2)
    assert row.user_agent == "x" * 300


def test_sessions_find_session_tells_live_from_ending_without_writing(app, configure):
    configure(session_idle=timedelta(minutes=10))
    user = create_user("jean.dupont")
    live, live_token = create_session(user)
    _, idle_token = create_session(user, last_seen=_ago(minutes=11))
    expired, expired_token = create_session(user)
    expired.expires_at = _ago(seconds=1)
    revoked, revoked_token = create_session(user)
    sessions.end_sessions(db.session, [revoked], reason=sessions.EndReason.LOGOUT)
    db.session.commit()

    assert sessions.find_session(db.session, "") == sessions.Lookup()
    assert sessions.find_session(db.session, "not-a-token") == sessions.Lookup()
    assert sessions.find_session(db.session, revoked_token) == sessions.Lookup()
    assert sessions.find_session(db.session, live_token).live is live
    for token, reason in (
        (idle_token, sessions.EndReason.IDLE),
        (expired_token, sessions.EndReason.EXPIRED),
    ):
        lookup = sessions.find_session(db.session, token)
        assert (lookup.live, lookup.reason) == (None, reason) and lookup.ending is not None
    assert not (db.session.new or db.session.dirty)  # nothing written, nothing to write


def test_sessions_find_session_ends_sessions_of_a_changed_credential_or_account(app):
    user = create_user("jean.dupont")
    _, token = create_session(user)
    user.credential_epoch += 1  # the password changed after this session's login
    db.session.commit()
    assert sessions.find_session(db.session, token).reason == sessions.EndReason.CREDENTIAL_CHANGED
    other = create_user("marie.curie")
    _, other_token = create_session(other)
    other.status = UserStatus.DISABLED.value
    db.session.commit()
    lookup = sessions.find_session(db.session, other_token)
    assert lookup.reason == sessions.EndReason.ACCOUNT_INACTIVE


def test_sessions_end_sessions_skips_the_ones_already_ended(app):
    user = create_user("jean.dupont")
    first, _ = create_session(user)
    second, _ = create_session(user)
    sessions.end_sessions(db.session, [first], reason=sessions.EndReason.LOGOUT)
    ended = sessions.end_sessions(db.session, [first, second], reason=sessions.EndReason.IDLE)
    db.session.commit()
    assert [e.public_id for e in ended] == [second.public_id]
    assert (first.revoke_reason, second.revoke_reason) == ("logout", "idle")
    assert db.session.query(AuditEvent).filter_by(event_type="session_ended").count() == 2


def test_sessions_end_all_sessions_keeps_the_one_making_the_change(app):
    user = create_user("jean.dupont")
    kept, _ = create_session(user)
    others = [create_session(user)[0] for _ in range(2)]
    ended = sessions.end_all_sessions(
        db.session, user, reason=sessions.EndReason.PASSWORD_CHANGED, keep=kept
    )
    db.session.commit()
    assert sorted(e.public_id for e in ended) == sorted(o.public_id for o in others)
    assert kept.revoked_at is None and all(o.revoke_reason == "password_changed" for o in others)


def test_sessions_end_own_session_of_another_user_is_unknown(app):
    jean = create_user("jean.dupont")
    marie = create_user("marie.curie")
    own, _ = create_session(jean)
    hers, _ = create_session(marie)

    assert sessions.end_own_session(db.session, jean, hers.public_id) is None
    assert sessions.end_own_session(db.session, jean, own.public_id + "x") is None
    ended = sessions.end_own_session(db.session, jean, own.public_id)
    db.session.commit()

    assert ended == sessions.EndedSession(
        own.public_id, jean.id, sessions.EndReason.REVOKED_BY_USER
    )
    assert sessions.end_own_session(db.session, jean, own.public_id) is None  # already ended
    assert hers.revoked_at is None and own.revoke_reason == "revoked_by_user"
    events = db.session.query(AuditEvent).filter_by(event_type="session_ended").all()
    assert [e.details["sid"] for e in events] == [own.public_id]


def test_sessions_active_sessions_show_the_current_first_and_hide_dead_ones(app, configure):
    configure(session_idle=timedelta(minutes=10))
    user = create_user("jean.dupont")
    current, _ = create_session(user, last_seen=_ago(minutes=5))
    recent, _ = create_session(user, last_seen=_ago(minutes=1))
    create_session(user, last_seen=_ago(minutes=11))  # idle, not yet noticed
    stale, _ = create_session(user)
    stale.credential_epoch = user.credential_epoch - 1  # from before a password change
    db.session.commit()

    assert sessions.active_sessions(db.session, user) == [recent, current]
    assert sessions.active_sessions(db.session, user, current=current) == [current, recent]
    assert len(sessions.live_sessions_of(db.session, user)) == 4  # idle ones still end later


def test_sessions_rotate_session_token_keeps_the_session_under_a_new_token(app):
    user = create_user("jean.dupont")
    row, old_token = create_session(user)
    new_token = sessions.rotate_session_token(row)
    db.session.commit()
    assert new_token != old_token
    assert sessions.find_session(db.session, new_token).live is row
    assert sessions.find_session(db.session, old_token) == sessions.Lookup()


def test_sessions_last_seen_is_written_at_most_once_a_minute(app):
    user = create_user("jean.dupont")
    row, _ = create_session(user, last_seen=_ago(seconds=30))
    assert not sessions.needs_touch(row)
    assert sessions.needs_touch(row, now=utcnow() + timedelta(seconds=31))
