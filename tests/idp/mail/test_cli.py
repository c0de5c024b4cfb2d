"""`idp mail deliver | list | retry`: exit codes and one-line summaries for operators and cron."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from idp import create_app
from idp.database import utcnow
from idp.extensions import db
from idp.mail.models import OutboxMessage, OutboxStatus
from tests.factories import create_outbox_message
from tests.helpers import Inbox, base_config, free_port, outbox, point_mailer, time_passes


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
