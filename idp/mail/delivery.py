"""Delivery of the outbox over SMTP with retry and exponential backoff.

A message is marked sent only after the SMTP server accepted it. Each batch claims its rows
(FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite has a single writer) so two workers never send
the same message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_mail import Message
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.database import utcnow
from idp.extensions import mailer
from idp.mail.models import OutboxMessage, OutboxStatus

log = logging.getLogger("idp.mail")

BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at one hour."""
    return timedelta(seconds=min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)))


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    gave_up: int = 0


def deliver_pending(session: Session, *, batch_size: int = 50) -> DeliveryReport:
    """Send due messages; commit after each one so a crash never re-sends a delivered one."""
    report = DeliveryReport()
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING.value,
            OutboxMessage.next_attempt_at <= utcnow(),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(batch_size)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    messages = list(session.scalars(query))
    max_attempts = current_app.config["MAIL_MAX_ATTEMPTS"]
    for message in messages:
        try:
            mailer.send(_to_flask_mail(message))
        except Exception as exc:  # SMTP errors, refused connections, timeouts
            message.attempts += 1
            message.last_error = f"{type(exc).__name__}: {exc}"[:500]
            if message.attempts >= max_attempts:
                message.status = OutboxStatus.FAILED.value
                report.gave_up += 1
            else:
                message.next_attempt_at = utcnow() + backoff(message.attempts)
                report.failed += 1
            log.warning("mail %s not sent (attempt %d): %s", message.id, message.attempts, exc)
        else:
            message.attempts += 1
            message.status = OutboxStatus.SENT.value
            message.sent_at = utcnow()
            message.last_error = None
            report.sent += 1
        session.commit()
    return report


def _to_flask_mail(message: OutboxMessage) -> Message:
    msg = Message(
        subject=message.subject,
        recipients=[message.recipient],
        body=message.body_text,
        html=message.body_html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
    )
    msg.msgId = message.message_id
    msg.extra_headers = {"Auto-Submitted": "auto-generated"}
    return msg
