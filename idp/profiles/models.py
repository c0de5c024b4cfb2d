"""What a signup by profile stores beside the account: the AGC of a président or directeur
d'AGC (the registry claims live in idp/registry/models.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.database import UTCDateTime, utcnow
from idp.extensions import db


class AgcDirector(db.Model):  # type: ignore[name-defined]
    """The approved management association (AGC) an account presides or directs, as typed at
    signup (name and SIREN, Luhn-checked). One per account."""

    __tablename__ = "agc_directors"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    agc_name: Mapped[str] = mapped_column(String(200))
    siren: Mapped[str] = mapped_column(String(9))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
