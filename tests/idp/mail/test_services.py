"""idp/mail/services.py, SECURITY.md 53: a message is queued in the transaction of the change it
announces (it exists iff that change was committed), to one address, with a Message-ID fixed
once; failed messages go back in the queue only through the audited `retry_failed`."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.accounts import services
from idp.accounts.models import User
from idp.audit.models import AuditEvent
from idp.audit.services import CLI
from idp.database import utcnow
from idp.extensions import db
from idp.mail.models import OutboxMessage, OutboxStatus
from idp.mail.services import enqueue, retry_failed
from tests.factories import create_outbox_message
from tests.helpers import SIGNUP_PASSWORD, outbox, signup

ACTIVATION_CONTEXT = {
    "user": {"given_name": "Marie", "username": "marie.curie"},
    "link": "http://idp.test/activate/x",
    "hours": 48,
}


def test_mail_signup_rolled_back_leaves_no_message(app: Flask, client: FlaskClient) -> None:
    with app.test_request_context():
        services.register_user(
            db.session,
            services.NewAccount(
                "jean.dupont", "jean@cabinet.example", "Jean", "Dupont", SIGNUP_PASSWORD
            ),
        )
        db.session.flush()
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        db.session.rollback()
    assert outbox() == []
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    # A refused signup (username taken) queues nothing either.
    assert signup(client).status_code == 302
    assert signup(client, email="autre@cabinet.example").status_code == 200
    assert [m.recipient for m in outbox()] == ["marie@cabinet.example"]


@pytest.mark.parametrize(
    "recipient",
    [
        "",
        "marie@cabinet.example\r\nBcc: victime@example.org",
        "a@cabinet.example, b@cabinet.example",
    ],
)
def test_mail_enqueue_takes_one_address_without_line_breaks(app: Flask, recipient: str) -> None:
    with pytest.raises(ValueError, match="one address"):
        enqueue(db.session, template="activation", recipient=recipient, context=ACTIVATION_CONTEXT)
    assert not db.session.new and outbox() == []


def test_mail_enqueue_renders_now_and_fixes_the_message_id_on_the_issuer_domain(
    app: Flask,
) -> None:
    first = enqueue(
        db.session,
        template="activation",
        recipient="marie@cabinet.example",
        context=ACTIVATION_CONTEXT,
    )
    second = enqueue(
        db.session,
        template="activation",
        recipient="marie@cabinet.example",
        context=ACTIVATION_CONTEXT,
    )
    db.session.commit()
    assert first.message_id.endswith("@idp.test>") and first.message_id != second.message_id
    assert first.subject == "Activez votre compte Sésame" and "\n" not in first.subject
    assert "http://idp.test/activate/x" in first.body_text
    assert "http://idp.test/activate/x" in first.body_html
    assert (first.status, first.attempts) == (OutboxStatus.PENDING, 0)


def test_mail_retry_failed_requeues_failed_messages_only_and_is_audited(app: Flask) -> None:
    failed = create_outbox_message(status=OutboxStatus.FAILED, attempts=12, last_error="timeout")
    pending = create_outbox_message(attempts=2)
    sent = create_outbox_message(status=OutboxStatus.SENT, attempts=1)

    assert retry_failed(db.session, [pending.id, sent.id], actor=CLI) == []
    assert retry_failed(db.session, None, actor=CLI) == [failed.id]
    db.session.commit()

    rows = {m.id: m for m in outbox()}
    assert (rows[failed.id].status, rows[failed.id].attempts) == (OutboxStatus.PENDING, 0)
    assert rows[failed.id].next_attempt_at <= utcnow()
    assert (rows[pending.id].status, rows[pending.id].attempts) == (OutboxStatus.PENDING, 2)
    assert rows[sent.id].status == OutboxStatus.SENT
    (event,) = db.session.query(AuditEvent).filter_by(event_type="outbox_retried").all()
    assert event.details["ids"] == [failed.id] and event.actor_kind == "cli"
