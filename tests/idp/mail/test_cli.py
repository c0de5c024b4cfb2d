"""idp/mail/cli.py, `idp mail deliver | list | retry`: exit codes and one-line summaries for
operators and cron; `idp mail deliver --loop` rides out SMTP and database outages
(SECURITY.md 53)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from sqlalchemy import create_engine, select, text

from idp import create_app
from idp.database import utcnow
from idp.extensions import db
from idp.mail.cli import run_delivery_loop
from idp.mail.models import OutboxMessage, OutboxStatus
from tests.factories import create_outbox_message
from tests.helpers import (
    Inbox,
    base_config,
    free_port,
    outbox,
    point_mailer,
    postgres_admin_url,
    time_passes,
)


def test_mail_cli_deliver_once_exit_code_follows_outcome(app: Flask, smtp: Inbox) -> None:
    runner = app.test_cli_runner()
    create_outbox_message(recipient="destinataire1@cabinet.example")
    point_mailer(app, free_port())  # SMTP down

    down = runner.invoke(args=["mail", "deliver"])

    assert down.exit_code == 1, down.output
    assert down.stdout == "0 envoyé(s), 1 en attente d'un nouvel essai, 0 abandonné(s)\n"
    (message,) = outbox()
    assert message.status == OutboxStatus.PENDING and message.attempts == 1
    listing = runner.invoke(args=["mail", "list"])
    assert listing.exit_code == 0
    (line,) = listing.stdout.splitlines()
    fields = line.split("\t")
    assert fields[:3] == [str(message.id), "pending", "1"]
    assert fields[4] == "destinataire1@cabinet.example" and "ConnectionRefusedError" in fields[6]

    point_mailer(app, smtp.port)
    time_passes()
    up = runner.invoke(args=["mail", "deliver"])
    assert up.exit_code == 0, up.output
    assert up.stdout == "1 envoyé(s), 0 en attente d'un nouvel essai, 0 abandonné(s)\n"
    assert len(smtp.envelopes) == 1 and outbox()[0].status == OutboxStatus.SENT
    again = runner.invoke(args=["mail", "deliver"])
    assert again.exit_code == 0 and again.stdout.startswith("0 envoyé(s)")
    assert len(smtp.envelopes) == 1
    assert runner.invoke(args=["mail", "list"]).stdout == ""  # nothing pending or failed


def test_mail_cli_retry_requeues_failed_messages_only(app: Flask, smtp: Inbox) -> None:
    runner = app.test_cli_runner()
    failed = create_outbox_message(status=OutboxStatus.FAILED, attempts=12, last_error="timeout")
    pending = create_outbox_message(due_in=timedelta(days=365 * 75))
    failed_id, pending_id = failed.id, pending.id

    assert runner.invoke(args=["mail", "retry"]).exit_code == 2  # nothing named
    not_failed = runner.invoke(args=["mail", "retry", str(pending_id)])
    assert not_failed.exit_code == 1 and f"pas en échec : {pending_id}" in not_failed.output
    listing = runner.invoke(args=["mail", "list", "--status", "failed"])
    assert [line.split("\t")[0] for line in listing.stdout.splitlines()] == [str(failed_id)]

    result = runner.invoke(args=["mail", "retry", "--all-failed"])

    assert result.exit_code == 0 and result.stdout == "1 message(s) remis en file d'attente.\n"
    db.session.expire_all()
    requeued = db.session.get(OutboxMessage, failed_id)
    assert requeued is not None
    assert (requeued.status, requeued.attempts) == (OutboxStatus.PENDING, 0)
    assert requeued.next_attempt_at <= utcnow()
    assert runner.invoke(args=["mail", "deliver"]).exit_code == 0
    assert [m["Message-ID"] for m in smtp.messages] == [requeued.message_id]
    statuses = dict(db.session.execute(select(OutboxMessage.id, OutboxMessage.status)).all())
    assert statuses == {failed_id: "sent", pending_id: "pending"}


def test_mail_cli_deliver_database_down_exits_1_with_one_line() -> None:
    unreachable = create_app(
        base_config(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    )

    with unreachable.app_context():  # else the suite's app context would be used
        result = unreachable.test_cli_runner().invoke(args=["mail", "deliver"])

    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("Error: Échec de la distribution :") and "Connection refused" in line
    assert "Traceback" not in result.output


# --- deliver --loop ------------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


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
        wait_for(lambda: outbox(committed_app)[0].attempts >= 1)  # SMTP is down
        (waiting,) = outbox(committed_app)
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
        wait_for(lambda: outbox(committed_app)[0].status == OutboxStatus.SENT)
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()
    assert [m["Message-ID"] for m in recording_smtp.messages] == [waiting.message_id]
    (sent,) = outbox(committed_app)
    assert sent.attempts == 2 and sent.last_error is None
    if on_postgres:
        assert "Distribution rétablie." in lines
    assert lines[-1] == "1 envoyé(s), 0 en attente d'un nouvel essai, 0 abandonné(s)"
