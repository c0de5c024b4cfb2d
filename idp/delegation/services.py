"""Delegation use cases: request, approve, refuse, grant, end, attach on activation, expiry
notices (docs/adr/0025-delegations.md). Each takes a session, checks its rule
(idp.delegation.rules), writes the change with its audit events (one for each party) and the
email it announces; the caller commits. Domain errors carry a French message.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from idp.accounts.models import User, UserStatus
from idp.audit.models import AuditEventType
from idp.audit.services import Actor, record
from idp.database import DbSession, utcnow
from idp.delegation import rules
from idp.delegation.models import (
    Delegation,
    DelegationService,
    DelegationStatus,
    EndReason,
)
from idp.errors import DomainError
from idp.oidc.models import OAuthClient

DEFAULT_DAYS = 365
MAX_DAYS = 3 * 365 + 1  # three years, a leap day included
EXPIRY_NOTICE = timedelta(days=14)
MESSAGE_MAX = 1000


class DelegationError(DomainError):
    """A delegation that cannot be made or changed as asked."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def delegable_clients(session: DbSession) -> list[OAuthClient]:
    """The services a delegation may name: enabled clients that accept delegations."""
    return list(
        session.scalars(
            select(OAuthClient)
            .where(OAuthClient.accepts_delegations.is_(True), OAuthClient.disabled_at.is_(None))
            .order_by(OAuthClient.name)
        )
    )


def _services(session: DbSession, client_ids: Iterable[str]) -> list[OAuthClient]:
    wanted = sorted(set(client_ids))
    if not wanted:
        raise DelegationError(_("Choisissez au moins un service."))
    offered = {client.client_id: client for client in delegable_clients(session)}
    unknown = [client_id for client_id in wanted if client_id not in offered]
    if unknown:
        raise DelegationError(_("Un des services choisis n'accepte pas les délégations."))
    return [offered[client_id] for client_id in wanted]


def _end_date(ends_on: datetime | None, now: datetime) -> datetime:
    ends_at = ends_on or now + timedelta(days=DEFAULT_DAYS)
    if ends_at <= now:
        raise DelegationError(_("La date de fin doit être dans le futur."))
    if ends_at > now + timedelta(days=MAX_DAYS):
        raise DelegationError(_("Une délégation dure au plus trois ans."))
    return ends_at


def _audit(
    session: DbSession,
    event: AuditEventType,
    delegation: Delegation,
    *,
    actor: User | None,
    **details: Any,
) -> None:
    """One event on each party's account (their « Mon compte » history)."""
    details = {"delegation": delegation.public_id, **details}
    for party in (delegation.grantor, delegation.grantee):
        if party is not None:
            record(session, event, subject=party, actor=Actor.user(actor or party), **details)


def _notify(session: DbSession, template: str, recipient: User | None, **context: Any) -> None:
    from idp.mail.services import enqueue

    if recipient is None or not recipient.email:
        return
    enqueue(
        session,
        template=f"delegation/{template}",
        recipient=recipient.email,
        context={"user": recipient, **context},
        user_id=recipient.id,
    )


def request_delegation(
    session: DbSession,
    collaborator: User,
    grantor: User,
    client_ids: Iterable[str],
    message: str,
) -> Delegation:
    """A collaborator asks `grantor` (an expert-comptable with an account) for a delegation."""
    if grantor.id == collaborator.id:
        raise DelegationError(_("Vous ne pouvez pas vous demander une délégation à vous-même."))
    if not rules.can_grant(session, grantor):
        raise DelegationError(
            _(
                "Cette personne ne peut pas accorder de délégation (elle n'est pas "
                "expert-comptable inscrit au tableau)."
            )
        )
    message = message.strip()
    if len(message) > MESSAGE_MAX:
        raise DelegationError(_("Votre message dépasse %(max)s caractères.", max=MESSAGE_MAX))
    services = _services(session, client_ids)
    delegation = Delegation(
        grantor=grantor,
        grantee=collaborator,
        status=DelegationStatus.REQUESTED.value,
        message=message,
    )
    delegation.services = [DelegationService(client=client) for client in services]
    session.add(delegation)
    session.flush()
    _audit(
        session,
        AuditEventType.DELEGATION_REQUESTED,
        delegation,
        actor=collaborator,
        services=delegation.client_ids(),
    )
    _notify(session, "requested", grantor, delegation=delegation, collaborator=collaborator)
    return delegation


def _pending_for(session: DbSession, delegation: Delegation, grantor: User) -> None:
    if delegation.grantor_id != grantor.id:
        raise DelegationError(_("Cette demande ne vous est pas adressée."), status=404)
    if delegation.status != DelegationStatus.REQUESTED.value:
        raise DelegationError(_("Cette demande a déjà été traitée."), status=409)


def approve(
    session: DbSession,
    grantor: User,
    delegation: Delegation,
    *,
    client_ids: Iterable[str] | None = None,
    ends_at: datetime | None = None,
) -> Delegation:
    """Approve a request, possibly for fewer services (never more), until `ends_at`."""
    _pending_for(session, delegation, grantor)
    refusal = rules.grant_refusal(session, grantor, delegation.grantee)
    if refusal:
        raise DelegationError(refusal, status=403)
    asked = set(delegation.client_ids())
    kept = asked if client_ids is None else set(client_ids)
    if not kept:
        raise DelegationError(_("Gardez au moins un service, ou refusez la demande."))
    if not kept <= asked:
        raise DelegationError(_("Vous ne pouvez accorder que des services demandés."))
    now = utcnow()
    delegation.services = [s for s in delegation.services if s.client.client_id in kept]
    delegation.status = DelegationStatus.ACTIVE.value
    delegation.decided_at = now
    delegation.starts_at = now
    delegation.ends_at = _end_date(ends_at, now)
    session.flush()
    _audit(
        session,
        AuditEventType.DELEGATION_APPROVED,
        delegation,
        actor=grantor,
        services=delegation.client_ids(),
        ends_at=delegation.ends_at.isoformat(),
    )
    _notify(session, "approved", delegation.grantee, delegation=delegation)
    return delegation


def refuse(
    session: DbSession, grantor: User, delegation: Delegation, reason: str = ""
) -> Delegation:
    _pending_for(session, delegation, grantor)
    reason = reason.strip()
    if len(reason) > MESSAGE_MAX:
        raise DelegationError(_("Le motif dépasse %(max)s caractères.", max=MESSAGE_MAX))
    delegation.status = DelegationStatus.REFUSED.value
    delegation.decided_at = utcnow()
    delegation.refusal_reason = reason
    session.flush()
    _audit(session, AuditEventType.DELEGATION_REFUSED, delegation, actor=grantor)
    _notify(session, "refused", delegation.grantee, delegation=delegation)
    return delegation


def find_grantee(session: DbSession, username_or_email: str) -> tuple[User | None, str | None]:
    """(the account, None) for a username or an account's email; (None, email) for an email
    without an account (the grant waits for its signup)."""
    from idp.accounts.services import get_user_by_username, normalize_email

    value = username_or_email.strip()
    if "@" not in value:
        user = get_user_by_username(session, value)
        if user is None:
            raise DelegationError(_("Aucun compte ne porte cet identifiant."))
        return user, None
    email = normalize_email(value)
    user = session.scalar(
        select(User).where(func.lower(User.email) == email, User.status != "deleted")
    )
    return (user, None) if user is not None else (None, email)


def grant(
    session: DbSession,
    grantor: User,
    username_or_email: str,
    client_ids: Iterable[str],
    *,
    ends_at: datetime | None = None,
) -> Delegation:
    """A delegation granted directly (no request): to an account, or to an email that has none
    yet (an invitation to the "Autre" signup; the delegation waits for that account)."""
    grantee, email = find_grantee(session, username_or_email)
    refusal = rules.grant_refusal(session, grantor, grantee)
    if refusal:
        raise DelegationError(refusal, status=403)
    now = utcnow()
    delegation = Delegation(
        grantor=grantor,
        grantee=grantee,
        grantee_email=email,
        status=DelegationStatus.ACTIVE.value,
        decided_at=now,
        starts_at=now,
        ends_at=_end_date(ends_at, now),
    )
    delegation.services = [
        DelegationService(client=client) for client in _services(session, client_ids)
    ]
    session.add(delegation)
    session.flush()
    _audit(
        session,
        AuditEventType.DELEGATION_GRANTED,
        delegation,
        actor=grantor,
        services=delegation.client_ids(),
        ends_at=delegation.ends_at.isoformat() if delegation.ends_at else None,
        invited=email,
    )
    if grantee is not None:
        _notify(session, "granted", grantee, delegation=delegation)
    else:
        _invite(session, delegation, email or "")
    return delegation


def _invite(session: DbSession, delegation: Delegation, email: str) -> None:
    from idp.mail.services import enqueue

    enqueue(
        session,
        template="delegation/invitation",
        recipient=email,
        context={"delegation": delegation, "email": email},
    )


def end(session: DbSession, user: User, delegation: Delegation) -> Delegation:
    """Either side ends a delegation (or the collaborator withdraws a request)."""
    if user.id not in (delegation.grantor_id, delegation.grantee_id):
        raise DelegationError(_("Cette délégation ne vous concerne pas."), status=404)
    if delegation.status not in (DelegationStatus.ACTIVE.value, DelegationStatus.REQUESTED.value):
        raise DelegationError(_("Cette délégation est déjà terminée."), status=409)
    if delegation.status == DelegationStatus.REQUESTED.value:
        if user.id != delegation.grantee_id:
            raise DelegationError(_("Refusez la demande plutôt que de la terminer."))
        reason = EndReason.WITHDRAWN
    else:
        reason = EndReason.REVOKED if user.id == delegation.grantor_id else EndReason.RENOUNCED
    delegation.status = DelegationStatus.ENDED.value
    delegation.ended_at = utcnow()
    delegation.end_reason = reason.value
    session.flush()
    _audit(session, AuditEventType.DELEGATION_ENDED, delegation, actor=user, reason=reason.value)
    other = delegation.grantee if user.id == delegation.grantor_id else delegation.grantor
    _notify(session, "ended", other, delegation=delegation, ended_by=user)
    return delegation


def attach_pending(session: DbSession, user: User) -> int:
    """An account just activated with an email that delegations were granted to: they are
    its now (the activation proved the mailbox)."""
    if user.status != UserStatus.ACTIVE.value or not user.email:
        return 0
    waiting = session.scalars(
        select(Delegation).where(
            Delegation.grantee_id.is_(None), Delegation.grantee_email == user.email.lower()
        )
    ).all()
    attached = 0
    for delegation in waiting:
        if not _may_attach(session, delegation.grantor, user):
            continue
        delegation.grantee = user
        delegation.grantee_email = None
        session.flush()
        _audit(session, AuditEventType.DELEGATION_ATTACHED, delegation, actor=user)
        attached += 1
    return attached


def _may_attach(session: DbSession, grantor: User, user: User) -> bool:
    """Nobody to themselves; a président d'AGC's invitation attaches only to the AGC's staff
    (known now that the account is). The grantor's standing is not checked here: it is read
    at use (a suspended grantor's delegation attaches, and counts again on reinstatement)."""
    if grantor.id == user.id:
        return False
    siren = rules.agc_siren(session, grantor)
    if siren is None or rules.is_expert_comptable(session, grantor):
        return True
    return rules.works_for_agc(session, user, siren)


def of_user(session: DbSession, user: User) -> list[Delegation]:
    """Every delegation the user gave or received, newest first."""
    return list(
        session.scalars(
            select(Delegation)
            .where((Delegation.grantor_id == user.id) | (Delegation.grantee_id == user.id))
            .order_by(Delegation.created_at.desc(), Delegation.id.desc())
        ).unique()
    )


def send_expiry_notices(session: DbSession, now: datetime | None = None) -> int:
    """Two weeks before a delegation ends, both parties are told (once)."""
    now = now or utcnow()
    due = session.scalars(
        select(Delegation).where(
            Delegation.status == DelegationStatus.ACTIVE.value,
            Delegation.expiry_notice_sent_at.is_(None),
            Delegation.ends_at > now,
            Delegation.ends_at <= now + EXPIRY_NOTICE,
        )
    ).unique()
    sent = 0
    for delegation in due:
        delegation.expiry_notice_sent_at = now
        for party in (delegation.grantor, delegation.grantee):
            _notify(session, "expiring", party, delegation=delegation)
        sent += 1
    return sent
