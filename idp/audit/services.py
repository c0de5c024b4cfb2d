"""Writing and reading audit events."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from sqlalchemy import select

from idp.audit.models import AuditEvent, AuditEventType
from idp.database import DbSession


def record(
    session: DbSession,
    event_type: AuditEventType,
    *,
    user_id: int | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the session; it commits with the change it records."""
    ip = user_agent = None
    if has_request_context():
        ip = request.remote_addr
        user_agent = (request.user_agent.string or "")[:300] or None
    event = AuditEvent(
        event_type=event_type.value,
        user_id=user_id,
        ip_address=ip,
        user_agent=user_agent,
        details=details,
    )
    session.add(event)
    return event


def recent_events(
    session: DbSession, user_id: int, *, types: list[AuditEventType] | None = None, limit: int = 10
) -> list[AuditEvent]:
    """The user's latest events, newest first."""
    query = select(AuditEvent).where(AuditEvent.user_id == user_id)
    if types:
        query = query.where(AuditEvent.event_type.in_([t.value for t in types]))
    query = query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)
    return list(session.scalars(query))
