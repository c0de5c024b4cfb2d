"""Account use cases. Each takes a SQLAlchemy session and plain values, adds its changes (with
their audit events and emails) to the session, and raises domain errors carrying a French
message. The caller commits: one use case, one transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from idp.accounts import throttling
from idp.accounts.errors import (
    AccountDisabled,
    AccountNotActive,
    InvalidCredentials,
    TokenInvalid,
    TokenUsed,
    TooManyAttempts,
    UsernameTaken,
)
from idp.accounts.models import Profile, User, UserSession, UserStatus
from idp.accounts.passwords import PasswordContext, PasswordHasher, check_password_policy
from idp.accounts.tokens import TokenService, fingerprints_match, state_fingerprint
from idp.accounts.usernames import canonical_username, validate_username
from idp.audit.models import AuditEventType
from idp.audit.services import record
from idp.config import Argon2Parameters
from idp.database import DbSession, utcnow
from idp.mail.services import enqueue
from idp.urls import external_url

# --- services bound to the app's configuration -------------------------------------------


def password_hasher() -> PasswordHasher:
    """The app's hasher (one per app: the dummy hash is computed once)."""
    hasher: PasswordHasher | None = current_app.extensions.get("sesame.password_hasher")
    if hasher is None:
        cfg = current_app.config
        hasher = PasswordHasher(
            Argon2Parameters(
                time_cost=cfg["ARGON2_TIME_COST"],
                memory_cost_kib=cfg["ARGON2_MEMORY_COST"],
                parallelism=cfg["ARGON2_PARALLELISM"],
            )
        )
        current_app.extensions["sesame.password_hasher"] = hasher
    return hasher


def activation_tokens() -> TokenService:
    cfg = current_app.config
    return TokenService(cfg["SECRET_KEY"], "activation", cfg["ACTIVATION_TOKEN_MAX_AGE"])


def reset_tokens() -> TokenService:
    cfg = current_app.config
    return TokenService(cfg["SECRET_KEY"], "password-reset", cfg["RESET_TOKEN_MAX_AGE"])


# --- lookups ------------------------------------------------------------------------------


def get_user_by_username(session: DbSession, raw_username: str) -> User | None:
    return session.scalar(select(User).where(User.username == canonical_username(raw_username)))


def find_users_by_identifier(session: DbSession, identifier: str) -> list[User]:
    """Accounts designated by a username or an email (several accounts may share an email)."""
    identifier = identifier.strip()
    if "@" in identifier:
        return list(session.scalars(select(User).where(User.email == normalize_email(identifier))))
    user = get_user_by_username(session, identifier)
    return [user] if user else []


def normalize_email(email: str) -> str:
    """Emails are stored trimmed and lower-cased (we never rely on case-sensitive local parts)."""
    return email.strip().lower()


# --- signup and activation ----------------------------------------------------------------


def register_user(
    session: DbSession,
    *,
    username: str,
    email: str,
    given_name: str,
    family_name: str,
    password: str,
    profile: Profile = Profile.AUTRE,
    status: UserStatus = UserStatus.PENDING,
) -> User:
    """Create an account. Pending accounts get an activation email (in the same transaction).

    Uniqueness is enforced by the database's unique index, so two concurrent signups for one
    username create exactly one account; the other gets UsernameTaken (and a rolled-back
    session: call this first in a use case).
    """
    canonical = validate_username(username)
    email = normalize_email(email)
    check_password_policy(
        password, PasswordContext(canonical, email, (given_name.strip(), family_name.strip()))
    )
    now = utcnow()
    user = User(
        username=canonical,
        email=email,
        given_name=given_name.strip(),
        family_name=family_name.strip(),
        profile=profile.value,
        status=status.value,
        password_hash=password_hasher().hash(password),
        password_changed_at=now,
    )
    if status == UserStatus.ACTIVE:
        user.activated_at = now
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        # The insert is the first write of the use case: the transaction has nothing else to
        # keep, and PostgreSQL has aborted it anyway. (No SAVEPOINT: pysqlite's implicit
        # transactions would commit at RELEASE.)
        session.rollback()
        raise UsernameTaken() from exc
    record(session, AuditEventType.SIGNUP, user_id=user.id, profile=profile.value)
    if user.is_pending:
        queue_activation_email(session, user)
    return user


def queue_activation_email(session: DbSession, user: User) -> None:
    token = activation_tokens().dumps({"sub": user.subject, "fp": _activation_fingerprint(user)})
    enqueue(
        session,
        template="activation",
        recipient=user.email,
        user_id=user.id,
        context={
            "user": user,
            "link": external_url("accounts.activate", token=token),
            "hours": current_app.config["ACTIVATION_TOKEN_MAX_AGE"] // 3600,
        },
    )
    record(session, AuditEventType.ACTIVATION_EMAIL_SENT, user_id=user.id)


def _activation_fingerprint(user: User) -> str:
    return state_fingerprint(user.subject, user.status, user.email)


def activate(session: DbSession, token: str) -> User:
    """Activate the pending account named by the token; a used token fails with TokenUsed."""
    data = activation_tokens().loads(token)
    user = session.scalar(select(User).where(User.subject == str(data.get("sub", ""))))
    if user is None:
        raise TokenInvalid()
    if not user.is_pending:
        raise TokenUsed()
    if not fingerprints_match(str(data.get("fp", "")), _activation_fingerprint(user)):
        raise TokenInvalid()
    _mark_active(user)
    record(session, AuditEventType.ACTIVATION, user_id=user.id)
    return user


def _mark_active(user: User) -> None:
    now = utcnow()
    user.status = UserStatus.ACTIVE.value
    user.activated_at = now
    user.email_verified_at = now


def resend_activation(session: DbSession, identifier: str) -> None:
    """Queue a new activation email for pending accounts matching; say nothing either way."""
    for user in find_users_by_identifier(session, identifier):
        if user.is_pending and _may_send_email(user):
            queue_activation_email(session, user)


def _may_send_email(user: User) -> bool:
    """Per-account email throttle: past it, nothing is sent but the page says the same."""
    try:
        throttling.email_sends_per_account.consume(user.subject)
    except TooManyAttempts:  # silently skip: the answer must not differ
        return False
    return True


# --- login --------------------------------------------------------------------------------


def authenticate(session: DbSession, username: str, password: str, *, ip: str) -> User:
    """Check a username and password (SECURITY.md 1, 2, 4).

    Unknown usernames cost one argon2 verification against a dummy hash and raise the same
    InvalidCredentials. Failures count per canonical username and per IP, existing or not.
    """
    canonical = canonical_username(username)[:64]
    throttling.login_failures_per_ip.check(ip)
    throttling.login_failures_per_account.check(canonical)
    user = session.scalar(select(User).where(User.username == canonical))
    hasher = password_hasher()
    if not hasher.verify(user.password_hash if user else None, password) or user is None:
        throttling.login_failures_per_ip.hit(ip)
        throttling.login_failures_per_account.hit(canonical)
        record(
            session,
            AuditEventType.LOGIN_FAILED,
            user_id=user.id if user else None,
            reason="bad_credentials",
        )
        raise InvalidCredentials()
    if user.status == UserStatus.DISABLED:
        record(session, AuditEventType.LOGIN_FAILED, user_id=user.id, reason="disabled")
        raise AccountDisabled()
    if user.status == UserStatus.PENDING:
        record(session, AuditEventType.LOGIN_FAILED, user_id=user.id, reason="pending")
        raise AccountNotActive()
    assert user.password_hash is not None
    if hasher.needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
        record(session, AuditEventType.PASSWORD_REHASHED, user_id=user.id)
    user.last_login_at = utcnow()
    record(session, AuditEventType.LOGIN_SUCCEEDED, user_id=user.id)
    return user


# --- server-side sessions -----------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionTimeouts:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_config(cls) -> SessionTimeouts:
        cfg = current_app.config
        return cls(
            idle=timedelta(minutes=cfg["SESSION_IDLE_MINUTES"]),
            absolute=timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"]),
        )


def start_session(
    session: DbSession,
    user: User,
    *,
    amr: str = "pwd",
    ip: str | None = None,
    user_agent: str | None = None,
) -> tuple[UserSession, str]:
    """Create a server-side session; returns it and the cookie token (shown only here)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    user_session = UserSession(
        user=user,
        token_hash=_token_hash(token),
        created_at=now,
        last_seen_at=now,
        auth_time=now,
        expires_at=now + SessionTimeouts.from_config().absolute,
        amr=amr,
        ip_address=ip,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(user_session)
    return user_session, token


def rotate_session_token(user_session: UserSession) -> str:
    """New cookie token for the same session (privilege change: step-up)."""
    token = secrets.token_urlsafe(32)
    user_session.token_hash = _token_hash(token)
    return token


LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def resolve_session(
    session: DbSession, token: str, *, now: datetime | None = None
) -> UserSession | None:
    """The live session for a cookie token, or None (unknown, revoked, idle or expired).

    An expired session is marked revoked so it disappears from the user's list.
    """
    if not token:
        return None
    user_session = session.scalar(
        select(UserSession).where(UserSession.token_hash == _token_hash(token))
    )
    if user_session is None or user_session.is_revoked:
        return None
    now = now or utcnow()
    timeouts = SessionTimeouts.from_config()
    if now >= user_session.expires_at:
        _revoke(user_session, "expired", now)
        return None
    if now - user_session.last_seen_at >= timeouts.idle:
        _revoke(user_session, "idle", now)
        return None
    if not user_session.user.is_active:
        _revoke(user_session, "account_inactive", now)
        return None
    if now - user_session.last_seen_at >= LAST_SEEN_RESOLUTION:
        user_session.last_seen_at = now
    return user_session


def _revoke(user_session: UserSession, reason: str, now: datetime | None = None) -> None:
    if user_session.revoked_at is None:
        user_session.revoked_at = now or utcnow()
        user_session.revoke_reason = reason


def end_session(session: DbSession, user_session: UserSession) -> None:
    """Logout: the server-side record dies, so the old cookie is useless (SECURITY.md 15)."""
    _revoke(user_session, "logout")
    record(session, AuditEventType.LOGOUT, user_id=user_session.user_id, sid=user_session.public_id)


def active_sessions(session: DbSession, user: User) -> list[UserSession]:
    now = utcnow()
    idle = SessionTimeouts.from_config().idle
    rows = session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .where(UserSession.expires_at > now, UserSession.last_seen_at > now - idle)
        .order_by(UserSession.last_seen_at.desc())
    )
    return list(rows)


def revoke_session(session: DbSession, user: User, public_id: str) -> bool:
    """Revoke one of the user's own sessions. Another user's id is treated as unknown."""
    user_session = session.scalar(
        select(UserSession).where(
            UserSession.public_id == public_id, UserSession.user_id == user.id
        )
    )
    if user_session is None or user_session.is_revoked:
        return False
    _revoke(user_session, "revoked_by_user")
    record(session, AuditEventType.SESSION_REVOKED, user_id=user.id, sid=public_id)
    return True


def revoke_all_sessions(
    session: DbSession, user: User, *, reason: str, keep: UserSession | None = None
) -> int:
    query = update(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    result = session.execute(
        query.values(revoked_at=utcnow(), revoke_reason=reason).execution_options(
            synchronize_session="fetch"
        )
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        record(session, AuditEventType.SESSION_REVOKED, user_id=user.id, count=count, reason=reason)
    return count


# --- password reset and change ------------------------------------------------------------


def _reset_fingerprint(user: User) -> str:
    return state_fingerprint(user.subject, user.password_hash, user.status)


def request_password_reset(session: DbSession, identifier: str) -> None:
    """Queue a reset email for each account designated; the caller answers the same always."""
    for user in find_users_by_identifier(session, identifier):
        if user.status == UserStatus.DISABLED or not _may_send_email(user):
            continue
        token = reset_tokens().dumps({"sub": user.subject, "fp": _reset_fingerprint(user)})
        enqueue(
            session,
            template="password_reset",
            recipient=user.email,
            user_id=user.id,
            context={
                "user": user,
                "link": external_url("accounts.reset_password", token=token),
                "minutes": current_app.config["RESET_TOKEN_MAX_AGE"] // 60,
            },
        )
        record(session, AuditEventType.PASSWORD_RESET_REQUESTED, user_id=user.id)


def user_for_reset_token(session: DbSession, token: str) -> User:
    """Validate a reset token (signature, purpose, age, single use) and return its account."""
    data = reset_tokens().loads(token)
    user = session.scalar(select(User).where(User.subject == str(data.get("sub", ""))))
    if user is None or user.status == UserStatus.DISABLED:
        raise TokenInvalid()
    if not fingerprints_match(str(data.get("fp", "")), _reset_fingerprint(user)):
        raise TokenUsed()
    return user


def reset_password(session: DbSession, token: str, new_password: str) -> User:
    """Set a new password from a reset link: ends every session, activates a pending account."""
    user = user_for_reset_token(session, token)
    _set_password(user, new_password)
    if user.is_pending:
        _mark_active(user)
        record(session, AuditEventType.ACTIVATION, user_id=user.id, via="password_reset")
    revoke_all_sessions(session, user, reason="password_reset")
    record(session, AuditEventType.PASSWORD_RESET, user_id=user.id)
    throttling.login_failures_per_account.clear(user.username)
    return user


def change_password(
    session: DbSession, user: User, current_password: str, new_password: str, *, keep: UserSession
) -> None:
    """Change the password from "Mon compte": proves the current one, ends other sessions."""
    throttling.login_failures_per_account.check(user.username)
    if not password_hasher().verify(user.password_hash, current_password):
        # A stolen session must not become an unthrottled password oracle.
        throttling.login_failures_per_account.hit(user.username)
        raise InvalidCredentials(gettext("Le mot de passe actuel est incorrect."))
    _set_password(user, new_password)
    revoke_all_sessions(session, user, reason="password_changed", keep=keep)
    record(session, AuditEventType.PASSWORD_CHANGED, user_id=user.id)


def _set_password(user: User, new_password: str) -> None:
    check_password_policy(
        new_password,
        PasswordContext(user.username, user.email, (user.given_name, user.family_name)),
    )
    user.password_hash = password_hasher().hash(new_password)
    user.password_changed_at = utcnow()


# --- administration -----------------------------------------------------------------------


def disable_user(session: DbSession, user: User, *, reason: str = "admin") -> None:
    user.status = UserStatus.DISABLED.value
    user.disabled_at = utcnow()
    revoke_all_sessions(session, user, reason="account_disabled")
    record(session, AuditEventType.ACCOUNT_DISABLED, user_id=user.id, reason=reason)
