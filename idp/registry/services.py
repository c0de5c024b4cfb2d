"""Registry lookups shared by signup, the councils' imports and (later) OIDC claims, and the
council administrator role. Writes to entries belong to `registry_import` only."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from idp.audit.models import AuditEventType
from idp.audit.services import Actor, record
from idp.database import DbSession, flush_or_raise
from idp.errors import DomainError
from idp.profiles.catalog import REGISTRY_MATCHED_PROFILES
from idp.registry.catalog import normalize_registration_number
from idp.registry.models import CouncilAdministrator, ProfileClaim, RegionalCouncil, RegistryEntry
from idp.registry.names import PREFIX_UPPER_BOUND, search_key

AUTOCOMPLETE_MIN_LETTERS = 3
AUTOCOMPLETE_MAX_RESULTS = 10


class UnknownCouncil(DomainError):
    default_message = _l("Conseil régional inconnu.")


# --- councils -------------------------------------------------------------------------------


def councils(session: DbSession) -> list[RegionalCouncil]:
    return list(session.scalars(select(RegionalCouncil).order_by(RegionalCouncil.name)))


def council_by_code(session: DbSession, code: str) -> RegionalCouncil:
    """`idf`, ` IDF ` and `IDF` name the same council; UnknownCouncil otherwise."""
    council = session.scalar(
        select(RegionalCouncil).where(RegionalCouncil.code == code.strip().upper())
    )
    if council is None:
        raise UnknownCouncil()
    return council


# --- entries --------------------------------------------------------------------------------


def search_entries(
    session: DbSession, query: str, *, limit: int = AUTOCOMPLETE_MAX_RESULTS
) -> list[RegistryEntry]:
    """Entries whose "family given" key starts with the query's key (names.search_key): an
    index range scan. Empty when the query holds fewer than AUTOCOMPLETE_MIN_LETTERS letters."""
    key = search_key(query)
    if len(key) < AUTOCOMPLETE_MIN_LETTERS:
        return []
    return list(
        session.scalars(
            select(RegistryEntry)
            .where(
                RegistryEntry.search_key >= key,
                RegistryEntry.search_key < key + PREFIX_UPPER_BOUND,
            )
            .order_by(RegistryEntry.search_key, RegistryEntry.id)
            .limit(min(limit, AUTOCOMPLETE_MAX_RESULTS))
        )
    )


def entry_by_registration_number(session: DbSession, raw: str) -> RegistryEntry | None:
    number = normalize_registration_number(raw)
    if not number:
        return None
    return session.scalar(select(RegistryEntry).where(RegistryEntry.registration_number == number))


# --- claims ---------------------------------------------------------------------------------


def live_claims(session: DbSession, user_id: int) -> list[ProfileClaim]:
    """The account's claims whose entry is still `inscrit` (what OIDC claims read)."""
    return [claim for claim in _claims(session, user_id) if claim.is_live]


def claims_of(session: DbSession, user_id: int) -> list[ProfileClaim]:
    """Every claim of the account, live or not ("Mon compte" shows both)."""
    return _claims(session, user_id)


def _claims(session: DbSession, user_id: int) -> list[ProfileClaim]:
    return list(
        session.scalars(
            select(ProfileClaim).where(ProfileClaim.user_id == user_id).order_by(ProfileClaim.id)
        )
    )


def held_profiles(session: DbSession, user: Any) -> list[str]:
    """The profiles an account holds (ADR 0010): its signup profile, then the categories of
    its live claims. A registry category counts only through a live claim: an
    expert-comptable who signed up as such and is then suspended holds nothing from the
    registry, while a président d'AGC keeps that profile and loses the expert-comptable one."""
    held = [] if user.profile in REGISTRY_MATCHED_PROFILES else [str(user.profile)]
    for claim in live_claims(session, user.id):
        if claim.entry.category not in held:
            held.append(claim.entry.category)
    return held


def claim_for_entry(session: DbSession, entry_id: int) -> ProfileClaim | None:
    return session.scalar(select(ProfileClaim).where(ProfileClaim.registry_entry_id == entry_id))


# --- council administrators -----------------------------------------------------------------


def administered_councils(session: DbSession, user_id: int) -> list[RegionalCouncil]:
    """The councils an account may import for: all of them for a national administrator."""
    roles = list(
        session.scalars(select(CouncilAdministrator).where(CouncilAdministrator.user_id == user_id))
    )
    if any(role.is_national for role in roles):
        return councils(session)
    return sorted((role.council for role in roles if role.council), key=lambda c: c.name)


def can_administer(session: DbSession, user_id: int, council: RegionalCouncil) -> bool:
    return any(c.id == council.id for c in administered_councils(session, user_id))


def grant_council_role(
    session: DbSession, user_id: int, council: RegionalCouncil | None, *, actor: Actor
) -> None:
    """Make the account an administrator of `council` (None: of every council, national)."""
    session.add(CouncilAdministrator(user_id=user_id, council_id=council.id if council else None))
    flush_or_raise(session)
    record(
        session,
        AuditEventType.COUNCIL_ROLE_GRANTED,
        subject=_Subject(user_id),
        actor=actor,
        council=council.code if council else "national",
    )


def revoke_council_role(
    session: DbSession, user_id: int, council: RegionalCouncil | None, *, actor: Actor
) -> bool:
    condition = (
        CouncilAdministrator.council_id.is_(None)
        if council is None
        else CouncilAdministrator.council_id == council.id
    )
    result = session.execute(
        delete(CouncilAdministrator).where(CouncilAdministrator.user_id == user_id, condition)
    )
    removed = int(getattr(result, "rowcount", 0) or 0) > 0
    if removed:
        record(
            session,
            AuditEventType.COUNCIL_ROLE_REVOKED,
            subject=_Subject(user_id),
            actor=actor,
            council=council.code if council else "national",
        )
    return removed


class _Subject:
    def __init__(self, user_id: int) -> None:
        self.id = user_id
