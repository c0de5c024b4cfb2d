"""The outbox: a message is a row written in the same transaction as the change it announces.

Bodies hold live links (activation, password reset) until the message is sent, then they are
blanked. While they wait (pending, or failed and kept for an operator's retry) they are sealed:
encrypted with a key derived from SECRET_KEY, so a database backup or leak yields no usable
link. A body sealed under a previous SECRET_KEY reads as empty, and its message is given up.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import logging
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import ForeignKey, Index, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from idp.database import UTCDateTime, utcnow
from idp.extensions import db

log = logging.getLogger("idp.mail")
_SEALED_PREFIX = "sealed:"


def _fernet(purpose: str) -> Fernet:
    secret = current_app.extensions["sesame.settings"].secret_key
    digest = hashlib.sha256(purpose.encode() + b"\x00" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class SealedText(TypeDecorator[str]):
    """Text encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256) under a key derived from
    SECRET_KEY for one `purpose`; the empty string stays empty (a sent message's blanked
    body). Also seals the TOTP secrets (idp.mfa.models)."""

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str = "sesame.outbox-bodies") -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if not value:
            return value
        return _SEALED_PREFIX + _fernet(self.purpose).encrypt(value.encode()).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if not value or not str(value).startswith(_SEALED_PREFIX):
            return value
        try:
            sealed = str(value)[len(_SEALED_PREFIX) :].encode()
            return _fernet(self.purpose).decrypt(sealed).decode()
        except InvalidToken:
            log.warning("a value sealed (%s) under another SECRET_KEY", self.purpose)
            return ""


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after MAIL_MAX_ATTEMPTS; kept for an operator to retry


class OutboxMessage(db.Model):  # type: ignore[name-defined]
    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    template: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(SealedText())
    body_html: Mapped[str] = mapped_column(SealedText())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
