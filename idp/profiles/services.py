"""Signup by profile (the Comptexpert flow): the registry match and the accounts it creates.

A registry signup goes: find the entry (name search or registration number) -> check that it
may sign up with the chosen profile (status, category) -> prove the birth date (throttled per
entry and per IP; the fifth failure locks the entry and warns its registry email) -> check
that it has an email and no account yet -> create the account with the registry's names and
email and its `ProfileClaim`, in one transaction (the claim's unique index decides a race).
See docs/adr/0019-signup-by-profile.md and docs/security.md 7, 10-12.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from limits import parse_many
from sqlalchemy import select

from idp.accounts.email_requests import EmailRequestKind, queue_request
from idp.accounts.errors import SignupInvalid, TokenExpired, TokenInvalid, UsernameTaken
from idp.accounts.models import User
from idp.accounts.services import (
    NewAccount,
    check_new_account,
    normalize_email,
    password_hasher,
    register_user,
)
from idp.accounts.tokens import TokenService
from idp.audit.models import AuditEventType
from idp.audit.services import ANONYMOUS, record
from idp.config import settings
from idp.database import DbSession, flush_or_raise, on_violation
from idp.extensions import limiter
from idp.mail.services import enqueue
from idp.profiles.catalog import PROFILE_LABELS, REGISTRY_MATCHED_PROFILES, Profile
from idp.profiles.errors import (
    BirthDateMismatch,
    CandidateExpired,
    EntryAlreadyClaimed,
    EntryNotFound,
    EntryStruckOff,
    EntrySuspended,
    MatchLocked,
    NoEmailOnFile,
    WrongCategory,
)
from idp.profiles.masking import mask_email
from idp.profiles.models import AgcDirector
from idp.profiles.siren import normalize_siren
from idp.registry import services as registry
from idp.registry.catalog import RegistryStatus
from idp.registry.models import ProfileClaim, RegistryEntry
from idp.registry.names import display_name, search_key
from idp.throttling import Throttle, TooManyAttempts, signups_per_ip

on_violation("uq_profile_claims_registry_entry_id", EntryAlreadyClaimed)
on_violation("uq_agc_directors_user_id", UsernameTaken)  # one AGC row per new account

# The flows whose signup goes through the registry: the seven categories, and the président
# d'AGC who is also an expert-comptable.
REGISTRY_FLOWS: tuple[str, ...] = (
    *sorted(p.value for p in REGISTRY_MATCHED_PROFILES),
    Profile.PRESIDENT_AGC.value,
)
CANDIDATE_MAX_AGE = 3600  # a name picked in the list stays valid for an hour
MATCH_MAX_AGE = 1800  # after the birth date, the account form must be sent within 30 min

match_failures_per_entry = Throttle("registry-match-entry", "registry_match_failures_per_entry")
match_failures_per_ip = Throttle("registry-match-ip", "registry_match_failures_per_ip")
searches_per_ip = Throttle("registry-search-ip", "registry_searches_per_ip")


def required_category(flow: str) -> Profile:
    """The registry category an entry must have for the flow (a président d'AGC is matched
    as an expert-comptable)."""
    profile = Profile(flow)
    return Profile.EXPERT_COMPTABLE if profile == Profile.PRESIDENT_AGC else profile


# --- finding the entry -----------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One line of the name list: never the birth date, the email or the number."""

    token: str  # signed, purpose-bound, expiring: names the entry without a guessable id
    name: str
    council: str


def _candidate_tokens() -> TokenService:
    return TokenService(settings().secret_key, "registry-candidate", CANDIDATE_MAX_AGE)


def candidate_token(entry: RegistryEntry) -> str:
    return _candidate_tokens().dumps({"e": entry.id})


def search(session: DbSession, query: str, *, ip: str) -> list[Candidate]:
    """At most 10 entries whose name starts with `query` (3 letters at least), rate limited
    per IP (TooManyAttempts)."""
    if len(search_key(query)) < registry.AUTOCOMPLETE_MIN_LETTERS:
        return []
    searches_per_ip.consume(ip)
    return [
        Candidate(
            candidate_token(entry),
            display_name(entry.family_name, entry.given_names),
            entry.council.name,
        )
        for entry in registry.search_entries(session, query)
    ]


def entry_for_candidate(session: DbSession, token: str) -> RegistryEntry:
    try:
        entry_id = _candidate_tokens().loads(token).get("e")
    except (TokenInvalid, TokenExpired) as exc:
        raise CandidateExpired() from exc
    entry = session.get(RegistryEntry, entry_id) if isinstance(entry_id, int) else None
    if entry is None:
        raise CandidateExpired()
    return entry


def entry_for_number(session: DbSession, raw: str, *, ip: str) -> RegistryEntry:
    """The registration number typed ("Vous ne trouvez pas ?"), rate limited like a search."""
    searches_per_ip.consume(ip)
    entry = registry.entry_by_registration_number(session, raw)
    if entry is None:
        raise EntryNotFound()
    return entry


def check_eligible(entry: RegistryEntry, flow: str) -> None:
    """Struck off, suspended, or listed in another category: each its own refusal (public
    facts of the tableau, told before the birth date)."""
    if entry.status == RegistryStatus.RADIE:
        raise EntryStruckOff(council=entry.council)
    if entry.status == RegistryStatus.SUSPENDU:
        raise EntrySuspended(council=entry.council)
    wanted = required_category(flow)
    if entry.category != wanted:
        listed = PROFILE_LABELS.get(Profile(entry.category), entry.category)
        raise WrongCategory(
            listed_as=str(listed), chosen=str(PROFILE_LABELS[wanted]), council=entry.council
        )


def _check_claimable(session: DbSession, entry: RegistryEntry) -> None:
    """Told only after the birth date matched: whether an account exists, and the email."""
    claim = registry.claim_for_entry(session, entry.id)
    if claim is not None:
        owner = session.get(User, claim.user_id)
        raise EntryAlreadyClaimed(mask_email(entry.email or (owner.email if owner else "")))
    if not entry.email:
        raise NoEmailOnFile(council=entry.council)


# --- the birth date --------------------------------------------------------------------------


def verify_birth_date(
    session: DbSession, entry: RegistryEntry, flow: str, birth_date: date, *, ip: str
) -> None:
    """Prove the birth date (docs/security.md 10). A slot is taken per entry and per IP
    *before* comparing (concurrent guesses cannot overrun the limit) and given back on a
    match. The failure that fills the entry's limit locks it: audited, and its registry email
    warned once. Raises a RegistrySignupStopped; the caller commits on BirthDateMismatch and
    MatchLocked (the audit rows and the warning must stay)."""
    check_eligible(entry, flow)
    number = entry.registration_number
    try:
        ip_slot = match_failures_per_ip.acquire(ip)
    except TooManyAttempts as error:
        raise MatchLocked(error.retry_after, council=entry.council) from error
    try:
        entry_slot = match_failures_per_entry.acquire(number)
    except TooManyAttempts as error:
        ip_slot.refund()
        raise MatchLocked(error.retry_after, council=entry.council) from error
    if birth_date != entry.birth_date:
        subject = _owner(session, entry)
        record(
            session,
            AuditEventType.REGISTRY_MATCH_FAILED,
            subject=subject,
            actor=ANONYMOUS,
            registration_number=number,
        )
        if match_failures_per_entry.is_exhausted(number):
            _lock(session, entry, subject)
        raise BirthDateMismatch(council=entry.council)
    ip_slot.refund()
    entry_slot.refund()
    _check_claimable(session, entry)


def _owner(session: DbSession, entry: RegistryEntry) -> User | None:
    claim = registry.claim_for_entry(session, entry.id)
    return session.get(User, claim.user_id) if claim is not None else None


def lock_period_minutes() -> int:
    first = next(iter(parse_many(settings().throttles.registry_match_failures_per_entry)))
    return max(1, first.get_expiry() // 60)


def _lock(session: DbSession, entry: RegistryEntry, subject: User | None) -> None:
    """Audit the lock and warn the registry email, once per lock: the notice key is taken by
    one atomic increment, so concurrent last failures send one email."""
    digest = hashlib.sha256(entry.registration_number.encode()).hexdigest()[:32]
    period = lock_period_minutes() * 60
    if limiter.storage.incr(f"registry-lock-notice/{digest}", period) != 1:
        return
    record(
        session,
        AuditEventType.REGISTRY_MATCH_LOCKED,
        subject=subject,
        actor=ANONYMOUS,
        registration_number=entry.registration_number,
    )
    if entry.email:
        enqueue(
            session,
            template="registry_match_locked",
            recipient=entry.email,
            user_id=subject.id if subject else None,
            context={
                "entry": entry,
                "name": display_name(entry.family_name, entry.given_names),
                "council": entry.council,
                "minutes": lock_period_minutes(),
                "support_email": settings().support_email,
            },
        )


# --- creating the account --------------------------------------------------------------------


@dataclass(frozen=True)
class AgcDetails:
    name: str
    siren: str


def matched_entry(session: DbSession, entry_id: int, flow: str) -> RegistryEntry:
    """The entry a verified match names, checked again (an import may have changed it)."""
    entry = session.get(RegistryEntry, entry_id)
    if entry is None:
        raise CandidateExpired()
    check_eligible(entry, flow)
    _check_claimable(session, entry)
    return entry


def registry_account(entry: RegistryEntry, username: str, password: str) -> NewAccount:
    """The account a registry match makes: the registry's names and email, never typed ones."""
    assert entry.email is not None
    return NewAccount(
        username=username,
        email=entry.email,
        given_name=entry.given_names[:100],
        family_name=entry.family_name[:100],
        password=password,
    )


def sign_up_from_registry(
    session: DbSession,
    entry_id: int,
    flow: str,
    *,
    username: str,
    password: str,
    ip: str,
    agc: AgcDetails | None = None,
) -> User:
    """Create the account of a verified registry match, its claim (and its AGC) in one
    transaction; the activation email goes to the registry email.

    Raises SignupInvalid, UsernameTaken, TooManyAttempts, or a RegistrySignupStopped; two
    concurrent signups for one entry: the claim's unique index lets one through, the other
    gets EntryAlreadyClaimed (docs/security.md 7).
    """
    entry = matched_entry(session, entry_id, flow)
    account = registry_account(entry, username, password)
    errors = check_new_account(account)
    if errors:
        raise SignupInvalid(errors)
    masked, number, category = mask_email(account.email), entry.registration_number, entry.category
    slot = signups_per_ip.acquire(ip)
    try:
        user = register_user(session, account, profile=flow)
        session.add(ProfileClaim(user_id=user.id, registry_entry_id=entry_id))
        if agc is not None:
            session.add(AgcDirector(user_id=user.id, agc_name=agc.name, siren=agc.siren))
        flush_or_raise(session)
    except UsernameTaken:
        slot.refund()
        raise
    except EntryAlreadyClaimed as error:
        slot.refund()
        raise EntryAlreadyClaimed(masked) from error
    record(
        session,
        AuditEventType.REGISTRY_CLAIM_CREATED,
        subject=user,
        actor=ANONYMOUS,
        registration_number=number,
        category=category,
    )
    return user


def sign_up_agc_director(
    session: DbSession, account: NewAccount, agc: AgcDetails, *, ip: str
) -> User | None:
    """A président or directeur d'AGC who is not matched with the registry: like "Autre"
    (activation to the typed email; an email that already has an account is told by email,
    the page says the same), plus the AGC's name and SIREN."""
    errors = check_new_account(account)
    if errors:
        raise SignupInvalid(errors)
    slot = signups_per_ip.acquire(ip)
    email = normalize_email(account.email)
    if session.scalar(select(User.id).where(User.email == email).limit(1)) is not None:
        password_hasher().hash(account.password)
        queue_request(session, EmailRequestKind.SIGNUP_EMAIL_TAKEN, email)
        return None
    try:
        user = register_user(session, account, profile=Profile.PRESIDENT_AGC.value)
        session.add(AgcDirector(user_id=user.id, agc_name=agc.name, siren=agc.siren))
        flush_or_raise(session)
    except UsernameTaken:
        slot.refund()
        raise
    return user


def agc_details(name: str, siren: str) -> AgcDetails:
    return AgcDetails(" ".join(name.split()), normalize_siren(siren))


def agc_of(session: DbSession, user_id: int) -> AgcDirector | None:
    return session.scalar(select(AgcDirector).where(AgcDirector.user_id == user_id))
