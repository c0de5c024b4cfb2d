"""The audit table."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.database import UTCDateTime, utcnow
from idp.extensions import db


class AuditEventType(enum.StrEnum):
    SIGNUP = "signup"
    ACTIVATION = "activation"
    ACTIVATION_EMAIL_SENT = "activation_email_sent"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGIN_THROTTLED = "login_throttled"
    LOGOUT = "logout"
    SESSION_REVOKED = "session_revoked"
    PASSWORD_RESET_REQUESTED = "password_reset_requested"
    PASSWORD_RESET = "password_reset"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_REHASHED = "password_rehashed"
    ACCOUNT_CREATED_BY_ADMIN = "account_created_by_admin"
    ACCOUNT_DISABLED = "account_disabled"


class AuditEvent(db.Model):  # type: ignore[name-defined]
    """One security event. `user_id` is empty when no account is known (unknown username)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_user_id_occurred_at", "user_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    event_type: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
