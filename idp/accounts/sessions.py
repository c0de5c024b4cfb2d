"""Server-side sessions: start, find, rotate, list, and the one way a session ends.

A session ends only through `end_sessions`: it marks each session revoked with its reason,
writes one audit row per session, and returns what it ended (public ids, for back-channel
logout). Every path uses it: logout, "Fermer" on "Mon compte", "close the others", a password
reset or change, a disabled account, a new login in the same browser, timeouts, and a
credential that changed since the session's login. See docs/adr/0002-server-side-sessions.md.

Nothing here commits: the caller's unit of work does.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from idp.accounts.models import User, UserSession
from idp.audit.models import AuditEventType
from idp.audit.services import Actor, record
from idp.config import settings
from idp.database import DbSession, utcnow

# last_seen_at is written at most this often (one write per minute per active session).
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


class EndReason(enum.StrEnum):
    LOGOUT = "logout"
    REVOKED_BY_USER = "revoked_by_user"
    REPLACED = "replaced"  # a new login in the same browser
    PASSWORD_RESET = "password_reset"
    PASSWORD_CHANGED = "password_changed"
    CREDENTIAL_CHANGED = "credential_changed"  # the password changed after this login began
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_INACTIVE = "account_inactive"
    IDLE = "idle"
    EXPIRED = "expired"


@dataclass(frozen=True)
class EndedSession:
    public_id: str
    user_id: int
    reason: EndReason


@dataclass(frozen=True)
class SessionTimeouts:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def current(cls) -> SessionTimeouts:
        cfg = settings()
        return cls(idle=cfg.session_idle, absolute=cfg.session_absolute)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    session: DbSession,
    user: User,
    *,
    credential_epoch: int,
    amr: str = "pwd",
    acr: str = "",
    ip: str | None = None,
    user_agent: str | None = None,
) -> tuple[UserSession, str]:
    """Create a server-side session; returns it and the cookie token (shown only here).

    `credential_epoch` is the user's epoch as read *before* the credential was verified.
    """
    token = secrets.token_urlsafe(32)
    now = utcnow()
    user_session = UserSession(
        user=user,
        token_hash=token_digest(token),
        created_at=now,
        last_seen_at=now,
        auth_time=now,
        expires_at=now + SessionTimeouts.current().absolute,
        amr=amr,
        acr=acr,
        ip_address=ip,
        user_agent=(user_agent or "")[:300] or None,
        credential_epoch=credential_epoch,
    )
    session.add(user_session)
    return user_session, token


def rotate_session_token(user_session: UserSession) -> str:
    """New cookie token for the same session (privilege change: step-up)."""
    token = secrets.token_urlsafe(32)
    user_session.token_hash = token_digest(token)
    return token


@dataclass(frozen=True)
class Lookup:
    """What a cookie token designates: a live session, or one that must now end (`ending`)."""

    live: UserSession | None = None
    ending: UserSession | None = None
    reason: EndReason | None = None


def find_session(session: DbSession, token: str, *, now: datetime | None = None) -> Lookup:
    """Resolve a cookie token without writing anything.

    An idle, expired, inactive-account or credential-changed session is returned as `ending`
    with its reason: the request treats it as anonymous, and ends it (`end_sessions`) in its
    own unit of work.
    """
    if not token:
        return Lookup()
    user_session = session.scalar(
        select(UserSession).where(UserSession.token_hash == token_digest(token))
    )
    if user_session is None or user_session.is_revoked:
        return Lookup()
    reason = _ending_reason(user_session, now or utcnow())
    if reason is not None:
        return Lookup(ending=user_session, reason=reason)
    return Lookup(live=user_session)


def _ending_reason(user_session: UserSession, now: datetime) -> EndReason | None:
    if now >= user_session.expires_at:
        return EndReason.EXPIRED
    if now - user_session.last_seen_at >= SessionTimeouts.current().idle:
        return EndReason.IDLE
    user = user_session.user
    if not user.is_active:
        return EndReason.ACCOUNT_INACTIVE
    if user_session.credential_epoch != user.credential_epoch:
        return EndReason.CREDENTIAL_CHANGED
    return None


def needs_touch(user_session: UserSession, *, now: datetime | None = None) -> bool:
    return (now or utcnow()) - user_session.last_seen_at >= LAST_SEEN_RESOLUTION


def end_sessions(
    session: DbSession,
    sessions: list[UserSession],
    *,
    reason: EndReason,
    actor: Actor | None = None,
) -> list[EndedSession]:
    """End each live session given: the one way a session ends. Returns what was ended."""
    now = utcnow()
    ended = []
    for user_session in sessions:
        if user_session.revoked_at is not None:
            continue
        user_session.revoked_at = now
        user_session.revoke_reason = reason.value
        record(
            session,
            AuditEventType.SESSION_ENDED,
            subject=user_session.user,
            actor=actor,
            sid=user_session.public_id,
            reason=reason.value,
        )
        ended.append(EndedSession(user_session.public_id, user_session.user_id, reason))
    if ended:
        # The OpenID provider's part: the sessions' grants revoked and back-channel logouts
        # queued, in this same transaction (imported here: idp.oidc imports this module).
        from idp.oidc.logout import on_sessions_ended

        on_sessions_ended(session, ended)
    return ended


def end_timed_out_sessions(
    session: DbSession, *, now: datetime | None = None, limit: int = 500
) -> list[EndedSession]:
    """End the sessions whose absolute or idle timeout passed without a request noticing it
    (the browser never came back): their grants are revoked and their partner sites told by
    back-channel logout, as for any other end. Run periodically by the logout worker; at most
    `limit` sessions per call. The caller commits."""
    now = now or utcnow()
    idle = SessionTimeouts.current().idle
    rows = list(
        session.scalars(
            select(UserSession)
            .where(UserSession.revoked_at.is_(None))
            .where(or_(UserSession.expires_at <= now, UserSession.last_seen_at <= now - idle))
            .order_by(UserSession.id)
            .limit(limit)
        )
    )
    expired = [row for row in rows if now >= row.expires_at]
    idle_rows = [row for row in rows if now < row.expires_at]
    return end_sessions(session, expired, reason=EndReason.EXPIRED) + end_sessions(
        session, idle_rows, reason=EndReason.IDLE
    )


def live_sessions_of(session: DbSession, user: User) -> list[UserSession]:
    """Every session of the user not yet ended (including idle ones not yet noticed)."""
    return list(
        session.scalars(
            select(UserSession).where(
                UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
            )
        )
    )


def end_all_sessions(
    session: DbSession,
    user: User,
    *,
    reason: EndReason,
    keep: UserSession | None = None,
    actor: Actor | None = None,
) -> list[EndedSession]:
    """End every session of the user, but `keep` (the one making the change)."""
    targets = [s for s in live_sessions_of(session, user) if keep is None or s.id != keep.id]
    return end_sessions(session, targets, reason=reason, actor=actor)


def end_own_session(session: DbSession, user: User, public_id: str) -> EndedSession | None:
    """End one of the user's own sessions by public id; another user's id is unknown."""
    user_session = session.scalar(
        select(UserSession).where(
            UserSession.public_id == public_id[:64],
            UserSession.user_id == user.id,
            UserSession.revoked_at.is_(None),
        )
    )
    if user_session is None:
        return None
    (ended,) = end_sessions(session, [user_session], reason=EndReason.REVOKED_BY_USER)
    return ended


def active_sessions(
    session: DbSession, user: User, *, current: UserSession | None = None
) -> list[UserSession]:
    """The sessions shown on "Mon compte": the current one first, then by last activity."""
    now = utcnow()
    idle = SessionTimeouts.current().idle
    rows = list(
        session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
            .where(UserSession.expires_at > now, UserSession.last_seen_at > now - idle)
            .where(UserSession.credential_epoch == user.credential_epoch)
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
    )
    rows.sort(key=lambda s: current is None or s.id != current.id)
    return rows
