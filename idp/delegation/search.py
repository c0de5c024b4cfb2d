"""Finding the expert-comptable to ask for a delegation: by name (the signup autocomplete's
rules: 3 letters at least, 10 names at most, throttled per IP with the same throttle) or by
registration number. Only registered, active experts-comptables who have an active account
are listed; never a birth date or an email. A choice is a signed, expiring token naming the
account, not a guessable id."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import Select, select

from idp.accounts.errors import TokenExpired, TokenInvalid
from idp.accounts.models import User, UserStatus
from idp.accounts.tokens import TokenService
from idp.config import settings
from idp.database import DbSession
from idp.delegation.services import DelegationError
from idp.profiles.catalog import Profile
from idp.profiles.services import searches_per_ip
from idp.registry.catalog import RegistryStatus, normalize_registration_number
from idp.registry.models import ProfileClaim, RegistryEntry
from idp.registry.names import PREFIX_UPPER_BOUND, display_name, search_key
from idp.registry.services import AUTOCOMPLETE_MAX_RESULTS, AUTOCOMPLETE_MIN_LETTERS

CHOICE_MAX_AGE = 3600


@dataclass(frozen=True)
class GrantorCandidate:
    """One line of the list: the registry's name, council and firm; nothing private."""

    token: str
    name: str
    council: str
    firm: str


def _choices() -> TokenService:
    return TokenService(settings().secret_key, "delegation-grantor", CHOICE_MAX_AGE)


def is_searchable(query: str) -> bool:
    """Enough to search: 3 letters of a name, or something with a digit (a number)."""
    return len(search_key(query)) >= AUTOCOMPLETE_MIN_LETTERS or (
        any(ch.isdigit() for ch in query) and bool(normalize_registration_number(query))
    )


def _experts_with_accounts() -> Select[RegistryEntry, User]:
    return (
        select(RegistryEntry, User)
        .join(ProfileClaim, ProfileClaim.registry_entry_id == RegistryEntry.id)
        .join(User, User.id == ProfileClaim.user_id)
        .where(
            RegistryEntry.status == RegistryStatus.INSCRIT.value,
            RegistryEntry.category == Profile.EXPERT_COMPTABLE.value,
            User.status == UserStatus.ACTIVE.value,
        )
    )


def find_grantors(
    session: DbSession, query: str, *, ip: str, searcher: User
) -> list[GrantorCandidate]:
    """At most 10 experts-comptables whose name starts with `query`, or the one whose
    registration number it is; rate limited per IP (TooManyAttempts)."""
    query = query.strip()[:100]
    if not is_searchable(query):
        return []
    searches_per_ip.consume(ip)
    statement = _experts_with_accounts().where(User.id != searcher.id)
    if any(ch.isdigit() for ch in query):
        number = normalize_registration_number(query)
        statement = statement.where(RegistryEntry.registration_number == number)
    else:
        key = search_key(query)
        statement = statement.where(
            RegistryEntry.search_key >= key, RegistryEntry.search_key < key + PREFIX_UPPER_BOUND
        )
    rows = session.execute(
        statement.order_by(RegistryEntry.search_key, RegistryEntry.id).limit(
            AUTOCOMPLETE_MAX_RESULTS
        )
    ).all()
    return [
        GrantorCandidate(
            _choices().dumps({"u": user.id}),
            display_name(entry.family_name, entry.given_names),
            entry.council.name,
            entry.firm_name or "",
        )
        for entry, user in rows
    ]


def grantor_for_choice(session: DbSession, token: str) -> User:
    """The account a choice names (DelegationError when it expired or was forged)."""
    try:
        user_id = _choices().loads(token).get("u")
    except (TokenInvalid, TokenExpired) as exc:
        raise DelegationError(
            _("Ce choix a expiré : cherchez à nouveau l'expert-comptable.")
        ) from exc
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        raise DelegationError(_("Ce choix a expiré : cherchez à nouveau l'expert-comptable."))
    return user
