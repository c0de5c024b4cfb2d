"""idp/mail/delivery.py, SECURITY.md 53: delivery sends each outbox message over SMTP once (one
connection per batch, even with concurrent workers), retries with backoff while SMTP is down,
and gives up (keeping the message) at the end or at a permanent refusal."""

from __future__ import annotations

import threading

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.accounts.models import User, UserStatus
from idp.database import utcnow
from idp.extensions import db
from idp.mail.delivery import backoff, deliver_pending
from idp.mail.models import OutboxMessage, OutboxStatus
from tests.factories import create_outbox_message
from tests.helpers import Inbox, outbox, point_mailer, time_passes
from tests.helpers import signup as fill_signup


def signup(client: FlaskClient, username: str = "marie.curie", **fields: str) -> int:
    return int(fill_signup(client, username=username, **fields).status_code)


def numbered_messages(*numbers: int) -> list[OutboxMessage]:
    """Due outbox rows, one for `destinataire<n>@cabinet.example` per number."""
    return [create_outbox_message(recipient=f"destinataire{n}@cabinet.example") for n in numbers]


def test_mail_deliver_sends_multipart_french_message(client: FlaskClient, smtp: Inbox) -> None:
    assert signup(client) == 302
    (stored,) = outbox()
    assert stored.status == OutboxStatus.PENDING and stored.attempts == 0

    report = deliver_pending(db.session)

    assert (report.sent, report.failed, report.gave_up) == (1, 0, 0)
    (envelope,) = smtp.envelopes
    assert envelope.rcpt_tos == ["marie@cabinet.example"]
    (message,) = smtp.messages
    assert message.get_content_type() == "multipart/mixed"
    assert message["Subject"] == "Activez votre compte Sésame"
    assert message["From"] == "Sésame <no-reply@idp.test>"
    assert message["To"] == "marie@cabinet.example"
    assert message["Message-ID"] == stored.message_id
    assert stored.message_id.endswith("@idp.test>")
    assert message["Auto-Submitted"] == "auto-generated"
    text = smtp.text_of(message)
    assert "Bonjour Marie," in text and "http://idp.test/activate/" in text
    html_part = message.get_body(("html",))
    assert html_part is not None
    html = str(html_part.get_content())
    assert '<html lang="fr">' in html and "Activer mon compte" in html
    assert smtp.links("marie@cabinet.example")[0] in html
    (sent,) = outbox()
    assert sent.status == OutboxStatus.SENT and sent.attempts == 1
    assert sent.body_text == sent.body_html == ""  # no live activation link left at rest
    assert sent.sent_at is not None and sent.last_error is None
    # Nothing is sent twice.
    assert deliver_pending(db.session).claimed == 0
    assert len(smtp.envelopes) == 1


def test_mail_smtp_outage_loses_nothing(
    app: Flask, client: FlaskClient, smtp: Inbox, smtp_down: int
) -> None:
    assert signup(client) == 302
    user = db.session.scalars(select(User)).one()
    assert user.status == UserStatus.PENDING  # the account exists although SMTP is down

    report = deliver_pending(db.session)

    assert (report.sent, report.failed, report.gave_up) == (0, 1, 0)
    (waiting,) = outbox()
    assert waiting.status == OutboxStatus.PENDING and waiting.attempts == 1
    assert waiting.next_attempt_at > utcnow()
    assert waiting.last_error is not None and "ConnectionRefusedError" in waiting.last_error
    # Not due yet: another run leaves it alone.
    assert deliver_pending(db.session).claimed == 0
    assert outbox()[0].attempts == 1

    point_mailer(app, smtp.port)  # SMTP is back...
    time_passes()  # ...and the backoff has elapsed
    assert deliver_pending(db.session).sent == 1
    assert [m["Message-ID"] for m in smtp.messages] == [waiting.message_id]
    (sent,) = outbox()
    assert sent.status == OutboxStatus.SENT and sent.attempts == 2 and sent.last_error is None
    time_passes()
    assert deliver_pending(db.session).claimed == 0
    assert len(smtp.envelopes) == 1


def test_mail_gives_up_after_max_attempts_and_keeps_message(
    app: Flask, smtp_down: int, monkeypatch, configure
) -> None:
    configure(mail__max_attempts=3)
    create_outbox_message()
    for attempt in (1, 2):
        assert deliver_pending(db.session).failed == 1
        (message,) = outbox()
        assert message.attempts == attempt and message.status == OutboxStatus.PENDING
        time_passes()

    report = deliver_pending(db.session)

    assert (report.failed, report.gave_up) == (0, 1)
    (message,) = outbox()
    assert message.status == OutboxStatus.FAILED and message.attempts == 3
    assert message.sent_at is None and "ConnectionRefusedError" in (message.last_error or "")
    time_passes()
    assert deliver_pending(db.session).claimed == 0
    assert outbox()[0].attempts == 3


def test_mail_backoff_doubles_from_30_seconds_up_to_one_hour() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(8).total_seconds() == 3600 and backoff(50).total_seconds() == 3600


def test_mail_one_smtp_connection_per_batch(app: Flask, recording_smtp: Inbox) -> None:
    old = app.config["MAIL_PORT"]
    point_mailer(app, recording_smtp.port)
    try:
        numbered_messages(*range(4))
        assert deliver_pending(db.session).sent == 4
    finally:
        point_mailer(app, old)
    assert len(recording_smtp.envelopes) == 4
    assert len(recording_smtp.connections) == 1
    assert {m["To"] for m in recording_smtp.messages} == {
        f"destinataire{n}@cabinet.example" for n in range(4)
    }
    assert {m.status for m in outbox()} == {OutboxStatus.SENT}


def test_mail_permanent_refusal_gives_up_at_once_others_still_sent(
    app: Flask, recording_smtp: Inbox
) -> None:
    old = app.config["MAIL_PORT"]
    point_mailer(app, recording_smtp.port)
    try:
        numbered_messages(1)
        create_outbox_message(recipient="refused@cabinet.example")
        numbered_messages(3)
        report = deliver_pending(db.session)
    finally:
        point_mailer(app, old)
    assert (report.sent, report.failed, report.gave_up) == (2, 0, 1)
    by_recipient = {m.recipient: m for m in outbox()}
    refused = by_recipient["refused@cabinet.example"]
    assert refused.status == OutboxStatus.FAILED and refused.attempts == 1
    assert "550" in (refused.last_error or "")
    assert [m["To"] for m in recording_smtp.messages] == [
        "destinataire1@cabinet.example",
        "destinataire3@cabinet.example",
    ]
    assert len(recording_smtp.connections) == 1  # the refusal did not cost a reconnection


def test_mail_stop_request_hands_back_untried_messages(app: Flask, recording_smtp: Inbox) -> None:
    old = app.config["MAIL_PORT"]
    point_mailer(app, recording_smtp.port)
    asked: list[bool] = []

    def stop_after_first_message() -> bool:
        asked.append(True)
        return len(asked) > 1

    try:
        numbered_messages(*range(3))
        report = deliver_pending(db.session, should_stop=stop_after_first_message)
    finally:
        point_mailer(app, old)
    assert (report.claimed, report.sent) == (3, 1)
    messages = outbox()
    assert sorted(m.status for m in messages) == ["pending", "pending", "sent"]
    # The two untried messages are due at once for the next worker, not leased for minutes.
    assert all(m.next_attempt_at <= utcnow() for m in messages if m.status == "pending")
    assert all(m.attempts == 0 for m in messages if m.status == "pending")
    assert len(recording_smtp.envelopes) == 1


# --- workers on a committed database ----------------------------------------------------------


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
    messages = outbox(committed_app)
    assert {(m.status, m.attempts) for m in messages} == {(OutboxStatus.SENT, 1)}
