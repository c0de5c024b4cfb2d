"""The portal's emails: an outbox table written in the transaction of the change it announces,
sent over SMTP after the answer (client_portal_rp/background.py). An SMTP outage loses nothing:
a failed message waits (backoff) for the next delivery, `portal mail deliver` included. A
message is claimed by a conditional UPDATE before it is sent, so two deliveries at once never
send it twice.

Bodies come from templates `mail/<name>.txt` and `mail/<name>.html`; the HTML one is
autoescaped (names people type are shown, never interpreted).
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from flask import current_app, render_template
from sqlalchemy import or_, select, update

from client_portal_rp.background import after_response
from client_portal_rp.extensions import db
from client_portal_rp.models import OutboxMessage, utcnow

log = logging.getLogger("client_portal_rp.mail")

MAX_ATTEMPTS = 10
LEASE = timedelta(minutes=2)


def queue(recipient: str, subject: str, template: str, **context: Any) -> OutboxMessage:
    """Add an email to the outbox (the caller commits) and send it after the answer."""
    context = {"subject": subject, **context}
    message = OutboxMessage(
        recipient=recipient,
        subject=subject,
        text_body=render_template(f"mail/{template}.txt", **context),
        html_body=render_template(f"mail/{template}.html", **context),
    )
    db.session.add(message)
    after_response(deliver_pending)
    return message


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def deliver_pending(limit: int = 50) -> int:
    """Send the messages that are due; return how many were sent."""
    now = utcnow()
    due = db.session.scalars(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.attempts < MAX_ATTEMPTS,
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    sent = 0
    for message_id in due:
        if _claim(message_id) and _send_one(message_id):
            sent += 1
    return sent


def _claim(message_id: int) -> bool:
    now = utcnow()
    result = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.sent_at.is_(None),
            or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
        )
        .values(lease_until=now + LEASE)
    )
    db.session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _send_one(message_id: int) -> bool:
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        return False
    try:
        _smtp_send(message)
    except (OSError, smtplib.SMTPException) as error:
        message.attempts += 1
        message.next_attempt_at = utcnow() + backoff(message.attempts)
        message.lease_until = None
        message.last_error = repr(error)[:500]
        db.session.commit()
        log.warning("mail %s to %s not sent: %r", message.id, message.recipient, error)
        return False
    message.sent_at = utcnow()
    message.attempts += 1
    message.lease_until = None
    db.session.commit()
    return True


def _smtp_send(message: OutboxMessage) -> None:
    config = current_app.config
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = config["MAIL_DEFAULT_SENDER"]
    email["To"] = message.recipient
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain="portail.localhost")
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.text_body)
    email.add_alternative(message.html_body, subtype="html")
    with smtplib.SMTP(
        config["MAIL_SERVER"], int(config["MAIL_PORT"]), timeout=config["MAIL_TIMEOUT"]
    ) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        smtp.send_message(email)
