"""Second factors of an account, and the Order's per-profile MFA policy (ADR 0022).

- `TotpCredential`: at most one per account; its secret sealed at rest; `confirmed_at` is None
  while enrolment waits for a first code; `last_used_step` makes every code single use.
- `RecoveryCode`: ten per batch, SHA-256 of a 60-bit random code (a slow hash adds nothing
  for random secrets: docs/security.md 28's reasoning); `used_at` set once.
- `Passkey`: a WebAuthn credential (discoverable), with its public key, sign counter, and the
  name its owner gave it.
- `MfaProfilePolicy`: a profile whose holders always need a second factor at partner sites.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.database import UTCDateTime, utcnow
from idp.extensions import db
from idp.mail.models import SealedText

TOTP_SECRET_PURPOSE = "sesame.totp-secrets"  # noqa: S105 - a key-derivation label


class TotpCredential(db.Model):  # type: ignore[name-defined]
    __tablename__ = "mfa_totp_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret: Mapped[str] = mapped_column(SealedText(TOTP_SECRET_PURPOSE))  # base32
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The highest 30-second step accepted so far: a code of that step or an earlier one is
    # refused (replay), with one conditional UPDATE (two concurrent uses: one wins).
    last_used_step: Mapped[int] = mapped_column(default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


class RecoveryCode(db.Model):  # type: ignore[name-defined]
    __tablename__ = "mfa_recovery_codes"
    __table_args__ = (Index("ix_mfa_recovery_codes_user_id_used_at", "user_id", "used_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Passkey(db.Model):  # type: ignore[name-defined]
    __tablename__ = "mfa_passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1024), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(2048))
    sign_count: Mapped[int] = mapped_column(default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    name: Mapped[str] = mapped_column(String(60))
    aaguid: Mapped[str] = mapped_column(String(36), default="")
    # Synced passkeys (backed up) count as software keys (`swk`), device-bound as `hwk`.
    backed_up: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def amr(self) -> str:
        return "swk" if self.backed_up else "hwk"


class MfaProfilePolicy(db.Model):  # type: ignore[name-defined]
    """Holders of `profile` need a second factor at every partner site (set by the Order)."""

    __tablename__ = "mfa_profile_policies"

    profile: Mapped[str] = mapped_column(String(32), primary_key=True)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class WebauthnChallenge(db.Model):  # type: ignore[name-defined]
    """A WebAuthn ceremony's challenge, kept server-side until used once (a DELETE decides:
    two answers to one challenge, one wins) or until `expires_at`."""

    __tablename__ = "mfa_webauthn_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge: Mapped[str] = mapped_column(String(128), unique=True)  # base64url
    purpose: Mapped[str] = mapped_column(String(16))  # register, login, second_factor
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
