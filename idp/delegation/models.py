"""Delegations: an expert-comptable lets a collaborator act on the firm's behalf at partner
sites (docs/adr/0025-delegations.md).

A `Delegation` goes `requested` → `active` (approved, or granted directly) or `refused`; an
active one becomes `ended` when either side ends it. Expiry (`ends_at`) and suspension (the
grantor no longer an active expert-comptable after a registry import) are not states: they are
read at the moment of use (`idp.delegation.rules.valid_delegations`), so a registry import
suspends at once and a reinstatement restores the delegations still within their dates, with
nothing to update. A delegation granted to an email without an account waits for that account
(`grantee_email`, `grantee_id` None) and attaches when the account is activated.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.accounts.models import User
from idp.database import UTCDateTime, new_public_id, sql_in_list, utcnow
from idp.extensions import db


class DelegationStatus(enum.StrEnum):
    REQUESTED = "requested"  # the collaborator asked; the expert-comptable decides
    ACTIVE = "active"  # approved or granted: valid between starts_at and ends_at
    REFUSED = "refused"
    ENDED = "ended"  # ended early by either side


class EndReason(enum.StrEnum):
    REVOKED = "revoked"  # by the grantor
    RENOUNCED = "renounced"  # by the grantee
    WITHDRAWN = "withdrawn"  # a request withdrawn by the collaborator before a decision


class Delegation(db.Model):  # type: ignore[name-defined]
    __tablename__ = "delegations"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_in_list(DelegationStatus)})", name="status_known"),
        CheckConstraint("grantee_id IS NULL OR grantee_id <> grantor_id", name="not_to_self"),
        CheckConstraint(
            "grantee_id IS NOT NULL OR grantee_email IS NOT NULL", name="grantee_named"
        ),
        Index("ix_delegations_grantee_status", "grantee_id", "status"),
        Index("ix_delegations_grantor_status", "grantor_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    grantor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    grantee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # A grant to someone without an account yet: the address invited (lower-cased).
    grantee_email: Mapped[str | None] = mapped_column(String(254), index=True)
    status: Mapped[str] = mapped_column(String(16), default=DelegationStatus.REQUESTED.value)
    message: Mapped[str] = mapped_column(Text, default="")  # the collaborator's request
    refusal_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(16))
    expiry_notice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    grantor: Mapped[User] = relationship(foreign_keys=[grantor_id], lazy="joined")
    grantee: Mapped[User | None] = relationship(foreign_keys=[grantee_id], lazy="joined")
    services: Mapped[list[DelegationService]] = relationship(
        back_populates="delegation", cascade="all, delete-orphan", lazy="selectin"
    )

    def client_ids(self) -> list[str]:
        """The services covered: their OAuth client ids."""
        return sorted(service.client.client_id for service in self.services)


class DelegationService(db.Model):  # type: ignore[name-defined]
    """One service (an OIDC client that accepts delegations) a delegation covers."""

    __tablename__ = "delegation_services"

    delegation_id: Mapped[int] = mapped_column(
        ForeignKey("delegations.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[int] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), primary_key=True
    )

    delegation: Mapped[Delegation] = relationship(back_populates="services")
    client: Mapped[OAuthClient] = relationship(lazy="joined")


from idp.oidc.models import OAuthClient  # noqa: E402 - after the classes that name it
