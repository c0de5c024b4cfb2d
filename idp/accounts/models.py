"""Users and their server-side sessions.

`User.username` and `User.subject` never change once written: an ORM attribute event refuses
the assignment, and a database trigger refuses any UPDATE that would change them (so raw SQL,
admin scripts and other processes are covered too). See docs/adr/0004-immutable-usernames.md.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import DDL, CheckConstraint, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.base import NEVER_SET, NO_VALUE

from idp.accounts.errors import UsernameImmutable
from idp.accounts.usernames import MAX_LENGTH as USERNAME_MAX
from idp.accounts.usernames import MIN_LENGTH as USERNAME_MIN
from idp.database import UTCDateTime, new_public_id, sql_in_list, utcnow
from idp.extensions import db
from idp.profiles.catalog import Profile


class UserStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    DISABLED = "disabled"


def new_subject() -> str:
    """The OIDC `sub`: 128 random bits, opaque, never derived from the username."""
    return new_public_id(16)


class User(db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_in_list(UserStatus)})", name="status_known"),
        CheckConstraint(
            f"length(username) BETWEEN {USERNAME_MIN} AND {USERNAME_MAX}", name="username_length"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), unique=True, default=new_subject)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    profile: Mapped[str] = mapped_column(String(32), default=Profile.AUTRE.value)
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.PENDING.value)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(8), default="fr")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped whenever the password changes: a session records the epoch of the credential it
    # verified, and dies when they differ (a login racing a reset cannot outlive it).
    credential_epoch: Mapped[int] = mapped_column(default=0)
    # "Toujours demander mon second facteur": every login asks for it (idp.mfa, ADR 0022).
    mfa_always: Mapped[bool] = mapped_column(default=False)

    sessions: Mapped[list[UserSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_active(self) -> bool:
        return self.status == UserStatus.ACTIVE

    @property
    def is_pending(self) -> bool:
        return self.status == UserStatus.PENDING

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    def __repr__(self) -> str:
        return f"<User {self.username} {self.status}>"


def _refuse_change(target: User, value: Any, oldvalue: Any, initiator: Any) -> Any:
    """Allow the first assignment only (active_history loads the stored value to compare)."""
    if oldvalue in (NO_VALUE, NEVER_SET, None) or oldvalue == value:
        return value
    raise UsernameImmutable()


for _attr in ("username", "subject"):
    event.listen(getattr(User, _attr), "set", _refuse_change, retval=True, active_history=True)


# Database-level guarantee, created with the table (tests) and by the migration (deployments).
IMMUTABLE_COLUMNS_SQLITE = [
    DDL(
        f"CREATE TRIGGER users_{col}_immutable BEFORE UPDATE OF {col} ON users "
        f"WHEN NEW.{col} IS NOT OLD.{col} "
        f"BEGIN SELECT RAISE(ABORT, 'users.{col} is immutable'); END"
    )
    for col in ("username", "subject")
]
IMMUTABLE_COLUMNS_POSTGRESQL = [
    DDL(
        "CREATE OR REPLACE FUNCTION users_identity_immutable() RETURNS trigger AS $$ "
        "BEGIN "
        "IF NEW.username IS DISTINCT FROM OLD.username "
        "OR NEW.subject IS DISTINCT FROM OLD.subject THEN "
        "RAISE EXCEPTION 'users.username and users.subject are immutable'; "
        "END IF; RETURN NEW; END; $$ LANGUAGE plpgsql"
    ),
    DDL(
        "CREATE TRIGGER users_identity_immutable BEFORE UPDATE ON users "
        "FOR EACH ROW EXECUTE FUNCTION users_identity_immutable()"
    ),
]
for _ddl in IMMUTABLE_COLUMNS_SQLITE:
    event.listen(User.__table__, "after_create", _ddl.execute_if(dialect="sqlite"))
for _ddl in IMMUTABLE_COLUMNS_POSTGRESQL:
    event.listen(User.__table__, "after_create", _ddl.execute_if(dialect="postgresql"))


class UserSession(db.Model):  # type: ignore[name-defined]
    """A login on one browser. The cookie holds a random token; only its SHA-256 is stored.

    `public_id` is shown on "Mon compte" to revoke it, and will be the OIDC `sid`. A session
    ends only through `idp.accounts.sessions.end_sessions` (revoked_at and revoke_reason set,
    one audit row each).
    """

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_id_revoked_at", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    amr: Mapped[str] = mapped_column(String(64), default="pwd")
    acr: Mapped[str] = mapped_column(String(64), default="")
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(String(40))
    credential_epoch: Mapped[int] = mapped_column(default=0)

    user: Mapped[User] = relationship(back_populates="sessions")

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
