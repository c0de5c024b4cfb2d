"""« Déposez vos documents »: what a deposit is, whoever brings it (the web page, the company's
deposit address), and the company's list of deposits.

`deposit_file` is the one way in. The file's kind is read from its bytes (files.sniff) and
checked against the deposit type's allow-list: documents (PDF, JPEG, PNG, HEIC, TIFF) for the
document types, CSV/XLSX only for a "Données" type (an accountant's import wants a table, a
photo of a receipt filed there would be lost). The bytes go to the content-addressed blob store
under their SHA-256 (never under a name the client sent: SECURITY.md 49); the name is kept for
display only (`safe_display_name`). Photos wait for the background job (deposits/jobs.py) that
removes their GPS position and makes the thumbnail and the JPEG rendition: until it is done they
are not served, so the original with its location never leaves the server.

The same bytes deposited again in the same company are stored as a new deposit (the client may
mean it) but flagged: `duplicate_of_id` names the first deposit, and the answer says when it was
first deposited (« Ce fichier a déjà été déposé le ... »).

A PDF or XML deposit is read as an electronic invoice (client_portal_rp/einvoices.py, ~2 ms for
a Factur-X PDF, under 1 ms for a 15 MB scan: inline, not in the job). What it says is kept
(DepositInvoice, or the French reason it could not be read); its number becomes the deposit's
piece reference when the client typed none, its due date goes onto the FEC open items with that
reference, and the same invoice (same supplier, number and total TTC) deposited again is flagged
like the same bytes (« Cette facture (n° ...) a déjà été déposée le ... »).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, current_app, send_file
from flask_babel import gettext as _
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from client_portal_rp import audit, einvoices
from client_portal_rp.companies import deposit_types
from client_portal_rp.extensions import db
from client_portal_rp.fec.refs import piece_key
from client_portal_rp.files import (
    DATA_KINDS,
    DOCUMENT_KINDS,
    PHOTO_KINDS,
    FileKind,
    content_disposition,
    safe_display_name,
    sniff,
)
from client_portal_rp.models import (
    Company,
    Deposit,
    DepositInvoice,
    DepositStatus,
    DepositType,
    PieceRequest,
    PortalUser,
    Processing,
    utcnow,
)
from client_portal_rp.storage import BlobNotFound, BlobStore, LocalBlobStore, current_blob_store

PAGE_SIZE = 50
MAX_COMMENT = 2000
MAX_PIECE_REF = 100
SOURCES = ("web", "email")
PARIS = ZoneInfo("Europe/Paris")
# A PDF opened in the browser cannot run anything of ours: an opaque origin, no scripts.
PDF_SANDBOX = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"


class DepositRefused(Exception):
    """A file the portal does not take; `message` is French and names the file."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IdempotencyConflict(DepositRefused):
    """The Idempotency-Key was already used by this person in this company for another file."""


IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,64}")
IDEMPOTENCY_KEY_RULE = (
    "La clé d'idempotence doit compter 8 à 64 caractères parmi lettres, chiffres et « _ . : - »."
)


@dataclass
class DepositResult:
    """What `deposit_file` did: the new deposit, the earlier deposit of the same bytes in the
    company if there is one, and whether the photo job must run for it. `replayed`: the
    Idempotency-Key named a deposit already made, which is returned and nothing was added."""

    deposit: Deposit
    duplicate_of: Deposit | None
    needs_processing: bool
    replayed: bool = False
    # What the file says as an e-invoice (None: not one), and the earlier deposit of the same
    # invoice when that, not the same bytes, makes it a duplicate (then also `duplicate_of`).
    invoice: DepositInvoice | None = None
    invoice_duplicate_of: Deposit | None = None

    @property
    def message(self) -> str:
        """The French sentence for the person (or the sender of an email)."""
        text = f"« {self.deposit.filename} » est déposé."
        if self.invoice_duplicate_of is not None and self.invoice is not None:
            text += " " + einvoices.invoice_duplicate_message(
                self.invoice_duplicate_of, self.invoice.invoice_number
            )
        elif self.duplicate_of is not None:
            text += " " + duplicate_message(self.duplicate_of)
        return text


def paris_time(moment: datetime) -> str:
    """« 03/03/2025 à 14:02 », in France's time zone (the clients' and the firm's)."""
    local = moment.astimezone(PARIS)
    return f"{local:%d/%m/%Y} à {local:%H:%M}"


def duplicate_message(first: Deposit) -> str:
    return (
        f"Ce fichier a déjà été déposé le {paris_time(first.created_at)} "
        f"(« {first.filename} ») : il est signalé comme doublon probable."
    )


# --- the blob store ----------------------------------------------------------------------


def blob_store() -> BlobStore:
    """The app's blob store (PORTAL_STORAGE, bound in create_app)."""
    return current_blob_store()


def upload_tmp_dir() -> Path:
    """Where uploads stream to: beside the blobs on local storage (the same file system, so
    storing is a copy on one disk), else the instance folder."""
    store = blob_store()
    if isinstance(store, LocalBlobStore):
        directory = store.root / ".incoming"
    else:
        directory = Path(current_app.instance_path) / "uploads"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# --- deposit types -----------------------------------------------------------------------


def deposit_types_for(company: Company) -> list[DepositType]:
    """The deposit types the company's firm offers, in the firm's order."""
    return deposit_types(company.firm_id)


def deposit_type_of(company: Company, code: str) -> DepositType | None:
    """One of the firm's deposit types by its code (None when the firm has no such type)."""
    if not code or len(code) > 40:
        return None
    return db.session.scalar(
        select(DepositType).where(DepositType.firm_id == company.firm_id, DepositType.code == code)
    )


def accepted_kinds(deposit_type: DepositType) -> frozenset[FileKind]:
    return DATA_KINDS if deposit_type.data else DOCUMENT_KINDS


def _refusal(name: str, kind: FileKind | None, deposit_type: DepositType) -> str:
    if kind is None:
        if deposit_type.data:
            return (
                f"« {name} » n'est pas un fichier accepté : le type « {deposit_type.label} » "
                "prend les fichiers CSV et les classeurs Excel (XLSX)."
            )
        return (
            f"« {name} » n'est pas un fichier accepté : déposez un PDF, une photo "
            "(JPEG, PNG, HEIC, TIFF) ou une facture électronique XML (CII, UBL). Les pages web, "
            "images SVG, programmes et archives sont refusés."
        )
    if deposit_type.data:
        return (
            f"« {name} » est un {kind.label} : le type « {deposit_type.label} » prend les "
            "fichiers CSV et les classeurs Excel (XLSX). Choisissez un autre type de dépôt."
        )
    return (
        f"« {name} » est un {kind.label} : le type « {deposit_type.label} » prend les PDF et "
        "les photos. Pour un fichier de données, choisissez le type « Données »."
    )


# --- depositing --------------------------------------------------------------------------


def first_deposit_of(company: Company, sha256: str) -> Deposit | None:
    """The company's earliest deposit of these bytes."""
    return db.session.scalar(
        select(Deposit)
        .where(Deposit.company_id == company.id, Deposit.sha256 == sha256)
        .order_by(Deposit.created_at, Deposit.id)
        .limit(1)
    )


def deposit_file(
    company: Company,
    deposit_type: DepositType,
    *,
    path: Path,
    filename: str,
    size: int,
    sha256: str,
    uploaded_by: PortalUser | None,
    source: str = "web",
    comment: str = "",
    piece_request: PieceRequest | None = None,
    idempotency_key: str | None = None,
    piece_ref: str = "",
) -> DepositResult:
    """Deposit the file at `path` (received whole, `size` bytes of digest `sha256`) for
    `company`: kind checked, bytes stored, row and audit line added, the missing-piece request
    answered. The caller commits, then schedules the photo job when `needs_processing`
    (jobs.schedule) — `portal jobs run` catches any it missed. `path` is left where it is.
    Raises DepositRefused (French message naming the file).

    `idempotency_key` (the app's offline queue, the API; only with `uploaded_by`): a deposit
    this person already made in the company with this key is returned as it is (`replayed`),
    the same bytes or not a second time; the key with other bytes is IdempotencyConflict. Two
    requests racing with one key: the unique index lets one insert, the other returns it.

    `piece_ref`: the accounting piece reference the client typed (optional, 100 characters at
    most); an e-invoice's number takes its place when it is empty."""
    name = safe_display_name(filename)
    if idempotency_key is not None:
        if uploaded_by is None or not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise DepositRefused(IDEMPOTENCY_KEY_RULE)
        earlier = deposit_by_key(company, uploaded_by, idempotency_key)
        if earlier is not None:
            return _replay(earlier, sha256, name)
    if deposit_type.firm_id != company.firm_id:
        raise DepositRefused("Ce type de dépôt n'existe pas pour cette entreprise.")
    if piece_request is not None and piece_request.company_id != company.id:
        raise DepositRefused("Cette demande de pièce ne concerne pas cette entreprise.")
    if source not in SOURCES:
        raise ValueError(f"unknown deposit source {source!r}")
    comment = comment.replace("\r\n", "\n").strip()
    if len(comment) > MAX_COMMENT:
        raise DepositRefused(
            f"Le commentaire fait {len(comment)} caractères : {MAX_COMMENT} au plus."
        )
    piece_ref = clean_piece_ref(piece_ref)
    if size <= 0:
        raise DepositRefused(f"« {name} » est vide : aucun octet n'a été reçu.")
    kind = sniff(path)
    if kind is None or kind not in accepted_kinds(deposit_type):
        raise DepositRefused(_refusal(name, kind, deposit_type))

    blob_store().put(path, sha256)
    first = first_deposit_of(company, sha256)
    photo = kind in PHOTO_KINDS
    deposit = Deposit(
        company_id=company.id,
        deposit_type_id=deposit_type.id,
        uploaded_by_id=uploaded_by.id if uploaded_by is not None else None,
        source=source,
        filename=name,
        kind=kind.name.lower(),
        size=size,
        sha256=sha256,
        blob_sha256=sha256,
        processing=(Processing.PENDING if photo else Processing.NONE).value,
        comment=comment,
        status=DepositStatus.DEPOSITED.value,
        duplicate_of_id=first.id if first is not None else None,
        piece_request_id=piece_request.id if piece_request is not None else None,
        idempotency_key=idempotency_key,
        piece_ref=piece_ref,
        piece_key=piece_key(piece_ref),
        created_at=utcnow(),
    )
    if idempotency_key is not None and uploaded_by is not None:
        try:
            with db.session.begin_nested():
                db.session.add(deposit)
                db.session.flush()
        except IntegrityError:  # the same key, inserted meanwhile by a concurrent request
            earlier = deposit_by_key(company, uploaded_by, idempotency_key)
            if earlier is None:
                raise
            return _replay(earlier, sha256, name)
    else:
        db.session.add(deposit)
    if piece_request is not None and piece_request.answered_at is None:
        piece_request.answered_at = deposit.created_at
    db.session.flush()
    invoice, invoice_first = _read_invoice(deposit, kind, path)
    if invoice_first is not None:
        first = invoice_first
    audit.record(
        "deposit.created",
        company=company,
        actor=uploaded_by,
        actor_label=None if uploaded_by is not None else "Adresse de dépôt",
        deposit=deposit.public_id,
        filename=name,
        type=deposit_type.code,
        kind=kind.name.lower(),
        size=size,
        source=source,
        duplicate_of=first.public_id if first is not None else None,
        request=piece_request.public_id if piece_request is not None else None,
        invoice=invoice.invoice_number or None if invoice is not None else None,
    )
    return DepositResult(deposit, first, photo, invoice=invoice, invoice_duplicate_of=invoice_first)


def clean_piece_ref(raw: str) -> str:
    """The piece reference as typed, trimmed, without control characters; DepositRefused
    (French) beyond 100 characters."""
    text = "".join(c for c in (raw or "") if c.isprintable()).strip()
    if len(text) > MAX_PIECE_REF:
        raise DepositRefused(
            f"La référence de la pièce fait {len(text)} caractères : {MAX_PIECE_REF} au plus."
        )
    return text


def _read_invoice(
    deposit: Deposit, kind: FileKind, path: Path
) -> tuple[DepositInvoice | None, Deposit | None]:
    """Read a PDF or XML deposit as an e-invoice and keep what it says: the row, and the
    company's earlier deposit of the same invoice (a new duplicate; None when the same bytes
    already made it one, or none)."""
    if kind not in (FileKind.PDF, FileKind.XML):
        return None, None
    found = einvoices.read_einvoice_file(path, kind)
    if found is None:
        return None, None
    row = einvoices.store_invoice(deposit, found)
    if found.error:
        return row, None
    if not deposit.piece_ref and row.number_key:
        deposit.piece_ref = row.invoice_number
        deposit.piece_key = row.number_key
    first = None
    if deposit.duplicate_of_id is None:
        first = einvoices.invoice_duplicate_of(row)
        if first is not None:
            deposit.duplicate_of_id = first.id
            deposit.duplicate_of = first
    if row.due_date is not None and row.number_key:
        einvoices.apply_due_dates(deposit.company_id, number_key=row.number_key)
    db.session.flush()
    return row, first


def deposit_by_key(company: Company, person: PortalUser, key: str) -> Deposit | None:
    return db.session.scalar(
        select(Deposit).where(
            Deposit.company_id == company.id,
            Deposit.uploaded_by_id == person.id,
            Deposit.idempotency_key == key,
        )
    )


def _replay(earlier: Deposit, sha256: str, name: str) -> DepositResult:
    if earlier.sha256 != sha256:
        raise IdempotencyConflict(
            f"« {name} » : cette clé d'idempotence a déjà servi pour un autre fichier "
            f"(« {earlier.filename} »). Chaque dépôt a sa propre clé."
        )
    return DepositResult(earlier, None, False, replayed=True)


def file_kind(deposit: Deposit) -> FileKind:
    """The deposit's kind (stored as the FileKind's lower-case name: pdf, jpeg, heic...)."""
    return FileKind[deposit.kind.upper()]


# --- serving the files (the page and the API) ---------------------------------------------


class FileUnavailable(Exception):
    """Not served: none of the blobs asked for exists (a thumbnail of a PDF), or the deposit is
    a photo whose location is not removed yet (`message`, French, for the person)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "")
        self.message = message


def is_ready(deposit: Deposit) -> bool:
    """Whether the deposit's file may be served: no photo job, or its job is done."""
    return deposit.processing in (Processing.DONE.value, Processing.NONE.value)


def not_ready_message(deposit: Deposit) -> str:
    if deposit.processing == Processing.FAILED.value:
        return _(
            "« %(name)s » n'a pas pu être lue comme une photo : elle n'est pas disponible. "
            "Déposez-la de nouveau ou envoyez-la dans un autre format.",
            name=deposit.filename,
        )
    return _(
        "« %(name)s » est en cours de traitement (suppression de la position GPS, "
        "miniature) : réessayez dans quelques secondes.",
        name=deposit.filename,
    )


def has_thumbnail(deposit: Deposit) -> bool:
    return bool(deposit.thumbnail_sha256) and deposit.processing == Processing.DONE.value


def send_blob(sha256: str, mimetype: str, disposition: str, *, sandbox: bool = False) -> Response:
    """A blob as the answer: never cached, `nosniff`, its Content-Disposition; a missing blob
    is logged and FileUnavailable."""
    store = blob_store()
    try:
        size = store.size(sha256)
        stream = store.open(sha256)
    except BlobNotFound:
        current_app.logger.error("blob %s missing", sha256)
        raise FileUnavailable() from None
    response = send_file(stream, mimetype=mimetype, conditional=False, etag=False, max_age=None)
    response.content_length = size
    response.headers["Content-Disposition"] = disposition
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    if sandbox:
        response.headers["Content-Security-Policy"] = PDF_SANDBOX
    return response


def send_download(deposit: Deposit) -> Response:
    """The file as deposited (a photo: without its location), always as an attachment, and
    under the sandbox (an XML that a browser rendered anyway would run nothing).
    FileUnavailable with the French message while a photo waits for its job."""
    if not is_ready(deposit):
        raise FileUnavailable(not_ready_message(deposit))
    return send_blob(
        deposit.blob_sha256,
        file_kind(deposit).mime_type,
        content_disposition(deposit.filename, inline=False),
        sandbox=True,
    )


def jpeg_name(deposit: Deposit) -> str:
    stem = deposit.filename.rsplit(".", 1)[0] if "." in deposit.filename else deposit.filename
    return f"{stem}.jpg"


def send_thumbnail(deposit: Deposit) -> Response:
    """The photo's thumbnail (JPEG); FileUnavailable when it has none (yet)."""
    if not has_thumbnail(deposit):
        raise FileUnavailable()
    assert deposit.thumbnail_sha256 is not None
    return send_blob(
        deposit.thumbnail_sha256,
        "image/jpeg",
        content_disposition(f"vignette-{jpeg_name(deposit)}", inline=True),
    )


# --- the company's list ------------------------------------------------------------------


@dataclass
class DepositFilter:
    """What a list of deposits shows (from the query string, every value checked): the
    company's list, and the firm's inbox, which may also narrow to one `company`."""

    company: Company | None = None
    deposit_type: DepositType | None = None
    status: DepositStatus | None = None
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    errors: list[str] = field(default_factory=list)
    # The same messages by query argument (type, statut, du, au): the API's `errors`.
    field_errors: dict[str, list[str]] = field(default_factory=dict)

    def refuse(self, argument: str, message: str) -> None:
        self.errors.append(message)
        self.field_errors.setdefault(argument, []).append(message)

    def query_args(self, **override: Any) -> dict[str, Any]:
        """The filter as query arguments (the pagination links keep it)."""
        args: dict[str, Any] = {
            "entreprise": self.company.public_id if self.company else None,
            "type": self.deposit_type.code if self.deposit_type else None,
            "statut": self.status.value if self.status else None,
            "du": self.date_from.isoformat() if self.date_from else None,
            "au": self.date_to.isoformat() if self.date_to else None,
            "page": self.page if self.page > 1 else None,
        }
        args.update(override)
        return {key: value for key, value in args.items() if value}

    @property
    def active(self) -> bool:
        return bool(
            self.company or self.deposit_type or self.status or self.date_from or self.date_to
        )


@dataclass
class DepositPage:
    deposits: list[Deposit]
    total: int
    page: int
    pages: int


def _parse_date(raw: str, label: str, found: DepositFilter) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        found.refuse(label, f"La date « {label} » n'est pas une date valable (format AAAA-MM-JJ).")
        return None


def parse_filter(firm_id: int, args: Mapping[str, str]) -> DepositFilter:
    """Type (one of the firm's), status, dates and page from the query string; a wrong value
    is dropped with a French message."""
    found = DepositFilter()
    code = (args.get("type") or "").strip()
    if code:
        found.deposit_type = (
            db.session.scalar(
                select(DepositType).where(DepositType.firm_id == firm_id, DepositType.code == code)
            )
            if len(code) <= 40
            else None
        )
        if found.deposit_type is None:
            found.refuse("type", "Ce type de document n'existe pas.")
    status = (args.get("statut") or "").strip()
    if status:
        if status in DepositStatus._value2member_map_:
            found.status = DepositStatus(status)
        else:
            found.refuse("statut", "Ce statut n'existe pas (déposé, pris en charge ou traité).")
    found.date_from = _parse_date((args.get("du") or "").strip(), "du", found)
    found.date_to = _parse_date((args.get("au") or "").strip(), "au", found)
    if found.date_from and found.date_to and found.date_from > found.date_to:
        found.refuse("au", "La date « du » est après la date « au » : la période est vide.")
    page = (args.get("page") or "1").strip()
    found.page = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
    return found


def _day_start(day: date) -> datetime:
    """Midnight in Paris of `day`, as UTC: « du 3 mars » means the French day."""
    return datetime.combine(day, time.min, tzinfo=PARIS).astimezone(UTC)


def filtered(statement: Select[Any], wanted: DepositFilter) -> Select[Any]:
    """`statement` (the deposits a page may show: one company's, or a firm's) narrowed by
    the filter."""
    if wanted.company is not None:
        statement = statement.where(Deposit.company_id == wanted.company.id)
    if wanted.deposit_type is not None:
        statement = statement.where(Deposit.deposit_type_id == wanted.deposit_type.id)
    if wanted.status is not None:
        statement = statement.where(Deposit.status == wanted.status.value)
    if wanted.date_from is not None:
        statement = statement.where(Deposit.created_at >= _day_start(wanted.date_from))
    if wanted.date_to is not None:
        end = _day_start(wanted.date_to + timedelta(days=1))
        statement = statement.where(Deposit.created_at < end)
    return statement


def page_of(statement: Select[Any], wanted: DepositFilter, *loads: Any) -> DepositPage:
    """One page (50) of the filtered deposits, newest first, with the relations `loads`."""
    statement = filtered(statement, wanted)
    total = db.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(wanted.page, pages)
    deposits = db.session.scalars(
        statement.options(*loads)
        .order_by(Deposit.created_at.desc(), Deposit.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return DepositPage(list(deposits), total, page, pages)


def deposits_page(company: Company, wanted: DepositFilter) -> DepositPage:
    """One page of the company's deposits matching the filter."""
    return page_of(
        select(Deposit).where(Deposit.company_id == company.id),
        wanted,
        joinedload(Deposit.deposit_type),
        joinedload(Deposit.taken_by),
        joinedload(Deposit.uploaded_by),
        joinedload(Deposit.duplicate_of),
        joinedload(Deposit.invoice),  # the e-invoice read from the file (DepositInvoice)
    )


def piece_request_of(company: Company, public_id: str) -> PieceRequest | None:
    """One of the company's piece requests by its public id (never by its id alone)."""
    if not public_id or len(public_id) > 64:
        return None
    return db.session.scalar(
        select(PieceRequest).where(
            PieceRequest.public_id == public_id, PieceRequest.company_id == company.id
        )
    )


def open_piece_requests(company: Company) -> list[PieceRequest]:
    """The firm's requests the company has still to answer (oldest first)."""
    return list(
        db.session.scalars(
            select(PieceRequest)
            .where(
                PieceRequest.company_id == company.id,
                PieceRequest.answered_at.is_(None),
                PieceRequest.closed_at.is_(None),
            )
            .order_by(PieceRequest.created_at, PieceRequest.id)
        )
    )
