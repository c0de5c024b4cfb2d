"""Back-channel logout (docs/security.md 36; Back-Channel Logout 1.0): the logout token's claims,
delivery over real HTTP on loopback, retry with backoff, giving up, a hung or dead site that
never blocks a logout, concurrent workers, and `idp oidc deliver-logouts`."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from sqlalchemy import select, update

from idp.accounts import sessions
from idp.database import utcnow
from idp.extensions import db
from idp.oidc import keys
from idp.oidc.backchannel import (
    LOGOUT_EVENT,
    backoff,
    deliver_pending_logouts,
    logout_token,
    run_logout_delivery_loop,
)
from idp.oidc.models import BackchannelLogout, OAuthClient
from tests.factories import create_session, create_user
from tests.helpers import csrf_token, free_port, login
from tests.idp.oidc.logout_rows import (
    create_oauth_client,
    logout_receiver,
    token_parts,
    use_session_for,
)


def _logouts() -> list[BackchannelLogout]:
    db.session.expire_all()
    return list(db.session.scalars(select(BackchannelLogout).order_by(BackchannelLogout.id)))


def _verified(token: str) -> dict[str, Any]:
    decoded = jwt.decode(token, keys.verification_key_set(), algorithms=["RS256", "ES256"])
    return dict(decoded.claims)


def _end(user_session: Any) -> None:
    sessions.end_sessions(db.session, [user_session], reason=sessions.EndReason.LOGOUT)
    db.session.commit()


def _time_passes() -> None:
    """Every waiting logout becomes due (as if its backoff had elapsed)."""
    db.session.execute(
        update(BackchannelLogout).values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


# --- the logout token ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_backchannel_logout_token_claims_and_no_nonce(app: Flask, alg: str) -> None:
    user = create_user("camille.martin")
    client = create_oauth_client(backchannel_logout_uri="https://rp.example/bc", id_token_alg=alg)
    before = int(time.time())

    token = logout_token(client, "the-sid", user.subject)

    header, _, _ = token_parts(token)
    assert header["typ"] == "logout+jwt" and header["alg"] == alg
    assert header["kid"] == keys.current_signing_key(alg).kid
    claims = _verified(token)
    assert claims["iss"] == "http://idp.test"
    assert claims["aud"] == client.client_id
    assert claims["sub"] == user.subject and claims["sid"] == "the-sid"
    assert claims["events"] == {LOGOUT_EVENT: {}}
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 120
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert "nonce" not in claims
    assert logout_token(client, "the-sid", user.subject) != token  # a new jti each time
    assert _verified(logout_token(client, "the-sid", user.subject))["jti"] != claims["jti"]


# --- delivery over HTTP -------------------------------------------------------------------------


def test_backchannel_delivers_to_every_client_of_the_ended_session(app: Flask) -> None:
    user = create_user("camille.martin")
    user_session, _ = create_session(user)
    other_session, _ = create_session(user)
    with logout_receiver() as (site_a, uri_a), logout_receiver(status=204) as (site_b, uri_b):
        client_a = create_oauth_client(backchannel_logout_uri=uri_a)
        client_b = create_oauth_client(backchannel_logout_uri=uri_b, id_token_alg="ES256")
        without_uri = create_oauth_client()
        use_session_for(user_session, client_a, client_b, without_uri)
        use_session_for(other_session, client_a)
        _end(user_session)

        report = deliver_pending_logouts(db.session)

        assert (report.claimed, report.delivered, report.failed) == (2, 2, 0)
        for site, client in ((site_a, client_a), (site_b, client_b)):
            (received,) = site.received
            assert received["method"] == "POST" and received["path"] == "/backchannel-logout"
            assert received["content_type"].startswith("application/x-www-form-urlencoded")
            assert list(received["form"]) == ["logout_token"]
            claims = _verified(site.tokens()[0])
            assert claims["aud"] == client.client_id
            assert claims["sid"] == user_session.public_id and claims["sub"] == user.subject
            assert "nonce" not in claims
    rows = _logouts()
    assert [(r.client_id, r.attempts) for r in rows] == [(client_a.id, 1), (client_b.id, 1)]
    assert all(r.delivered_at is not None and r.last_error is None for r in rows)
    assert deliver_pending_logouts(db.session).claimed == 0  # delivered once, not again


def test_backchannel_dead_site_is_retried_with_backoff_then_given_up(
    app: Flask, configure: Any
) -> None:
    configure(oidc__backchannel_max_attempts=3)
    user = create_user("camille.martin")
    user_session, _ = create_session(user)
    dead = create_oauth_client(backchannel_logout_uri=f"http://127.0.0.1:{free_port()}/bc")
    use_session_for(user_session, dead)
    _end(user_session)

    first = deliver_pending_logouts(db.session)

    assert (first.delivered, first.failed, first.gave_up) == (0, 1, 0)
    (row,) = _logouts()
    assert row.attempts == 1 and row.delivered_at is None and row.given_up_at is None
    assert "Connection refused" in (row.last_error or "")
    assert row.next_attempt_at > utcnow() + backoff(1) - timedelta(seconds=5)
    assert deliver_pending_logouts(db.session).claimed == 0  # not due before its backoff

    _time_passes()
    assert deliver_pending_logouts(db.session).failed == 1
    _time_passes()
    last = deliver_pending_logouts(db.session)
    assert (last.failed, last.gave_up) == (0, 1)
    (row,) = _logouts()
    assert row.attempts == 3 and row.given_up_at is not None and row.delivered_at is None
    _time_passes()
    assert deliver_pending_logouts(db.session).claimed == 0  # given up for good


def test_backchannel_backoff_grows_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert backoff(30) == timedelta(hours=1)


@pytest.mark.parametrize("status", [400, 500, 302])
def test_backchannel_refusal_or_redirect_is_a_failure(app: Flask, status: int) -> None:
    user = create_user("camille.martin")
    user_session, _ = create_session(user)
    with logout_receiver(status=status) as (site, uri):
        client = create_oauth_client(backchannel_logout_uri=uri)
        use_session_for(user_session, client)
        _end(user_session)
        report = deliver_pending_logouts(db.session)
        assert len(site.received) == 1  # a redirect is not followed
    assert report.failed == 1
    (row,) = _logouts()
    assert row.delivered_at is None and f"HTTP {status}" in (row.last_error or "")


def test_backchannel_hung_site_times_out_without_delaying_the_others(
    app: Flask, configure: Any
) -> None:
    configure(oidc__backchannel_timeout=1)
    user = create_user("camille.martin")
    user_session, _ = create_session(user)
    with (
        logout_receiver(delay=4) as (_, hung_uri),
        logout_receiver() as (good, good_uri),
    ):
        hung_clients = [create_oauth_client(backchannel_logout_uri=hung_uri) for _ in range(4)]
        good_client = create_oauth_client(backchannel_logout_uri=good_uri)
        use_session_for(user_session, *hung_clients, good_client)
        _end(user_session)

        started = time.monotonic()
        report = deliver_pending_logouts(db.session)
        elapsed = time.monotonic() - started

        assert len(good.received) == 1
    assert (report.delivered, report.failed) == (1, 4)
    assert elapsed < 3.0  # the four hung posts ran side by side, each cut at 1 s
    rows = {r.client_id: r for r in _logouts()}
    assert rows[good_client.id].delivered_at is not None
    assert all("timed out" in (rows[c.id].last_error or "") for c in hung_clients)


def test_backchannel_client_disabled_after_queueing_is_given_up(app: Flask) -> None:
    user = create_user("camille.martin")
    user_session, _ = create_session(user)
    client = create_oauth_client(backchannel_logout_uri="http://127.0.0.1:9/bc")
    use_session_for(user_session, client)
    _end(user_session)
    row = db.session.get(OAuthClient, client.id)
    assert row is not None
    row.disabled_at = utcnow()
    db.session.commit()

    report = deliver_pending_logouts(db.session)

    assert report.gave_up == 1
    (logout,) = _logouts()
    assert logout.given_up_at is not None and logout.attempts == 0


def test_backchannel_stopping_worker_hands_its_batch_back(app: Flask) -> None:
    user = create_user("camille.martin")
    user_session, _ = create_session(user)
    with logout_receiver() as (site, uri):
        use_session_for(user_session, create_oauth_client(backchannel_logout_uri=uri))
        _end(user_session)
        report = deliver_pending_logouts(db.session, should_stop=lambda: True)
        assert (report.claimed, site.received) == (1, [])
        (row,) = _logouts()
        assert row.next_attempt_at <= utcnow() and row.attempts == 0  # due again at once
        assert deliver_pending_logouts(db.session).delivered == 1


# --- workers on a committed database ------------------------------------------------------------


def test_backchannel_concurrent_workers_deliver_each_logout_once(committed_app: Flask) -> None:
    count, workers = 24, 3
    with logout_receiver(delay=0.02) as (site, uri), committed_app.app_context():
        user = create_user("camille.martin")
        clients = [create_oauth_client(backchannel_logout_uri=uri) for _ in range(count)]
        client_ids = sorted(c.client_id for c in clients)
        user_session, _ = create_session(user)
        use_session_for(user_session, *clients)
        _end(user_session)
        db.session.remove()
        barrier = threading.Barrier(workers)
        delivered: list[int] = []
        errors: list[BaseException] = []

        def work() -> None:
            total = 0
            try:
                with committed_app.app_context():
                    barrier.wait()
                    while (report := deliver_pending_logouts(db.session, batch_size=3)).claimed:
                        total += report.delivered
                    db.session.remove()
            except BaseException as exc:
                errors.append(exc)
            delivered.append(total)

        threads = [threading.Thread(target=work) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert errors == []
        audiences = sorted(_verified(t)["aud"] for t in site.tokens())
        assert audiences == client_ids  # each once, none twice
        assert sum(delivered) == count
        assert sum(1 for n in delivered if n) >= 2  # the workers did overlap
        rows = _logouts()
        assert {(r.attempts, r.delivered_at is not None) for r in rows} == {(1, True)}
        db.session.remove()


def test_backchannel_logout_returns_at_once_while_the_site_hangs(
    committed_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The person's logout does not wait for the partner site: with the worker running and
    the site hung, /logout answers in well under a second; the worker then times out on
    the site and schedules a retry."""
    from idp.config import SETTINGS_EXTENSION

    current = committed_app.extensions[SETTINGS_EXTENSION]
    oidc = dataclasses.replace(current.oidc, backchannel_timeout=1)
    monkeypatch.setitem(committed_app.extensions, SETTINGS_EXTENSION, current.replace(oidc=oidc))
    with logout_receiver(delay=5) as (hung, uri):
        with committed_app.app_context():
            create_user("camille.martin")
            client_pk = create_oauth_client(backchannel_logout_uri=uri).id
            db.session.remove()
        browser = committed_app.test_client()
        assert login(browser, "camille.martin").status_code == 302
        with committed_app.app_context():
            from idp.accounts.models import UserSession

            user_session = db.session.scalar(
                select(UserSession).where(UserSession.revoked_at.is_(None))
            )
            assert user_session is not None
            client = db.session.get(OAuthClient, client_pk)
            assert client is not None
            use_session_for(user_session, client)
            db.session.remove()

        stop = threading.Event()
        lines: list[str] = []
        worker = threading.Thread(
            target=run_logout_delivery_loop,
            args=(committed_app,),
            kwargs={"interval": 0.05, "stop": stop, "echo": lines.append},
        )
        worker.start()
        try:
            token = csrf_token(browser, "/logout")
            started = time.monotonic()
            response = browser.post("/logout", data={"csrf_token": token})
            elapsed = time.monotonic() - started
            assert response.status_code == 302
            assert elapsed < 1.0
            wait_for(lambda: len(hung.received) == 1)  # the worker is now stuck on the site
            with committed_app.app_context():
                wait_for(lambda: _logouts()[0].attempts == 1)
                (row,) = _logouts()
                assert row.delivered_at is None and "timed out" in (row.last_error or "")
                assert row.next_attempt_at > utcnow()
                db.session.remove()
        finally:
            stop.set()
            worker.join(timeout=15)
        assert not worker.is_alive()
        assert any("en attente d'un nouvel essai" in line for line in lines)


# --- the command line ---------------------------------------------------------------------------


def test_backchannel_cli_deliver_logouts_once_exit_code_follows_outcome(app: Flask) -> None:
    runner = app.test_cli_runner()
    user = create_user("camille.martin")
    user_session, _ = create_session(user)
    dead_uri = f"http://127.0.0.1:{free_port()}/bc"
    client = create_oauth_client(backchannel_logout_uri=dead_uri)
    use_session_for(user_session, client)
    _end(user_session)

    down = runner.invoke(args=["oidc", "deliver-logouts"])

    assert down.exit_code == 1, down.output
    assert down.stdout == (
        "0 déconnexion(s) transmise(s), 1 en attente d'un nouvel essai, 0 abandonnée(s)\n"
    )
    with logout_receiver() as (site, uri):
        row = db.session.get(OAuthClient, client.id)
        assert row is not None
        row.backchannel_logout_uri = uri
        db.session.commit()
        _time_passes()
        up = runner.invoke(args=["oidc", "deliver-logouts"])
        assert up.exit_code == 0, up.output
        assert up.stdout.startswith("1 déconnexion(s) transmise(s)")
        assert len(site.received) == 1
