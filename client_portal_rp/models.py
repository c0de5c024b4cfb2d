"""The portal's tables: firms, their client companies, the people who use them, and what they
exchange (deposits, missing-piece requests, archives), with the company's audit list and the
email outbox. Design: docs/adr/0024-client-portal.md.

Tenancy: a firm (cabinet) has client companies; a person (`PortalUser`, known by the IdP `sub`)
is firm staff of a firm and/or a member of companies (admin or user, with module rights). Every
object a URL names carries an unguessable `public_id` and its `company_id`: a lookup always
filters by both (client_portal_rp/tenancy.py), so another company's id is a 404.
"""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, date, datetime
from typing import Any

from flask_babel import lazy_gettext
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from client_portal_rp.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_public_id() -> str:
    """128 random bits, URL-safe: ids in URLs are not guessable (SECURITY.md 46)."""
    return secrets.token_urlsafe(16)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Module(enum.StrEnum):
    """The services of the client space, as the profession's guides name them."""

    DEPOSIT = "depot"
    COMPTA = "compta"
    ARCHIVES = "archives"

    @property
    def label(self) -> str:
        return str(MODULE_LABELS[self])


MODULE_LABELS = {
    Module.DEPOSIT: lazy_gettext("Déposez vos documents"),
    Module.COMPTA: lazy_gettext("Consultez votre compta en ligne"),
    Module.ARCHIVES: lazy_gettext("Accédez à vos archives"),
}
# "Sécurité avancée" by default (configurable per company).
DEFAULT_ADVANCED_MODULES = (Module.COMPTA, Module.ARCHIVES)


class Role(enum.StrEnum):
    ADMIN = "admin"  # a company admin: « Administrez vos accès »
    USER = "user"


class DepositStatus(enum.StrEnum):
    DEPOSITED = "depose"
    TAKEN = "pris_en_charge"
    PROCESSED = "traite"

    @property
    def label(self) -> str:
        return str(
            {
                DepositStatus.DEPOSITED: lazy_gettext("Déposé"),
                DepositStatus.TAKEN: lazy_gettext("Pris en charge"),
                DepositStatus.PROCESSED: lazy_gettext("Traité"),
            }[self]
        )


class Processing(enum.StrEnum):
    """The photo job's state (client_portal_rp/jobs.py): renditions, GPS removal, thumbnail."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    NONE = "none"  # nothing to do (PDF, CSV, XLSX)


class ArchiveFolder(enum.StrEnum):
    COMPTABLES = "comptables"
    JURIDIQUES = "juridiques"
    FISCAUX = "fiscaux"

    @property
    def label(self) -> str:
        return str(
            {
                ArchiveFolder.COMPTABLES: lazy_gettext("Documents comptables"),
                ArchiveFolder.JURIDIQUES: lazy_gettext("Documents juridiques"),
                ArchiveFolder.FISCAUX: lazy_gettext("Documents fiscaux"),
            }[self]
        )


def _check_in(column: str, values: type[enum.Enum]) -> str:
    return f"{column} IN ({', '.join(repr(str(m.value)) for m in values)})"


class Firm(db.Model):  # type: ignore[name-defined]
    __tablename__ = "firms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    companies: Mapped[list[Company]] = relationship(back_populates="firm")


class Company(db.Model):  # type: ignore[name-defined]
    """A client company of a firm (raison sociale, SIREN, current exercice)."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    siren: Mapped[str] = mapped_column(String(9), unique=True)
    exercice_start: Mapped[date | None] = mapped_column(Date)
    exercice_end: Mapped[date | None] = mapped_column(Date)
    # Comma-separated Module values that need "Sécurité avancée" (MFA at the IdP).
    advanced_modules: Mapped[str] = mapped_column(
        String(100), default=",".join(m.value for m in DEFAULT_ADVANCED_MODULES)
    )
    # The local part of the company's deposit address (mail an invoice to it).
    mailbox_token: Mapped[str] = mapped_column(
        String(40), unique=True, default=lambda: secrets.token_hex(8)
    )
    # Agreed payment terms in days from the invoice date: due date of an open item whose
    # invoice gives none (échéancier, docs/adr/0027). 30 when nothing is agreed, at most 60
    # (Code de commerce L441-10).
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    firm: Mapped[Firm] = relationship(back_populates="companies")

    def advanced(self) -> set[Module]:
        return {
            Module(v) for v in self.advanced_modules.split(",") if v in Module._value2member_map_
        }


class PortalUser(db.Model):  # type: ignore[name-defined]
    """A person, known by the IdP `sub`; email and name refreshed from each login's claims."""

    __tablename__ = "portal_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    subject: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    # The IdP said the email is verified (ID token `email_verified`): only then is it trusted
    # to prove who mails the company's deposit address.
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FirmStaff(db.Model):  # type: ignore[name-defined]
    """Firm staff see and serve every company of their firm."""

    __tablename__ = "firm_staff"
    __table_args__ = (UniqueConstraint("firm_id", "user_id", name="uq_firm_staff_firm_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    firm: Mapped[Firm] = relationship()
    user: Mapped[PortalUser] = relationship()


class Membership(db.Model):  # type: ignore[name-defined]
    """A person's access to a company: role and module rights (checked on every request)."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("company_id", "user_id", name="uq_memberships_company_user"),
        CheckConstraint(_check_in("role", Role), name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_users.id"), index=True)
    role: Mapped[str] = mapped_column(String(10), default=Role.USER.value)
    can_deposit: Mapped[bool] = mapped_column(Boolean, default=False)
    can_compta: Mapped[bool] = mapped_column(Boolean, default=False)
    can_archives: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    company: Mapped[Company] = relationship()
    user: Mapped[PortalUser] = relationship()

    def modules(self) -> set[Module]:
        return {
            module
            for module, granted in (
                (Module.DEPOSIT, self.can_deposit),
                (Module.COMPTA, self.can_compta),
                (Module.ARCHIVES, self.can_archives),
            )
            if granted
        }

    def set_modules(self, modules: set[Module]) -> None:
        self.can_deposit = Module.DEPOSIT in modules
        self.can_compta = Module.COMPTA in modules
        self.can_archives = Module.ARCHIVES in modules


class Invitation(db.Model):  # type: ignore[name-defined]
    """An invitation by email to a company (role + modules) or to a firm's staff (company
    None). The email's link carries a random token; only its SHA-256 is stored."""

    __tablename__ = "invitations"
    __table_args__ = (CheckConstraint(_check_in("role", Role), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)  # lower-cased
    name: Mapped[str] = mapped_column(String(300), default="")
    role: Mapped[str] = mapped_column(String(10), default=Role.USER.value)
    modules: Mapped[str] = mapped_column(String(100), default="")  # comma-separated Module
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("portal_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("portal_users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    company: Mapped[Company | None] = relationship()
    firm: Mapped[Firm] = relationship()

    def module_set(self) -> set[Module]:
        return {Module(v) for v in self.modules.split(",") if v in Module._value2member_map_}


class DepositType(db.Model):  # type: ignore[name-defined]
    """The kinds of deposit a firm offers (per firm: Factures achats, Factures ventes, ...).
    `data` types accept CSV/XLSX; the others, documents (PDF and images)."""

    __tablename__ = "deposit_types"
    __table_args__ = (UniqueConstraint("firm_id", "code", name="uq_deposit_types_firm_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(120))
    data: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "extract, translate later"
    """Marks a msgid for extraction; the label is stored in French and translated when shown
    (`_(deposit_type.label)` in the templates)."""
    return message


DEFAULT_DEPOSIT_TYPES = (
    ("achats", N_("Factures achats"), False),
    ("ventes", N_("Factures ventes"), False),
    ("divers", N_("Divers – opérations diverses"), False),
    ("donnees", N_("Données"), True),
)


class PieceRequest(db.Model):  # type: ignore[name-defined]
    """The firm asks a client for a missing piece; shown on the client's page and emailed,
    with a monthly reminder until a deposit answers it or the firm closes it."""

    __tablename__ = "piece_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    asked_by_id: Mapped[int | None] = mapped_column(ForeignKey("portal_users.id"))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    company: Mapped[Company] = relationship()
    asked_by: Mapped[PortalUser | None] = relationship()


class Deposit(db.Model):  # type: ignore[name-defined]
    """A file a client deposited. Stored by content (SHA-256) in the blob store; the name is
    kept for display only, never used on disk (SECURITY.md 49)."""

    __tablename__ = "deposits"
    __table_args__ = (
        Index("ix_deposits_company_piece_key", "company_id", "piece_key"),
        CheckConstraint(_check_in("status", DepositStatus), name="status"),
        CheckConstraint(_check_in("processing", Processing), name="processing"),
        Index("ix_deposits_company_created", "company_id", "created_at"),
        Index("ix_deposits_company_sha256", "company_id", "sha256"),
        # A deposit sent again with its Idempotency-Key (the app's offline queue, the API) is
        # the same deposit: one row per key and person in a company (ADR 0026).
        Index(
            "uq_deposits_idempotency",
            "company_id",
            "uploaded_by_id",
            "idempotency_key",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    deposit_type_id: Mapped[int] = mapped_column(ForeignKey("deposit_types.id"))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("portal_users.id"))
    source: Mapped[str] = mapped_column(String(10), default="web")  # web, email
    filename: Mapped[str] = mapped_column(String(200))  # safe display name
    kind: Mapped[str] = mapped_column(String(10))  # client_portal_rp.files.FileKind value
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # of the bytes received
    blob_sha256: Mapped[str] = mapped_column(String(64))  # what is served (GPS removed)
    rendition_sha256: Mapped[str | None] = mapped_column(String(64))  # JPEG of a HEIC/TIFF
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(64))
    processing: Mapped[str] = mapped_column(String(10), default=Processing.NONE.value)
    comment: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=DepositStatus.DEPOSITED.value)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    taken_by_id: Mapped[int | None] = mapped_column(ForeignKey("portal_users.id"))
    firm_note: Mapped[str] = mapped_column(Text, default="")
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("deposits.id"))
    piece_request_id: Mapped[int | None] = mapped_column(ForeignKey("piece_requests.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    # The accounting piece reference (FEC PieceRef) this document is: typed at deposit, read
    # from an e-invoice's number, or set by the firm. `piece_key` is its lookup form
    # (client_portal_rp.fec.refs.piece_key); the drill-down reads it (docs/adr/0027).
    piece_ref: Mapped[str] = mapped_column(String(100), default="", server_default="")
    piece_key: Mapped[str] = mapped_column(String(100), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    company: Mapped[Company] = relationship()
    deposit_type: Mapped[DepositType] = relationship()
    uploaded_by: Mapped[PortalUser | None] = relationship(foreign_keys=[uploaded_by_id])
    taken_by: Mapped[PortalUser | None] = relationship(foreign_keys=[taken_by_id])
    duplicate_of: Mapped[Deposit | None] = relationship(remote_side=[id])


class ArchiveDocument(db.Model):  # type: ignore[name-defined]
    """A document the firm published to a company (folder, exercice). Kept 10 years: removing
    a user never removes documents (SECURITY.md 51)."""

    __tablename__ = "archive_documents"
    __table_args__ = (
        Index("ix_archive_documents_company_published", "company_id", "published_at"),
        Index("ix_archive_documents_company_folder", "company_id", "folder", "published_at"),
        # Folder counts and exercices of a search read this index alone (bench/portal_archives.py)
        Index(
            "ix_archive_documents_company_search", "company_id", "folder", "exercice", "search_name"
        ),
        CheckConstraint(_check_in("folder", ArchiveFolder), name="folder"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    folder: Mapped[str] = mapped_column(String(20))
    exercice: Mapped[int] = mapped_column(Integer)  # the year the exercice closes
    filename: Mapped[str] = mapped_column(String(200))  # safe display name
    search_name: Mapped[str] = mapped_column(String(200))  # lower-cased, accents removed
    kind: Mapped[str] = mapped_column(String(10))
    size: Mapped[int] = mapped_column(BigInteger)
    blob_sha256: Mapped[str] = mapped_column(String(64))
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("portal_users.id"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    company: Mapped[Company] = relationship()


class AuditEvent(db.Model):  # type: ignore[name-defined]
    """The company's audit list: who changed what (accesses, deposits, archives)."""

    __tablename__ = "portal_audit"
    __table_args__ = (Index("ix_portal_audit_company_at", "company_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    firm_id: Mapped[int | None] = mapped_column(ForeignKey("firms.id"))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("portal_users.id"))
    actor_label: Mapped[str] = mapped_column(String(300), default="")  # name at the time, or CLI
    action: Mapped[str] = mapped_column(String(60))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(db.Model):  # type: ignore[name-defined]
    """An email waiting to be sent (client_portal_rp/mail.py): written in the transaction of
    the change it announces, sent after the answer; an SMTP outage loses nothing."""

    __tablename__ = "portal_outbox"
    __table_args__ = (Index("ix_portal_outbox_due", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")


class DepositInvoice(db.Model):  # type: ignore[name-defined]
    """What an electronic invoice (Factur-X PDF, CII or UBL XML) deposited by a client says,
    in EN 16931 terms (client_portal_rp/einvoices.py). `error` is the French reason when the
    file claimed to be an e-invoice and could not be read; the figures are then empty."""

    __tablename__ = "deposit_invoices"
    __table_args__ = (Index("ix_deposit_invoices_company_number", "company_id", "number_key"),)

    deposit_id: Mapped[int] = mapped_column(ForeignKey("deposits.id"), primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    source: Mapped[str] = mapped_column(String(10))  # "facturx" (PDF) or "xml"
    syntax: Mapped[str] = mapped_column(String(10), default="")  # "CII" or "UBL"
    profile: Mapped[str] = mapped_column(String(100), default="")  # guideline id
    supplier_name: Mapped[str] = mapped_column(String(300), default="")
    supplier_siren: Mapped[str] = mapped_column(String(9), default="")
    invoice_number: Mapped[str] = mapped_column(String(100), default="")
    number_key: Mapped[str] = mapped_column(String(100), default="")
    issue_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="")
    total_ht: Mapped[int | None] = mapped_column(BigInteger)  # cents
    total_tva: Mapped[int | None] = mapped_column(BigInteger)
    total_ttc: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str] = mapped_column(Text, default="")
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    deposit: Mapped[Deposit] = relationship(backref=backref("invoice", uselist=False))


class FecImport(db.Model):  # type: ignore[name-defined]
    """One imported FEC: a company's exercice (identified by the year it closes). Importing the
    exercice again replaces this row and everything computed from it in one transaction
    (client_portal_rp/fec/, docs/adr/0027). Amounts are integer cents, never floats."""

    __tablename__ = "fec_imports"
    __table_args__ = (
        UniqueConstraint("company_id", "exercice", name="uq_fec_imports_company_exercice"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    exercice: Mapped[int] = mapped_column(Integer)  # the year the exercice closes
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # also the échéancier's reporting date
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    # How the file was written (shown on the firm's report): "UTF-8", "UTF-8 (BOM)" or
    # "ISO-8859-15"; "\t" or "|"; its columns (18, 21, 22); "Debit/Credit" or "Montant/Sens".
    encoding: Mapped[str] = mapped_column(String(20), default="")
    separator: Mapped[str] = mapped_column(String(1), default="")
    column_count: Mapped[int] = mapped_column(Integer, default=0)
    amounts: Mapped[str] = mapped_column(String(20), default="")
    line_count: Mapped[int] = mapped_column(Integer)
    entry_count: Mapped[int] = mapped_column(Integer)
    total_debit: Mapped[int] = mapped_column(BigInteger)  # cents
    total_credit: Mapped[int] = mapped_column(BigInteger)
    unbalanced_entries: Mapped[int] = mapped_column(Integer, default=0)
    # Exercice totals: {indicator name: cents} (client_portal_rp.fec.indicators.KEYS).
    totals: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # [{"line": int | None, "message": str}] in French, at most fec.importer.MAX_WARNINGS.
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    warning_count: Mapped[int] = mapped_column(Integer, default=0)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("portal_users.id"))
    imported_by_label: Mapped[str] = mapped_column(String(300), default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    company: Mapped[Company] = relationship()


class FecLineBlock(db.Model):  # type: ignore[name-defined]
    """The lines of one third party of an import, for the drill-down only (indicator pages
    never read them): `BLOCK_LINES` lines per row, in date order, as one string of
    records (client_portal_rp/fec/lines.py reads them). One row per block rather than per line: an
    import writes thousands of rows, not a million (ADR 0027, bench/fec.py). Only the lines of
    the parties the drill-down reaches are kept: suppliers' and customers' (40x/41x) and the
    class-6 lines booked with no supplier (their 6x account is the party)."""

    __tablename__ = "fec_line_blocks"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("fec_imports.id", ondelete="CASCADE"), primary_key=True
    )
    party: Mapped[str] = mapped_column(String(60), primary_key=True)
    block: Mapped[int] = mapped_column(Integer, primary_key=True)
    rows: Mapped[int] = mapped_column(Integer)
    data: Mapped[str] = mapped_column(Text)  # records of fields (fec/compute.line_blocks)


class FecAccount(db.Model):  # type: ignore[name-defined]
    """The trial balance of an import: one row per CompteNum, debit and credit totals."""

    __tablename__ = "fec_accounts"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("fec_imports.id", ondelete="CASCADE"), primary_key=True
    )
    compte_num: Mapped[str] = mapped_column(String(40), primary_key=True)
    compte_lib: Mapped[str] = mapped_column(String(300))
    debit: Mapped[int] = mapped_column(BigInteger)
    credit: Mapped[int] = mapped_column(BigInteger)


class FecParty(db.Model):  # type: ignore[name-defined]
    """A third party of an import, computed at import: suppliers and customers (CompAuxNum,
    or their 40x/41x account when the file has no auxiliaries) and, for charges booked with
    no supplier, the 6x account itself (`role` "compte"). `charges` is what the exercice's
    entries booked to class 6 against this party: the "charges by supplier" drill-down."""

    __tablename__ = "fec_parties"
    __table_args__ = (Index("ix_fec_parties_charges", "import_id", "role", "charges"),)

    import_id: Mapped[int] = mapped_column(
        ForeignKey("fec_imports.id", ondelete="CASCADE"), primary_key=True
    )
    party: Mapped[str] = mapped_column(String(60), primary_key=True)
    label: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(12))  # "fournisseur", "client", "compte"
    charges: Mapped[int] = mapped_column(BigInteger, default=0)  # cents
    entry_count: Mapped[int] = mapped_column(Integer, default=0)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)  # debit - credit, cents


class FecMonth(db.Model):  # type: ignore[name-defined]
    """Indicators of one month of an import (client_portal_rp.fec.indicators.KEYS): flows of
    the month for chiffre d'affaires, charges, résultat; positions at the month's end for cash,
    receivables and payables. What the indicator pages and `portal indicators` read."""

    __tablename__ = "fec_months"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("fec_imports.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # first day of the month
    chiffre_affaires: Mapped[int] = mapped_column(BigInteger)
    charges: Mapped[int] = mapped_column(BigInteger)
    resultat: Mapped[int] = mapped_column(BigInteger)
    disponibilites: Mapped[int] = mapped_column(BigInteger)
    concours_bancaires: Mapped[int] = mapped_column(BigInteger)
    creances_clients: Mapped[int] = mapped_column(BigInteger)
    dettes_fournisseurs: Mapped[int] = mapped_column(BigInteger)


class FecPartyAgeing(db.Model):  # type: ignore[name-defined]
    """A third party's open items on one side, summed per ageing bucket at the import's
    reporting date (cents; `fec/schedules.py` writes them from `fec_open_items` at import and
    again for the parties whose due dates an e-invoice changes). The échéancier reads these,
    largest total first, from the index: it never sums the open items per request (a
    million-line FEC has ~30,000 a side: 30-45 ms a page; bench/fec.py)."""

    __tablename__ = "fec_party_ageing"
    __table_args__ = (Index("ix_fec_party_ageing_total", "import_id", "side", "total", "party"),)

    import_id: Mapped[int] = mapped_column(
        ForeignKey("fec_imports.id", ondelete="CASCADE"), primary_key=True
    )
    side: Mapped[str] = mapped_column(String(12), primary_key=True)  # as FecOpenItem.side
    party: Mapped[str] = mapped_column(String(60), primary_key=True)
    item_count: Mapped[int] = mapped_column(Integer)
    # The buckets, in schedules.BUCKETS order (schedules.AGEING_COLUMNS).
    not_due: Mapped[int] = mapped_column(BigInteger)
    days_1_30: Mapped[int] = mapped_column(BigInteger)
    days_31_60: Mapped[int] = mapped_column(BigInteger)
    days_61_90: Mapped[int] = mapped_column(BigInteger)
    over_90: Mapped[int] = mapped_column(BigInteger)
    credits: Mapped[int] = mapped_column(BigInteger)  # payments and credit notes not lettered
    total: Mapped[int] = mapped_column(BigInteger)


class FecPiece(db.Model):  # type: ignore[name-defined]
    """The piece references an import's lines carry, as keys (`fec/refs.piece_key`): the
    drill-down serves a deposit to the compta module only under a reference the company's
    books hold (ADR 0027), not under any reference a person types. Kept in buckets by the
    key's last characters (`refs.piece_bucket`), each a string of keys « KEY1 KEY2 »: a
    million-line FEC has ~400,000 references, and a row each cost its import 4 s and 280 MB
    (bench/fec.py); ~1,000 rows cost nothing, and a lookup reads one bucket."""

    __tablename__ = "fec_pieces"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("fec_imports.id", ondelete="CASCADE"), primary_key=True
    )
    bucket: Mapped[str] = mapped_column(String(8), primary_key=True)
    keys: Mapped[str] = mapped_column(Text)  # " KEY1 KEY2 … ": keys hold no space


class FecOpenItem(db.Model):  # type: ignore[name-defined]
    """An open customer or supplier item at the import's reporting date (its period end): a
    401/403/4081/4088 or 411/413/416/418 line not lettered then. `amount` is what is owed, in
    cents (positive: the customer owes us / we owe the supplier). `due_date` is the invoice's
    when a deposited e-invoice carries this piece reference, else PieceDate + the company's
    terms (`due_source` says which)."""

    __tablename__ = "fec_open_items"
    __table_args__ = (
        # Covering: the échéancier sums its ageing buckets from this index alone.
        Index("ix_fec_open_items_party", "import_id", "side", "party", "due_date", "amount"),
        Index("ix_fec_open_items_piece", "import_id", "piece_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("fec_imports.id", ondelete="CASCADE"))
    side: Mapped[str] = mapped_column(String(12))  # "client" or "fournisseur"
    party: Mapped[str] = mapped_column(String(60))
    line_no: Mapped[int] = mapped_column(Integer)
    compte_num: Mapped[str] = mapped_column(String(40))
    piece_ref: Mapped[str] = mapped_column(String(100))
    piece_key: Mapped[str] = mapped_column(String(100))
    piece_date: Mapped[date] = mapped_column(Date)  # PieceDate, else EcritureDate
    label: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[date] = mapped_column(Date)
    due_source: Mapped[str] = mapped_column(String(10), default="delai")  # "delai", "facture"
