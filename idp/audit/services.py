"""Writing and reading audit events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from flask import has_request_context
from sqlalchemy import select

from idp.audit.models import ActorKind, AuditEvent, AuditEventType
from idp.database import DbSession
from idp.web_context import client_ip, user_agent


class HasId(Protocol):
    id: int


@dataclass(frozen=True)
class Actor:
    """Who acts: an account, or someone/something that is not one."""

    kind: ActorKind
    user_id: int | None = None

    @classmethod
    def user(cls, account: HasId) -> Actor:
        return cls(ActorKind.USER, account.id)


ANONYMOUS = Actor(ActorKind.ANONYMOUS)
CLI = Actor(ActorKind.CLI)
SYSTEM = Actor(ActorKind.SYSTEM)


def record(
    session: DbSession,
    event_type: AuditEventType,
    *,
    subject: HasId | None,
    actor: Actor | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the session; it commits with the change it records.

    Without `actor`, the subject acted on their own account (self-service pages).
    """
    if actor is None:
        actor = Actor.user(subject) if subject is not None else ANONYMOUS
    ip = agent = None
    if has_request_context():
        ip, agent = client_ip(), user_agent()
    event = AuditEvent(
        event_type=event_type.value,
        subject_id=subject.id if subject is not None else None,
        actor_kind=actor.kind.value,
        actor_id=actor.user_id,
        ip_address=ip,
        user_agent=agent,
        details=details,
    )
    session.add(event)
    return event


def recent_events(
    session: DbSession,
    subject_id: int,
    *,
    types: list[AuditEventType] | None = None,
    limit: int = 10,
) -> list[AuditEvent]:
    """The account's latest events, newest first."""
    query = select(AuditEvent).where(AuditEvent.subject_id == subject_id)
    if types:
        query = query.where(AuditEvent.event_type.in_([t.value for t in types]))
    query = query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)
    return list(session.scalars(query))
