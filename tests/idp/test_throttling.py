"""idp/throttling.py: a slot is taken atomically before the guarded work (issue 11, defect 4),
on the memory storage and, with REDIS_URL, on Redis shared by every process."""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from idp import throttling
from idp.audit.models import AuditEvent
from idp.extensions import db
from tests.factories import create_user
from tests.helpers import build_app, login


def _concurrent(app: Flask, count: int, action: object) -> list[str]:
    barrier = threading.Barrier(count)
    outcomes: list[str] = []

    def run() -> None:
        with app.test_request_context():
            barrier.wait()
            try:
                action()  # type: ignore[operator]
                outcomes.append("taken")
            except throttling.TooManyAttempts:
                outcomes.append("refused")

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_throttle_sixteen_concurrent_attempts_get_exactly_the_limit(app, configure):
    configure(throttles__login_failures_per_account="5 per 15 minutes")
    outcomes = _concurrent(
        app, 16, lambda: throttling.login_failures_per_account.acquire("jean.dupont")
    )
    assert outcomes.count("taken") == 5 and outcomes.count("refused") == 11


def test_throttle_refund_gives_the_slot_back(app, configure):
    configure(throttles__login_failures_per_account="2 per 15 minutes")
    with app.test_request_context():
        for _ in range(5):
            throttling.login_failures_per_account.acquire("jean.dupont").refund()
        throttling.login_failures_per_account.acquire("jean.dupont")
        throttling.login_failures_per_account.acquire("jean.dupont")
        assert throttling.login_failures_per_account.is_exhausted("jean.dupont")
        with pytest.raises(throttling.TooManyAttempts) as caught:
            throttling.login_failures_per_account.acquire("jean.dupont")
        assert 1 <= caught.value.retry_after <= 15 * 60


def test_throttle_concurrent_wrong_passwords_over_http_stop_at_the_limit(own_database_url):
    """16 browsers guessing at once against a limit of 5: 5 verifications, 11 refusals, each
    refusal audited as a throttled login (threads need an app whose commits are real)."""
    app = build_app(own_database_url, schema=True, LOGIN_FAILURES_PER_ACCOUNT="5 per 15 minutes")
    with app.app_context():
        create_user("jean.dupont")
        db.session.remove()
    statuses: list[int] = []
    barrier = threading.Barrier(16)

    def guess() -> None:
        client = app.test_client()
        client.get("/login")
        barrier.wait()
        statuses.append(login(client, "jean.dupont", "pas le bon mot de passe").status_code)

    threads = [threading.Thread(target=guess) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(429) == 11 and statuses.count(200) == 5
    with app.app_context():
        events = db.session.query(AuditEvent)
        assert events.filter_by(event_type="login_failed").count() == 5
        assert events.filter_by(event_type="login_throttled").count() == 11
        db.session.remove()
        db.engine.dispose()


def test_throttle_locked_account_message_says_a_reset_unlocks_it(client, configure):
    configure(throttles__login_failures_per_account="1 per 15 minutes")
    create_user("jean.dupont")
    login(client, "jean.dupont", "mauvais")
    response = login(client, "jean.dupont", "mauvais")
    assert response.status_code == 429
    assert "Mot de passe oublié" in response.get_data(as_text=True)


def test_throttle_flask_limiter_runs_no_per_request_hook(app: Flask, client) -> None:
    """Flask-Limiter is kept for its storage only: its before/after request hooks, which check
    limits no route declares, are dropped (bench/README.md: a quarter of a JWKS request)."""
    from idp.extensions import limiter

    def owned(hook: object) -> bool:
        return getattr(hook, "__self__", None) is limiter or limiter in getattr(hook, "args", ())

    assert not any(owned(h) for h in app.before_request_funcs.get(None, []))
    assert not any(owned(h) for h in app.after_request_funcs.get(None, []))
    assert limiter.storage.incr("hook-test", 60) == 1  # the storage itself still works
    assert client.get("/jwks").status_code == 200
