"""Who may grant a delegation to whom, and which delegations count right now (SECURITY.md
37-39, docs/adr/0025-delegations.md).

- A grantor is an active account holding the expert-comptable profile through a live registry
  claim (`held_profiles`: a struck-off or suspended member holds it no more), or a président
  d'AGC, who grants only to the AGC's staff (a live claim whose registry entry names the AGC's
  SIREN).
- Nobody grants to themselves (also a CHECK constraint), nor approves their own request.
- A delegation counts (`valid_delegations`) while it is active, within its dates, and its
  grantor may still grant: expiry and suspension are read at the moment of use.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select

from idp.accounts.models import User, UserStatus
from idp.database import DbSession, utcnow
from idp.delegation.models import Delegation, DelegationService, DelegationStatus
from idp.oidc.models import OAuthClient
from idp.profiles.catalog import Profile


def _held(session: DbSession, user: User) -> list[str]:
    from idp.registry.services import held_profiles

    return held_profiles(session, user)


def is_expert_comptable(session: DbSession, user: User) -> bool:
    return user.status == UserStatus.ACTIVE.value and Profile.EXPERT_COMPTABLE.value in _held(
        session, user
    )


def agc_siren(session: DbSession, user: User) -> str | None:
    """The SIREN of the AGC a président d'AGC directs (None for anyone else)."""
    from idp.profiles.services import agc_of

    if user.status != UserStatus.ACTIVE.value or user.profile != Profile.PRESIDENT_AGC.value:
        return None
    director = agc_of(session, user.id)
    return director.siren if director is not None else None


def can_grant(session: DbSession, user: User) -> bool:
    """An active expert-comptable, or a président d'AGC (for the AGC's staff only)."""
    return is_expert_comptable(session, user) or agc_siren(session, user) is not None


def works_for_agc(session: DbSession, user: User, siren: str) -> bool:
    from idp.registry.services import live_claims

    return any(claim.entry.firm_siren == siren for claim in live_claims(session, user.id))


def grant_refusal(session: DbSession, grantor: User, grantee: User | None) -> str | None:
    """Why `grantor` may not delegate to `grantee` (a French sentence), or None."""
    if grantee is not None and grantee.id == grantor.id:
        return _("Vous ne pouvez pas vous déléguer vos propres droits.")
    if grantee is not None and grantee.status != UserStatus.ACTIVE.value:
        return _("Ce compte n'est pas actif : il ne peut pas recevoir de délégation.")
    if is_expert_comptable(session, grantor):
        return None
    siren = agc_siren(session, grantor)
    if siren is not None:
        if grantee is None or works_for_agc(session, grantee, siren):
            return None
        return _(
            "Un président ou directeur d'AGC ne délègue qu'aux salariés de son AGC inscrits "
            "au tableau."
        )
    return _(
        "Seul un expert-comptable inscrit au tableau (ou un président d'AGC, pour les salariés "
        "de son AGC) peut accorder une délégation."
    )


def is_current(delegation: Delegation, now: datetime | None = None) -> bool:
    """Active and within its dates (the grantor's standing aside)."""
    now = now or utcnow()
    return (
        delegation.status == DelegationStatus.ACTIVE.value
        and delegation.starts_at is not None
        and delegation.ends_at is not None
        and delegation.starts_at <= now < delegation.ends_at
    )


def standing(session: DbSession, delegation: Delegation) -> bool:
    """The grantor may still grant this delegation: an active expert-comptable, or a président
    d'AGC whose grantee is still on the AGC's staff."""
    grantor, grantee = delegation.grantor, delegation.grantee
    if is_expert_comptable(session, grantor):
        return True
    siren = agc_siren(session, grantor)
    return siren is not None and grantee is not None and works_for_agc(session, grantee, siren)


def is_suspended(session: DbSession, delegation: Delegation, now: datetime | None = None) -> bool:
    """Current by its dates, but its grantor may grant it no more (struck off, suspended)."""
    return is_current(delegation, now) and not standing(session, delegation)


def is_valid(session: DbSession, delegation: Delegation, now: datetime | None = None) -> bool:
    return is_current(delegation, now) and standing(session, delegation)


def valid_delegations(
    session: DbSession,
    grantee: User,
    *,
    client: OAuthClient | None = None,
    now: datetime | None = None,
) -> list[Delegation]:
    """The delegations `grantee` holds right now (covering `client`, when given), oldest
    first."""
    now = now or utcnow()
    statement = (
        select(Delegation)
        .where(
            Delegation.grantee_id == grantee.id,
            Delegation.status == DelegationStatus.ACTIVE.value,
            Delegation.starts_at <= now,
            Delegation.ends_at > now,
        )
        .order_by(Delegation.id)
    )
    if client is not None:
        statement = statement.where(
            Delegation.id.in_(
                select(DelegationService.delegation_id).where(
                    DelegationService.client_id == client.id
                )
            )
        )
    found = session.scalars(statement).unique().all()
    return [delegation for delegation in found if standing(session, delegation)]


def covers(delegation: Delegation, client_ids: Iterable[str]) -> bool:
    """SECURITY.md 39: every service asked for is one the delegation names."""
    return set(client_ids) <= set(delegation.client_ids())
