"""Delivery of the outbox over SMTP with retry and exponential backoff (docs/security.md 53).

How two workers never send one message twice: a batch is *claimed* in a short transaction of
its own that pushes the rows' `next_attempt_at` past a lease (`UPDATE ... WHERE id IN (...) AND
status = 'pending' AND next_attempt_at <= now RETURNING id`). The claim is committed before any
SMTP call, so it survives the per-message commits that follow; another worker's claim finds
those rows not due and skips them. On PostgreSQL the candidate rows are read with FOR UPDATE
SKIP LOCKED so concurrent claimers do not wait for each other; the conditional UPDATE is what
makes the claim exclusive on every backend (SQLite included). A worker that dies mid-batch
leaves its rows leased: they become due again when the lease ends, and are sent then.

A message is marked sent only after the SMTP server accepted it, and each outcome is committed
at once, so a crash re-sends at most the one message in flight (delivery is at-least-once:
nothing is lost; a duplicate needs a crash between the SMTP "250" and the commit).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_mail import BadHeaderError, Connection, Message
from sqlalchemy import select, update

from idp.config import settings
from idp.database import DbSession, utcnow
from idp.extensions import mailer
from idp.mail.models import OutboxMessage, OutboxStatus
from idp.workers import exponential_backoff

log = logging.getLogger("idp.mail")

BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
DEFAULT_BATCH_SIZE = 50
# A claim lasts long enough for a whole batch with every SMTP call at its timeout; the worker
# stops sending (and hands the rest back) before its lease could run out.
MIN_LEASE_SECONDS = 300


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at one hour: 12 attempts span about half a day."""
    return exponential_backoff(
        attempts, base_seconds=BACKOFF_BASE_SECONDS, max_seconds=BACKOFF_MAX_SECONDS
    )


@dataclass
class DeliveryReport:
    """What one call of `deliver_pending` did."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0  # not sent this time, will be retried
    gave_up: int = 0  # not sent, status failed (max attempts or a permanent refusal)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.gave_up)


class PermanentFailure(Exception):
    """The SMTP server refused the message for good (5xx on the recipient, bad headers)."""


def deliver_pending(
    session: DbSession,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    should_stop: Callable[[], bool] | None = None,
) -> DeliveryReport:
    """Send up to `batch_size` due messages over one SMTP connection; commit each outcome.

    `should_stop` is asked between messages (a worker being shut down): the messages not yet
    tried are handed back, due at once, for the next worker.
    """
    report = DeliveryReport()
    timeout = float(current_app.config.get("MAIL_TIMEOUT") or 10)
    lease = timedelta(seconds=max(MIN_LEASE_SECONDS, batch_size * 3 * timeout))
    lease_until = utcnow() + lease
    claimed = _claim(session, batch_size, lease_until)
    report.claimed = len(claimed)
    if not claimed:
        return report
    max_attempts = settings().mail.max_attempts
    smtp = SmtpBatch(timeout)
    remaining = list(claimed)
    try:
        while remaining:
            if (should_stop and should_stop()) or utcnow() + 3 * timedelta(
                seconds=timeout
            ) >= lease_until:
                break
            message = session.get(OutboxMessage, remaining.pop(0))
            if message is None or message.status != OutboxStatus.PENDING.value:
                continue
            try:
                smtp.send(to_flask_mail(message))
            except Exception as exc:  # SMTP errors, refused connections, timeouts
                _record_failure(message, exc, max_attempts, report)
            else:
                message.attempts += 1
                message.status = OutboxStatus.SENT.value
                message.sent_at = utcnow()
                message.last_error = None
                # The bodies hold live activation/reset links: a sent message keeps only its
                # envelope, so a database backup or leak yields no usable token.
                message.body_text = message.body_html = ""
                report.sent += 1
            session.commit()
    finally:
        smtp.close()
    if remaining:
        _release(session, remaining)
    return report


def _claim(session: DbSession, batch_size: int, lease_until: datetime) -> list[int]:
    """Lease up to `batch_size` due messages to this worker (committed); return their ids.

    Losing a race (another worker claimed the same candidates first: SQLite reads take no
    lock) is retried a few times, so a worker does not go idle while messages are due.
    """
    for _ in range(5):
        candidates, claimed = _try_claim(session, batch_size, lease_until)
        if claimed or not candidates:
            return claimed
    return []


def _try_claim(
    session: DbSession, batch_size: int, lease_until: datetime
) -> tuple[list[int], list[int]]:
    now = utcnow()
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING.value,
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(batch_size)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    candidates = list(session.scalars(due))
    if not candidates:
        session.rollback()
        return [], []
    claimed = session.scalars(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(candidates),
            OutboxMessage.status == OutboxStatus.PENDING.value,
            OutboxMessage.next_attempt_at <= now,
        )
        .values(next_attempt_at=lease_until)
        .returning(OutboxMessage.id),
        execution_options={"synchronize_session": False},
    ).all()
    session.commit()
    return candidates, sorted(claimed, key=candidates.index)


def _release(session: DbSession, ids: list[int]) -> None:
    """Hand back claimed messages that were not tried: due at once for any worker."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.PENDING.value)
        .values(next_attempt_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    session.commit()


def _record_failure(
    message: OutboxMessage, exc: Exception, max_attempts: int, report: DeliveryReport
) -> None:
    message.attempts += 1
    message.last_error = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, PermanentFailure) or message.attempts >= max_attempts:
        message.status = OutboxStatus.FAILED.value
        report.gave_up += 1
        log.error("mail %s given up after %d attempt(s): %s", message.id, message.attempts, exc)
    else:
        message.next_attempt_at = utcnow() + backoff(message.attempts)
        report.failed += 1
        log.warning("mail %s not sent (attempt %d): %s", message.id, message.attempts, exc)


class SmtpBatch:
    """One SMTP connection for a batch of messages, opened on first use.

    Flask-Mail's own `Connection.__enter__` opens the socket without a timeout (a silent server
    would hang the worker forever) and starts TLS without verifying the certificate; this opens
    it with MAIL_TIMEOUT and a verifying TLS context, then lets Flask-Mail's `Connection.send`
    do the rest. After a connection-level error the connection is dropped and reopened for the
    next message; when it cannot be opened at all, the rest of the batch fails with the same
    error instead of waiting for a timeout per message.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.connection: Connection | None = None
        self.open_error: Exception | None = None

    def send(self, message: Message) -> None:
        if self.open_error is not None:
            raise self.open_error
        if self.connection is None:
            try:
                self.connection = self._open()
            except Exception as exc:
                self.open_error = exc
                raise
        try:
            self.connection.send(message)
        except BadHeaderError as exc:
            raise PermanentFailure("bad header (line break)") from exc
        except smtplib.SMTPRecipientsRefused as exc:  # the connection is still usable
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentFailure(f"recipient refused: {exc.recipients}") from exc
            raise
        except Exception:
            self.close()
            raise

    def _open(self) -> Connection:
        connection = mailer.connect()
        state = connection.mail
        if state.suppress:  # MAIL_SUPPRESS_SEND: Flask-Mail only fires its signal
            return connection
        context = ssl.create_default_context()
        host: smtplib.SMTP
        if state.use_ssl:
            host = smtplib.SMTP_SSL(
                state.server, state.port or 465, timeout=self.timeout, context=context
            )
        else:
            host = smtplib.SMTP(state.server, state.port or 25, timeout=self.timeout)
        try:
            if state.use_tls:
                host.starttls(context=context)
            if state.username and state.password:
                host.login(state.username, state.password)
        except Exception:
            host.close()
            raise
        connection.host = host
        return connection

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None or connection.host is None:
            return
        try:
            connection.host.quit()
        except Exception:  # already gone: nothing to say goodbye to
            connection.host.close()


def to_flask_mail(message: OutboxMessage) -> Message:
    """The stored message as a multipart/alternative email; its Message-ID never changes, so a
    retry (or a duplicate after a crash) is recognisable as the same message."""
    msg = Message(
        subject=message.subject,
        recipients=[message.recipient],
        body=message.body_text,
        html=message.body_html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
    )
    msg.msgId = message.message_id
    msg.extra_headers = {"Auto-Submitted": "auto-generated"}  # RFC 3834: no auto-replies
    return msg
