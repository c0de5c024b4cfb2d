"""Queueing emails. Rendering happens now (in the request's language); sending happens later."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import render_template
from sqlalchemy import update

from idp.config import settings
from idp.database import DbSession, utcnow
from idp.mail.models import OutboxMessage, OutboxStatus


def enqueue(
    session: DbSession,
    *,
    template: str,
    recipient: str,
    context: dict[str, Any],
    user_id: int | None = None,
) -> OutboxMessage:
    """Render `mail/<template>.{subject.txt,txt,html}` and add the message to the outbox.

    The caller commits: the message exists if and only if the change it announces exists.
    The Message-ID is fixed here, so every retry of this message carries the same one.
    """
    if not recipient or any(c in recipient for c in "\r\n,;"):
        raise ValueError("an outbox recipient is one address without line breaks")
    subject = render_template(f"mail/{template}.subject.txt", **context).strip()
    body_text = render_template(f"mail/{template}.txt", **context)
    body_html = render_template(f"mail/{template}.html", **context)
    domain = urlsplit(settings().issuer).hostname or "sesame.localhost"
    message = OutboxMessage(
        message_id=f"<{secrets.token_hex(16)}@{domain}>",
        template=template,
        recipient=recipient,
        subject=" ".join(subject.split())[:300],  # one header line, the column's size
        body_text=body_text,
        body_html=body_html,
        user_id=user_id,
    )
    session.add(message)
    return message


def retry_failed(session: DbSession, ids: list[int] | None, *, actor: Any) -> list[int]:
    """Put failed messages (all when `ids` is None) back in the queue, due now, attempts
    reset; audited. Returns the ids requeued."""
    from idp.audit.models import AuditEventType
    from idp.audit.services import record

    query = update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.FAILED.value)
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(ids))
    result = session.execute(
        query.values(
            status=OutboxStatus.PENDING.value, attempts=0, next_attempt_at=utcnow()
        ).returning(OutboxMessage.id),
        execution_options={"synchronize_session": False},
    )
    requeued = sorted(result.scalars())
    if requeued:
        record(session, AuditEventType.OUTBOX_RETRIED, subject=None, actor=actor, ids=requeued)
    return requeued
