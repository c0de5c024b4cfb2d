"""Account use cases. Each takes a SQLAlchemy session and plain values, adds its changes (with
their audit events and emails) to the session, and raises domain errors carrying a French
message. The caller commits: one use case, one transaction.

Uniqueness rules are enforced by the database and mapped to their own errors by constraint
name (`idp.database.flush_or_raise`); state changes that a token or a concurrent request could
make twice are compare-and-set updates (`_compare_and_set`), so exactly one wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import delete, select, update

from idp import throttling
from idp.accounts.errors import (
    AccountDisabled,
    AccountNotActive,
    InvalidCredentials,
    InvalidText,
    SignupInvalid,
    TokenInvalid,
    TokenUsed,
    UsernameTaken,
)
from idp.accounts.models import User, UserSession, UserStatus
from idp.accounts.passwords import PasswordContext, PasswordHasher, check_password_policy
from idp.accounts.sessions import EndReason, end_all_sessions
from idp.accounts.tokens import TokenService, fingerprints_match, state_fingerprint
from idp.accounts.usernames import canonical_username, validate_username
from idp.audit.models import AuditEventType
from idp.audit.services import ANONYMOUS, SYSTEM, Actor, record
from idp.config import settings
from idp.database import DbSession, flush_or_raise, on_violation, utcnow
from idp.errors import DomainError
from idp.mail.services import enqueue
from idp.text import has_forbidden_characters
from idp.throttling import TooManyAttempts
from idp.urls import external_url

on_violation("uq_users_username", UsernameTaken)

# --- services bound to the app's configuration -------------------------------------------

HASHER_EXTENSION = "sesame.password_hasher"


def init_password_hasher(app: Any) -> None:
    """One hasher per app, its dummy hash computed now: the first unknown-user login of a
    worker costs what every other one costs (equal timing from the first request)."""
    hasher = PasswordHasher(app.extensions["sesame.settings"].argon2)
    _ = hasher.dummy_hash
    app.extensions[HASHER_EXTENSION] = hasher


def password_hasher() -> PasswordHasher:
    hasher: PasswordHasher = current_app.extensions[HASHER_EXTENSION]
    return hasher


def activation_tokens() -> TokenService:
    cfg = settings()
    return TokenService(cfg.secret_key, "activation", cfg.activation_token_max_age)


def reset_tokens() -> TokenService:
    cfg = settings()
    return TokenService(cfg.secret_key, "password-reset", cfg.reset_token_max_age)


# --- lookups ------------------------------------------------------------------------------


def get_user_by_username(session: DbSession, raw_username: str) -> User | None:
    if has_forbidden_characters(raw_username):
        return None
    return session.scalar(select(User).where(User.username == canonical_username(raw_username)))


def find_users_by_identifier(session: DbSession, identifier: str) -> list[User]:
    """Accounts designated by a username or an email (several accounts may share an email)."""
    identifier = identifier.strip()
    if has_forbidden_characters(identifier):
        return []
    if "@" in identifier:
        return list(
            session.scalars(
                select(User).where(User.email == normalize_email(identifier)).order_by(User.id)
            )
        )
    user = get_user_by_username(session, identifier)
    return [user] if user else []


def normalize_email(email: str) -> str:
    """Emails are stored trimmed and lower-cased (we never rely on case-sensitive local parts)."""
    return email.strip().lower()


def _compare_and_set(
    session: DbSession, user: User, expected: dict[str, Any], **values: Any
) -> bool:
    """UPDATE the user only if the columns still hold `expected`; True when this call won.

    Two requests spending one token both read the old state; only one UPDATE matches it (the
    other waits for the row lock on PostgreSQL, or for the write lock on SQLite, and then
    matches nothing).
    """
    query = update(User).where(User.id == user.id)
    for column, value in expected.items():
        query = query.where(getattr(User, column) == value)
    result = session.execute(query.values(**values).execution_options(synchronize_session="fetch"))
    return int(getattr(result, "rowcount", 0) or 0) == 1


# --- signup and activation ----------------------------------------------------------------


@dataclass(frozen=True)
class NewAccount:
    username: str
    email: str
    given_name: str
    family_name: str
    password: str


def check_new_account(account: NewAccount) -> dict[str, list[str]]:
    """Every refusal at once, by field (the signup form shows them all in one round)."""
    errors: dict[str, list[str]] = {}

    def refuse(field: str, error: DomainError) -> None:
        errors.setdefault(field, []).append(error.message)

    for field in ("given_name", "family_name", "email", "username"):
        if has_forbidden_characters(getattr(account, field)):
            refuse(field, InvalidText())
    if "username" not in errors:
        try:
            validate_username(account.username)
        except DomainError as error:
            refuse("username", error)
    if has_forbidden_characters(account.password, password=True):
        refuse("password", InvalidText())
    else:
        try:
            check_password_policy(
                account.password,
                PasswordContext(
                    canonical_username(account.username),
                    normalize_email(account.email),
                    (account.given_name.strip(), account.family_name.strip()),
                ),
            )
        except DomainError as error:
            refuse("password", error)
    return errors


def register_user(
    session: DbSession,
    account: NewAccount,
    *,
    profile: str = "autre",
    status: UserStatus = UserStatus.PENDING,
    actor: Actor = ANONYMOUS,
) -> User:
    """Create an account. Pending accounts get an activation email (in the same transaction).

    Raises SignupInvalid with every refused field, or UsernameTaken. Uniqueness is the unique
    index's: two concurrent signups for one username create exactly one account. A pending
    account whose activation time is over frees its username here.
    """
    errors = check_new_account(account)
    if errors:
        raise SignupInvalid(errors)
    canonical = canonical_username(account.username)
    _free_expired_pending_username(session, canonical)
    now = utcnow()
    user = User(
        username=canonical,
        email=normalize_email(account.email),
        given_name=account.given_name.strip(),
        family_name=account.family_name.strip(),
        profile=profile,
        status=status.value,
        password_hash=password_hasher().hash(account.password),
        password_changed_at=now,
    )
    if status == UserStatus.ACTIVE:
        user.activated_at = now
    session.add(user)
    flush_or_raise(session)
    record(session, AuditEventType.SIGNUP, subject=user, actor=actor, profile=profile)
    if user.is_pending:
        queue_activation_email(session, user)
    return user


def count_rejected_signup(*, ip: str) -> None:
    """A refused signup submission: throttled gently, apart from accepted signups."""
    throttling.rejected_forms_per_ip.acquire(ip)


def sign_up(session: DbSession, account: NewAccount, *, ip: str) -> User | None:
    """The "Autre" signup page's use case.

    When the email already belongs to an account, no second account is made: its owner is told
    by email (with their usernames), and the page says what it says for a new account, so the
    page never reveals who has an account. The password is hashed either way (same cost).
    """
    errors = check_new_account(account)
    if errors:
        raise SignupInvalid(errors)
    slot = throttling.signups_per_ip.acquire(ip)  # accepted signups only
    email = normalize_email(account.email)
    if session.scalar(select(User.id).where(User.email == email).limit(1)) is not None:
        password_hasher().hash(account.password)
        from idp.accounts.email_requests import EmailRequestKind, queue_request

        queue_request(session, EmailRequestKind.SIGNUP_EMAIL_TAKEN, email)
        return None
    try:
        return register_user(session, account)
    except UsernameTaken:
        slot.refund()  # a refused signup, not an accepted one
        raise


def _free_expired_pending_username(session: DbSession, canonical: str) -> None:
    """A pending account older than its activation link holds its username no longer."""
    cutoff = utcnow() - timedelta(seconds=settings().activation_token_max_age)
    expired = session.scalar(
        select(User).where(
            User.username == canonical,
            User.status == UserStatus.PENDING.value,
            User.created_at < cutoff,
        )
    )
    if expired is not None:
        _delete_pending(session, expired)


def _delete_pending(session: DbSession, user: User) -> None:
    record(
        session,
        AuditEventType.PENDING_ACCOUNT_EXPIRED,
        subject=None,
        actor=SYSTEM,
        username=user.username,
        created_at=user.created_at.isoformat(),
    )
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    session.delete(user)
    session.flush()


def purge_expired_pending(session: DbSession) -> list[str]:
    """Delete pending accounts whose activation time is over; return their usernames."""
    cutoff = utcnow() - timedelta(seconds=settings().activation_token_max_age)
    expired = list(
        session.scalars(
            select(User).where(User.status == UserStatus.PENDING.value, User.created_at < cutoff)
        )
    )
    for user in expired:
        _delete_pending(session, user)
    return [user.username for user in expired]


def email_user(session: DbSession, user: User, template: str, **context: Any) -> None:
    """Queue `mail/<template>.*` to the account's address (in this transaction)."""
    enqueue(
        session,
        template=template,
        recipient=user.email,
        user_id=user.id,
        context={"user": user, **context},
    )


def _signed_link(tokens: TokenService, endpoint: str, user: User, fingerprint: str) -> str:
    return external_url(endpoint, token=tokens.dumps({"sub": user.subject, "fp": fingerprint}))


def _token_account(session: DbSession, tokens: TokenService, token: str) -> tuple[User, str]:
    """The account a signed link names, and the state fingerprint it carries."""
    data = tokens.loads(token)
    user = session.scalar(select(User).where(User.subject == str(data.get("sub", ""))))
    if user is None:
        raise TokenInvalid()
    return user, str(data.get("fp", ""))


def queue_activation_email(session: DbSession, user: User) -> None:
    link = _signed_link(
        activation_tokens(), "accounts.activate", user, _activation_fingerprint(user)
    )
    email_user(
        session, user, "activation", link=link, hours=settings().activation_token_max_age // 3600
    )
    record(session, AuditEventType.ACTIVATION_EMAIL_SENT, subject=user, actor=ANONYMOUS)


def _activation_fingerprint(user: User) -> str:
    return state_fingerprint(user.subject, user.status, user.email)


def user_for_activation_token(session: DbSession, token: str) -> User:
    """The pending account an activation link designates (TokenUsed once it is active)."""
    user, fingerprint = _token_account(session, activation_tokens(), token)
    if not user.is_pending:
        raise TokenUsed()
    if not fingerprints_match(fingerprint, _activation_fingerprint(user)):
        raise TokenInvalid()
    return user


def activate(session: DbSession, token: str, password: str, *, ip: str) -> User:
    """Activate the account named by the token, if the person knows its password.

    The link proves the mailbox, the password proves the person who chose it: together they
    stop pre-account hijacking (someone signing up with another's email cannot activate, and
    the mailbox owner cannot be handed an account whose password someone else knows; they use
    "Mot de passe oublié", which replaces it). Password guesses here count as login failures.
    """
    user = user_for_activation_token(session, token)
    _verify_password(session, user.username, user, password, ip=ip)
    now = utcnow()
    if not _compare_and_set(
        session,
        user,
        {"status": UserStatus.PENDING.value},
        status=UserStatus.ACTIVE.value,
        activated_at=now,
        email_verified_at=now,
    ):
        raise TokenUsed()
    record(session, AuditEventType.ACTIVATION, subject=user)
    from idp.delegation import services as delegations

    delegations.attach_pending(session, user)  # grants made to this email (ADR 0025)
    return user


# --- login --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Authenticated:
    user: User
    credential_epoch: int  # the epoch of the password that was verified


def _verify_password(
    session: DbSession, canonical: str, user: User | None, password: str, *, ip: str
) -> int:
    """Verify a password under the login throttles; return the verified credential's epoch.

    Each attempt takes a slot per IP and per account *before* the verification and gives it
    back on success, atomically: concurrent guesses cannot overrun the limits.
    """
    try:
        ip_slot = throttling.login_failures_per_ip.acquire(ip)
        try:
            account_slot = throttling.login_failures_per_account.acquire(canonical)
        except TooManyAttempts:
            ip_slot.refund()
            raise
    except TooManyAttempts:
        record(
            session,
            AuditEventType.LOGIN_THROTTLED,
            subject=user,
            actor=ANONYMOUS,
            username=canonical[:64] if user is None else None,
        )
        raise
    epoch = user.credential_epoch if user is not None else 0
    password_hash = user.password_hash if user is not None else None
    if not password_hasher().verify(password_hash, password) or user is None:
        record(
            session,
            AuditEventType.LOGIN_FAILED,
            subject=user,
            actor=ANONYMOUS,
            reason="bad_credentials",
        )
        raise InvalidCredentials()
    ip_slot.refund()
    account_slot.refund()
    return epoch


def authenticate(session: DbSession, username: str, password: str, *, ip: str) -> Authenticated:
    """Check a username and password (docs/security.md 1, 2, 4).

    Unknown usernames cost one argon2 verification against a dummy hash and raise the same
    InvalidCredentials. Failures count per canonical username and per IP, existing or not.
    """
    canonical = canonical_username(username)[:64]
    user = None
    if not has_forbidden_characters(username):
        user = session.scalar(select(User).where(User.username == canonical))
    epoch = _verify_password(session, canonical, user, password, ip=ip)
    assert user is not None
    if user.status == UserStatus.DISABLED:
        record(session, AuditEventType.LOGIN_FAILED, subject=user, reason="disabled")
        raise AccountDisabled()
    if user.status == UserStatus.PENDING:
        record(session, AuditEventType.LOGIN_FAILED, subject=user, reason="pending")
        raise AccountNotActive()
    assert user.password_hash is not None
    hasher = password_hasher()
    if hasher.needs_rehash(user.password_hash):
        # Same credential, stronger hash: the epoch does not change.
        user.password_hash = hasher.hash(password)
        record(session, AuditEventType.PASSWORD_REHASHED, subject=user)
    user.last_login_at = utcnow()
    record(session, AuditEventType.LOGIN_SUCCEEDED, subject=user)
    return Authenticated(user, epoch)


# --- password reset and change ------------------------------------------------------------


def reset_fingerprint(user: User) -> str:
    return state_fingerprint(user.subject, user.password_hash, user.status)


def queue_password_reset_email(session: DbSession, user: User) -> None:
    link = _signed_link(reset_tokens(), "accounts.reset_password", user, reset_fingerprint(user))
    email_user(
        session, user, "password_reset", link=link, minutes=settings().reset_token_max_age // 60
    )
    record(session, AuditEventType.PASSWORD_RESET_REQUESTED, subject=user, actor=ANONYMOUS)


def user_for_reset_token(session: DbSession, token: str) -> User:
    """Validate a reset token (signature, purpose, age, single use) and return its account."""
    user, fingerprint = _token_account(session, reset_tokens(), token)
    if user.status == UserStatus.DISABLED:
        raise TokenInvalid()
    if not fingerprints_match(fingerprint, reset_fingerprint(user)):
        raise TokenUsed()
    return user


def reset_password(session: DbSession, token: str, new_password: str) -> User:
    """Set a new password from a reset link: ends every session, activates a pending account.

    The token is spent atomically: the new hash is written only where the old one still is,
    so two concurrent posts of one link succeed once.
    """
    user = user_for_reset_token(session, token)
    was_pending = user.is_pending
    _set_password(session, user, new_password)
    if was_pending:
        now = utcnow()
        user.status = UserStatus.ACTIVE.value
        user.activated_at = now
        user.email_verified_at = now
        record(session, AuditEventType.ACTIVATION, subject=user, via="password_reset")
    end_all_sessions(session, user, reason=EndReason.PASSWORD_RESET)
    record(session, AuditEventType.PASSWORD_RESET, subject=user)
    _queue_password_changed_email(session, user, reset=True)
    throttling.login_failures_per_account.clear(user.username)
    return user


def change_password(
    session: DbSession,
    user: User,
    current_password: str,
    new_password: str,
    *,
    keep: UserSession,
    ip: str,
) -> None:
    """Change the password from "Mon compte": proves the current one, ends other sessions.

    The current password is checked under the login throttles: a stolen session must not
    become an unthrottled password oracle.
    """
    try:
        _verify_password(session, user.username, user, current_password, ip=ip)
    except InvalidCredentials as error:
        raise InvalidCredentials(gettext("Le mot de passe actuel est incorrect.")) from error
    _set_password(session, user, new_password)
    keep.credential_epoch = user.credential_epoch
    end_all_sessions(session, user, reason=EndReason.PASSWORD_CHANGED, keep=keep)
    record(session, AuditEventType.PASSWORD_CHANGED, subject=user)
    _queue_password_changed_email(session, user, reset=False)


def verify_current_password(session: DbSession, user: User, password: str, *, ip: str) -> None:
    """The password of a logged-in account, proved again before a sensitive change
    (« Confirmez votre identité », ADR 0022): under the login throttles, a wrong one counted
    and audited like a failed login (a stolen session is no unthrottled password oracle)."""
    try:
        _verify_password(session, user.username, user, password, ip=ip)
    except InvalidCredentials as error:
        raise InvalidCredentials(gettext("Le mot de passe est incorrect.")) from error


def _set_password(session: DbSession, user: User, new_password: str) -> None:
    if has_forbidden_characters(new_password, password=True):
        raise InvalidText()
    check_password_policy(
        new_password,
        PasswordContext(user.username, user.email, (user.given_name, user.family_name)),
    )
    old_hash, old_epoch = user.password_hash, user.credential_epoch
    if not _compare_and_set(
        session,
        user,
        {"password_hash": old_hash, "credential_epoch": old_epoch},
        password_hash=password_hasher().hash(new_password),
        password_changed_at=utcnow(),
        credential_epoch=old_epoch + 1,
    ):
        raise TokenUsed()


def _queue_password_changed_email(session: DbSession, user: User, *, reset: bool) -> None:
    email_user(
        session,
        user,
        "password_changed",
        reset=reset,
        forgot_link=external_url("accounts.forgot_password"),
        support_email=settings().support_email,
    )


# --- administration -----------------------------------------------------------------------


def create_account(session: DbSession, account: NewAccount, *, active: bool, actor: Actor) -> User:
    """An account made by an operator (CLI, demo data, benchmarks): the one way to do it."""
    user = register_user(
        session,
        account,
        status=UserStatus.ACTIVE if active else UserStatus.PENDING,
        actor=actor,
    )
    record(session, AuditEventType.ACCOUNT_CREATED_BY_ADMIN, subject=user, actor=actor)
    return user


def disable_user(session: DbSession, user: User, *, actor: Actor, reason: str = "admin") -> None:
    user.status = UserStatus.DISABLED.value
    user.disabled_at = utcnow()
    end_all_sessions(session, user, reason=EndReason.ACCOUNT_DISABLED, actor=actor)
    record(session, AuditEventType.ACCOUNT_DISABLED, subject=user, actor=actor, reason=reason)
