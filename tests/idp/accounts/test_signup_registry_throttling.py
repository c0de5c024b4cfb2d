"""Registry signup cannot be used to guess birth dates or to scrape the registry
(docs/security.md 10): failures per entry and per IP lock the entry (the registry email is
warned once, through the outbox), concurrent guesses stop at the limit, the lock is shared
through Redis, and the name search is rate limited."""

from __future__ import annotations

import html
import os
import re
import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp import create_app
from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.mail.models import OutboxMessage
from idp.profiles import services
from idp.profiles.errors import BirthDateMismatch, MatchLocked
from idp.registry.models import RegistryEntry
from tests.factories import create_registry_entry
from tests.helpers import (
    base_config,
    registry_birth_date,
    registry_choose,
    registry_signup,
    service_missing,
)

FLOW = "expert-comptable"


def _events(kind: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == kind)))


def _guess(client: FlaskClient, birth_date: str) -> tuple[int, str]:
    response = registry_birth_date(client, FLOW, birth_date)
    return response.status_code, html.unescape(response.get_data(as_text=True))


def test_signup_registry_birth_date_locked_after_five_failures(
    client: FlaskClient, configure
) -> None:
    configure(throttles__registry_match_failures_per_entry="5 per hour")
    entry = create_registry_entry()
    registry_choose(client, FLOW, query="lefevre")
    for day in range(1, 6):
        status, page = _guess(client, f"{day:02d}/01/1970")
        assert status == 200 and "pas de lien entre votre nom" in page
    status, page = _guess(client, "12/04/1975")  # the right date, too late
    assert status == 429
    assert re.search(r"bloquée pendant \d+ minutes?\.", page) and "Paris Île-de-France" in page
    assert len(_events("registry_match_failed")) == 5
    locked = _events("registry_match_locked")
    assert len(locked) == 1 and locked[0].details == {
        "registration_number": entry.registration_number
    }
    warning = db.session.scalars(select(OutboxMessage)).one()
    assert warning.template == "registry_match_locked" and warning.recipient == entry.email
    assert "bloquée pendant 60 minutes" in warning.body_text
    assert "LEFÈVRE Jean-François" in warning.body_text
    assert "contact@oec-paris.fr" in warning.body_text
    assert "1975" not in warning.body_text  # the birth date never leaves
    # another person (another IP) is locked out of this entry too
    other = client.application.test_client()
    registry_choose(other, FLOW, query="lefevre")
    response = other.post(
        f"/signup/{FLOW}/birth-date",
        data={"birth_date": "12/04/1975", "csrf_token": _token(other)},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert response.status_code == 429
    assert len(db.session.scalars(select(OutboxMessage)).all()) == 1  # warned once


def _token(client: FlaskClient) -> str:
    from tests.helpers import csrf_token

    return csrf_token(client, "/signup")


def test_signup_registry_right_birth_date_does_not_count(client: FlaskClient, configure) -> None:
    configure(throttles__registry_match_failures_per_entry="2 per hour")
    create_registry_entry()
    for _ in range(4):
        registry_choose(client, FLOW, query="lefevre")
        assert registry_birth_date(client, FLOW, "12/04/1975").status_code == 302
    assert _events("registry_match_failed") == []


def test_signup_registry_birth_date_failures_limited_per_ip(client: FlaskClient, configure) -> None:
    """Scraping across entries: one address guessing several entries is stopped too."""
    configure(throttles__registry_match_failures_per_ip="3 per hour")
    for n in range(4):
        create_registry_entry("Durand", f"Luc{n}", email=f"luc{n}@x.example")
    statuses = []
    for n in range(4):
        registry_choose(client, FLOW, query=f"durand luc{n}")
        statuses.append(registry_birth_date(client, FLOW, "01/01/1970").status_code)
    assert statuses == [200, 200, 200, 429]
    assert len(_events("registry_match_failed")) == 3
    assert _events("registry_match_locked") == []  # no entry reached its own limit


def test_signup_registry_lock_email_escapes_hostile_names(client: FlaskClient, configure) -> None:
    """docs/security.md 18: names come from council files."""
    configure(throttles__registry_match_failures_per_entry="1 per hour")
    create_registry_entry("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
    registry_choose(client, FLOW, query="script")
    registry_birth_date(client, FLOW, "01/01/1970")
    message = db.session.scalars(select(OutboxMessage)).one()
    assert "<script>" not in message.body_html and "<img src=x" not in message.body_html
    assert "&lt;SCRIPT&gt;ALERT(1)&lt;/SCRIPT&gt;" in message.body_html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in message.body_html


def test_signup_registry_lock_without_email_on_file_warns_nobody(
    client: FlaskClient, configure
) -> None:
    configure(throttles__registry_match_failures_per_entry="1 per hour")
    create_registry_entry(email=None)
    registry_signup(client, birth_date="01/01/1970")
    assert len(_events("registry_match_locked")) == 1
    assert db.session.scalars(select(OutboxMessage)).all() == []


def test_signup_registry_concurrent_wrong_guesses_stop_at_the_limit(committed_app: Flask):
    """Twelve wrong guesses at once against a limit of five: five compared, seven refused
    without comparing, one lock, one warning (the slot is taken before the comparison)."""
    committed_app.extensions["sesame.settings"] = committed_app.extensions[
        "sesame.settings"
    ].replace(
        throttles=committed_app.extensions["sesame.settings"].throttles.__class__(
            registry_match_failures_per_entry="5 per hour",
            registry_match_failures_per_ip="1000 per hour",
        )
    )
    with committed_app.app_context():
        entry_id = create_registry_entry().id
        db.session.remove()
    count = 12
    barrier = threading.Barrier(count)
    outcomes: list[str] = []

    def guess(n: int) -> None:
        with committed_app.test_request_context(environ_base={"REMOTE_ADDR": f"192.0.2.{n}"}):
            entry = db.session.get(RegistryEntry, entry_id)
            assert entry is not None
            barrier.wait()
            try:
                services.verify_birth_date(
                    db.session, entry, FLOW, entry.birth_date.replace(year=1900), ip=f"ip{n}"
                )
                outcomes.append("matched")
            except BirthDateMismatch:
                outcomes.append("mismatch")
            except MatchLocked:
                outcomes.append("locked")
            finally:
                db.session.commit()
                db.session.remove()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes.count("mismatch") == 5 and outcomes.count("locked") == 7
    with committed_app.app_context():
        kinds = [e.event_type for e in db.session.scalars(select(AuditEvent))]
        assert kinds.count("registry_match_failed") == 5
        assert kinds.count("registry_match_locked") == 1
        assert len(db.session.scalars(select(OutboxMessage)).all()) == 1
        db.session.remove()


@pytest.mark.redis
def test_signup_registry_lock_is_shared_between_processes_through_redis(
    app: Flask, database_url: str, configure
) -> None:
    """Two app instances (two gunicorn workers) share the entry's failure count."""
    if not os.environ.get("REDIS_URL"):
        service_missing("REDIS_URL not set: Redis-shared throttling not tested")
    create_registry_entry()
    other = create_app(base_config(database_url))
    other.extensions["sesame.settings"] = app.extensions["sesame.settings"]
    first, second = app.test_client(), other.test_client()
    for client in (first, second):
        registry_choose(client, FLOW, query="lefevre")
    for client in (first, second, first, second, first):
        assert registry_birth_date(client, FLOW, "01/01/1970").status_code == 200
    with other.app_context():
        assert registry_birth_date(second, FLOW, "12/04/1975").status_code == 429


def test_signup_registry_search_is_rate_limited(client: FlaskClient, configure) -> None:
    configure(throttles__registry_searches_per_ip="3 per minute")
    create_registry_entry()
    for _ in range(3):
        assert client.get("/signup/registry/search?q=lefe").status_code == 200
    refused = client.get("/signup/registry/search?q=lefe")
    assert refused.status_code == 429
    assert refused.get_json()["results"] == []
    assert "Trop de tentatives" in refused.get_json()["error"]
    page = client.get(f"/signup/{FLOW}/name", query_string={"q": "lefevre"})
    assert page.status_code == 429 and "Trop de tentatives" in html.unescape(
        page.get_data(as_text=True)
    )
    # fewer than 3 letters costs nothing and finds nothing
    assert client.get("/signup/registry/search?q=le").status_code == 200


def test_signup_registry_number_lookups_are_rate_limited(client: FlaskClient, configure) -> None:
    configure(throttles__registry_searches_per_ip="2 per minute")
    statuses = [registry_choose(client, FLOW, number=f"X{n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]
