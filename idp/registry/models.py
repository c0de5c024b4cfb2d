"""The Order's registry as Sésame holds it: regional councils, registry entries, the imports
that changed them, the accounts matched with them (claims) and who administers a council.

Entries are never deleted: a council's full import marks absent entries `radie`. Each entry
names the import that last changed it. See docs/adr/0017-registry.md.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.database import UTCDateTime, new_public_id, sql_in_list, utcnow
from idp.extensions import db
from idp.registry.catalog import REGISTRATION_NUMBER_MAX, REGISTRY_CATEGORIES, RegistryStatus

# Prefix ranges on the search key must compare bytes on PostgreSQL too (idp/registry/names.py).
SearchKey = String(255).with_variant(String(255, collation="C"), "postgresql")


class RegionalCouncil(db.Model):  # type: ignore[name-defined]
    """A conseil régional de l'Ordre (CROEC). Seeded by migration 0003; data, not code."""

    __tablename__ = "regional_councils"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)  # upper case: IDF, ARA...
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(40))
    postal_address: Mapped[str] = mapped_column(String(300))
    website: Mapped[str] = mapped_column(String(200))

    def __repr__(self) -> str:
        return f"<RegionalCouncil {self.code}>"


class RegistryEntry(db.Model):  # type: ignore[name-defined]
    __tablename__ = "registry_entries"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_in_list(RegistryStatus)})", name="status_known"),
        CheckConstraint(
            f"category IN ({sql_in_list(sorted(REGISTRY_CATEGORIES))})", name="category_known"
        ),
        Index("ix_registry_entries_search_key", "search_key"),
        Index("ix_registry_entries_council_id_status", "council_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Trimmed and upper-cased (catalog.normalize_registration_number).
    registration_number: Mapped[str] = mapped_column(String(REGISTRATION_NUMBER_MAX), unique=True)
    family_name: Mapped[str] = mapped_column(String(100))
    given_names: Mapped[str] = mapped_column(String(150))
    birth_date: Mapped[date] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(254))  # lower-cased; None when unknown
    category: Mapped[str] = mapped_column(String(32))
    council_id: Mapped[int] = mapped_column(ForeignKey("regional_councils.id"))
    status: Mapped[str] = mapped_column(String(16), default=RegistryStatus.INSCRIT.value)
    firm_name: Mapped[str | None] = mapped_column(String(200))
    firm_siren: Mapped[str | None] = mapped_column(String(9))
    # names.search_key(family_name, given_names): the autocomplete's indexed prefix column.
    search_key: Mapped[str] = mapped_column(SearchKey)
    last_import_id: Mapped[int | None] = mapped_column(
        ForeignKey("registry_imports.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    council: Mapped[RegionalCouncil] = relationship(lazy="joined")

    @property
    def is_inscrit(self) -> bool:
        return self.status == RegistryStatus.INSCRIT

    def __repr__(self) -> str:
        return f"<RegistryEntry {self.registration_number} {self.status}>"


class ImportStatus(enum.StrEnum):
    PENDING = "pending"  # uploaded, waiting for a worker
    RUNNING = "running"  # being read and compared (rows_processed moves)
    PREVIEWED = "previewed"  # diff ready, waiting for confirm or cancel (web), or a dry run
    APPLIED = "applied"
    REFUSED = "refused"  # bad rows and no --allow-partial: nothing applied
    CANCELLED = "cancelled"
    FAILED = "failed"  # unreadable file or an error nobody can fix on the form


class RegistryImport(db.Model):  # type: ignore[name-defined]
    """One import of a council's file: who, when, which file, what it found and did."""

    __tablename__ = "registry_imports"
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_in_list(ImportStatus)})", name="status_known"),
        Index("ix_registry_imports_council_id_created_at", "council_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    council_id: Mapped[int] = mapped_column(ForeignKey("regional_councils.id"))
    actor_kind: Mapped[str] = mapped_column(String(16))  # audit ActorKind: user or cli
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_size: Mapped[int] = mapped_column(default=0)
    full: Mapped[bool] = mapped_column(default=False)
    allow_partial: Mapped[bool] = mapped_column(default=False)
    dry_run: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Progress and counts (rows are data rows, the header excluded).
    rows_processed: Mapped[int] = mapped_column(default=0)
    rows_total: Mapped[int | None] = mapped_column()
    added: Mapped[int] = mapped_column(default=0)
    changed: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    struck_off: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    # What the page shows: detected encoding, separator, ignored columns, first errors...
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The whole report as CSV text (formula injection neutralised when it is written).
    report_csv: Mapped[str] = mapped_column(Text, default="")

    council: Mapped[RegionalCouncil] = relationship(lazy="joined")


class RegistryImportUpload(db.Model):  # type: ignore[name-defined]
    """The uploaded file of a web import, kept in the database between preview and confirm
    (any app process may confirm it), and deleted once the import is applied or cancelled."""

    __tablename__ = "registry_import_uploads"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("registry_imports.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ProfileClaim(db.Model):  # type: ignore[name-defined]
    """An account matched with a registry entry. One account per entry (unique index, mapped
    to its own error). The claim counts only while the entry is `inscrit`: a struck-off or
    suspended member loses it at once (docs/adr/0010-profiles.md)."""

    __tablename__ = "profile_claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    registry_entry_id: Mapped[int] = mapped_column(ForeignKey("registry_entries.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    entry: Mapped[RegistryEntry] = relationship(lazy="joined")

    @property
    def is_live(self) -> bool:
        return self.entry.is_inscrit


class CouncilAdministrator(db.Model):  # type: ignore[name-defined]
    """A role: the account imports the registry of one council, or of every council when
    `council_id` is NULL (the Order's national administrators)."""

    __tablename__ = "council_administrators"
    __table_args__ = (UniqueConstraint("user_id", "council_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    council_id: Mapped[int | None] = mapped_column(
        ForeignKey("regional_councils.id", ondelete="CASCADE")
    )
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    council: Mapped[RegionalCouncil | None] = relationship(lazy="joined")

    @property
    def is_national(self) -> bool:
        return self.council_id is None


def _seed_councils(target: Any, connection: Any, **kwargs: Any) -> None:
    from idp.registry.councils_seed import COUNCILS

    connection.execute(target.insert(), [dict(council) for council in COUNCILS])


event.listen(RegionalCouncil.__table__, "after_create", _seed_councils)
