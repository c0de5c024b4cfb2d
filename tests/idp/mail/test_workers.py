"""Delivery workers on a committed database: concurrent workers never send a message twice,
and `idp mail deliver --loop` rides out SMTP and database outages (SECURITY.md 53)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import Flask
from sqlalchemy import create_engine, select, text

from idp.extensions import db
from idp.mail.cli import run_delivery_loop
from idp.mail.delivery import deliver_pending
from idp.mail.models import OutboxMessage, OutboxStatus
from tests.factories import create_outbox_message
from tests.helpers import Inbox, point_mailer, postgres_admin_url, time_passes


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def stored(app: Flask) -> list[OutboxMessage]:
    with app.app_context():
        messages = list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        db.session.expunge_all()
        return messages


def test_mail_concurrent_workers_send_each_message_once(
    committed_app: Flask, recording_smtp: Inbox
) -> None:
    recording_smtp.delay = 0.02  # slow enough for the workers' batches to overlap
    point_mailer(committed_app, recording_smtp.port)
    count, workers = 30, 3
    with committed_app.app_context():
        for n in range(count):
            create_outbox_message(recipient=f"destinataire{n}@cabinet.example")
    barrier = threading.Barrier(workers)
    sent_by_worker: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        sent = 0
        try:
            with committed_app.app_context():
                barrier.wait()
                while (report := deliver_pending(db.session, batch_size=4)).claimed:
                    sent += report.sent
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)
        sent_by_worker.append(sent)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    ids = sorted(str(m["Message-ID"]) for m in recording_smtp.messages)
    assert len(ids) == count and len(set(ids)) == count  # all sent, none twice
    assert sum(sent_by_worker) == count
    assert sum(1 for sent in sent_by_worker if sent) >= 2  # the workers did run side by side
    messages = stored(committed_app)
    assert {(m.status, m.attempts) for m in messages} == {(OutboxStatus.SENT, 1)}


def _set_connections_allowed(database: str, allowed: bool) -> None:
    admin_url = postgres_admin_url()
    assert admin_url
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(
                text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
            )
            if not allowed:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": database},
                )
    finally:
        engine.dispose()


def test_mail_delivery_loop_survives_smtp_and_database_outages(
    committed_app: Flask, recording_smtp: Inbox
) -> None:
    """SMTP down, then (on PostgreSQL) the database down too: the loop keeps polling, and
    once both are back the message goes out, once. SQLite has no server to take down."""
    with committed_app.app_context():
        create_outbox_message()
    lines: list[str] = []
    stop = threading.Event()
    loop = threading.Thread(
        target=run_delivery_loop,
        args=(committed_app,),
        kwargs={"interval": 0.05, "stop": stop, "echo": lines.append},
    )
    loop.start()
    try:
        wait_for(lambda: stored(committed_app)[0].attempts >= 1)  # SMTP is down
        (waiting,) = stored(committed_app)
        assert waiting.status == OutboxStatus.PENDING
        assert "ConnectionRefusedError" in (waiting.last_error or "")
        assert lines[0] == "0 envoyé(s), 1 en attente d'un nouvel essai, 0 abandonné(s)"

        database = committed_app.config["SQLALCHEMY_DATABASE_URI"].rsplit("/", 1)[-1]
        on_postgres = committed_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
        if on_postgres:
            _set_connections_allowed(database, False)
            wait_for(lambda: any(line.startswith("Échec de la distribution") for line in lines))
            assert loop.is_alive()
            _set_connections_allowed(database, True)

        point_mailer(committed_app, recording_smtp.port)  # SMTP is back
        with committed_app.app_context():
            time_passes()  # and the backoff has elapsed
        wait_for(lambda: stored(committed_app)[0].status == OutboxStatus.SENT)
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()
    assert [m["Message-ID"] for m in recording_smtp.messages] == [waiting.message_id]
    (sent,) = stored(committed_app)
    assert sent.attempts == 2 and sent.last_error is None
    if on_postgres:
        assert "Distribution rétablie." in lines
    assert lines[-1] == "1 envoyé(s), 0 en attente d'un nouvel essai, 0 abandonné(s)"
