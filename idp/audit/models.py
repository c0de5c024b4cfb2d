"""The audit table: who did what to which account, when, from where."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.database import UTCDateTime, sql_in_list, utcnow
from idp.extensions import db


class AuditEventType(enum.StrEnum):
    SIGNUP = "signup"
    SIGNUP_EMAIL_ALREADY_USED = "signup_email_already_used"
    ACTIVATION = "activation"
    ACTIVATION_EMAIL_SENT = "activation_email_sent"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGIN_THROTTLED = "login_throttled"
    LOGOUT = "logout"
    SESSION_REVOKED = "session_revoked"
    SESSION_ENDED = "session_ended"
    PASSWORD_RESET_REQUESTED = "password_reset_requested"
    PASSWORD_RESET = "password_reset"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_REHASHED = "password_rehashed"
    USERNAME_REMINDER_SENT = "username_reminder_sent"
    ACCOUNT_CREATED_BY_ADMIN = "account_created_by_admin"
    ACCOUNT_DISABLED = "account_disabled"
    PENDING_ACCOUNT_EXPIRED = "pending_account_expired"
    OUTBOX_RETRIED = "outbox_retried"
    REGISTRY_MATCH_FAILED = "registry_match_failed"
    REGISTRY_MATCH_LOCKED = "registry_match_locked"
    REGISTRY_CLAIM_CREATED = "registry_claim_created"
    REGISTRY_CLAIM_LOST = "registry_claim_lost"
    REGISTRY_CLAIM_RESTORED = "registry_claim_restored"
    REGISTRY_IMPORT_APPLIED = "registry_import_applied"
    COUNCIL_ROLE_GRANTED = "council_role_granted"
    COUNCIL_ROLE_REVOKED = "council_role_revoked"
    OIDC_CLIENT_CREATED = "oidc_client_created"
    OIDC_CLIENT_SECRET_ROTATED = "oidc_client_secret_rotated"
    OIDC_CLIENT_REMOVED = "oidc_client_removed"
    OIDC_SIGNING_KEYS_ROTATED = "oidc_signing_keys_rotated"
    OIDC_ACCESS_WITHDRAWN = "oidc_access_withdrawn"  # « Retirer l'accès » on « Mon compte »
    OIDC_CLIENT_UPDATED = "oidc_client_updated"
    # Second factors (ADR 0022)
    TOTP_ADDED = "totp_added"
    TOTP_REMOVED = "totp_removed"
    RECOVERY_CODES_GENERATED = "recovery_codes_generated"
    RECOVERY_CODE_USED = "recovery_code_used"
    PASSKEY_ADDED = "passkey_added"
    PASSKEY_REMOVED = "passkey_removed"
    PASSKEY_RENAMED = "passkey_renamed"
    PASSKEY_LOGIN = "passkey_login"  # a passkey as the only factor of a login
    SECOND_FACTOR_PASSED = "second_factor_passed"  # a login or step-up with a second factor
    SECOND_FACTOR_FAILED = "second_factor_failed"
    SECOND_FACTOR_THROTTLED = "second_factor_throttled"
    REAUTHENTICATED = "reauthenticated"  # "Confirmez votre identité" before a factor change
    MFA_ALWAYS_CHANGED = "mfa_always_changed"
    MFA_RESET = "mfa_reset"  # every factor removed by the Order's administrators
    MFA_PROFILE_POLICY_CHANGED = "mfa_profile_policy_changed"
    # Delegations (ADR 0025): one event on each party's account
    DELEGATION_REQUESTED = "delegation_requested"
    DELEGATION_APPROVED = "delegation_approved"
    DELEGATION_REFUSED = "delegation_refused"
    DELEGATION_GRANTED = "delegation_granted"
    DELEGATION_ENDED = "delegation_ended"
    DELEGATION_ATTACHED = "delegation_attached"  # a grant to an email, its account activated
    TOKEN_EXCHANGED = "token_exchanged"  # RFC 8693: a token acting for the grantor


class ActorKind(enum.StrEnum):
    """Who acted. `user` names an account (`actor_id`); the others are not accounts."""

    USER = "user"
    ANONYMOUS = "anonymous"  # someone not logged in (a login attempt, a signup)
    CLI = "cli"  # an operator on the server's command line
    SYSTEM = "system"  # the application itself (timeouts, expiry, workers)


class AuditEvent(db.Model):  # type: ignore[name-defined]
    """One security event.

    `subject_id` is the account the event is about (empty when none is known: an unknown
    username); the actor is who made it happen: the subject themself, another account (an
    administrator, later a council or a delegate), the CLI or the system.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject_id_occurred_at", "subject_id", "occurred_at"),
        CheckConstraint(
            f"actor_kind IN ({sql_in_list(ActorKind)})",
            name="actor_kind_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    event_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_kind: Mapped[str] = mapped_column(String(16), default=ActorKind.SYSTEM.value)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    @property
    def acted_by_subject(self) -> bool:
        return self.actor_kind == ActorKind.USER and self.actor_id == self.subject_id
