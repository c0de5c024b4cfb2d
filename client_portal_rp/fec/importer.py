"""Importing a company's FEC for an exercice: parse (fec/parser.py), compute (fec/compute.py),
then replace the exercice's rows in one transaction (ADR 0027).

`import_fec` is the one way in, for the CLI (`portal fec import`) and the firm's upload page.
A file with errors applies nothing and returns them (French, with line numbers); warnings are
stored with the import and do not block. What is stored is small: monthly indicators, the
trial balance, parties, open items, and the drill-down's lines in blocks of
`compute.BLOCK_LINES` (a few thousand rows for a million-line file).
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import polars as pl
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from client_portal_rp import audit
from client_portal_rp.einvoices import apply_due_dates
from client_portal_rp.extensions import db
from client_portal_rp.fec import compute
from client_portal_rp.fec.books_lock import lock_books
from client_portal_rp.fec.parser import (
    FecInvalid,
    ParsedFec,
    Problem,
    filename_parts,
    parse,
)
from client_portal_rp.fec.schedules import store_ageing
from client_portal_rp.models import (
    Company,
    FecAccount,
    FecImport,
    FecLineBlock,
    FecMonth,
    FecOpenItem,
    FecParty,
    FecPiece,
    PortalUser,
)

MAX_WARNINGS = 50


@dataclass
class ImportReport:
    """What an import did (or why it did nothing), for the CLI and the upload page."""

    filename: str
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    warning_count: int = 0
    fec_import: FecImport | None = None
    replaced: bool = False
    encoding: str = ""
    separator: str = ""
    column_count: int = 0
    amounts: str = ""
    line_count: int = 0
    entry_count: int = 0
    unbalanced_entries: int = 0
    total_debit: int = 0
    total_credit: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def balanced(self) -> bool:
        return self.total_debit == self.total_credit and self.unbalanced_entries == 0


def import_fec(
    company: Company,
    source: BinaryIO,
    *,
    filename: str,
    actor: PortalUser | None = None,
    actor_label: str = "",
    start: date | None = None,
    end: date | None = None,
) -> ImportReport:
    """Import `source` (a binary file object) as `company`'s FEC; commit on success."""
    report = ImportReport(filename=filename)
    clock = time.perf_counter()
    hashing = _Hashing(source)
    siren, named = filename_parts(filename)
    if siren and len(siren) == 9 and siren != company.siren:
        report.errors = [
            Problem(
                None,
                f"Ce FEC est celui du SIREN {siren} (nom du fichier), pas de "
                f"{company.name} ({company.siren}).",
            )
        ]
        return report
    try:
        parsed = parse(cast(BinaryIO, hashing))
        report.seconds["parse"] = time.perf_counter() - clock
        named_end = _date_or_none(named)
        period, notes = compute.period_of(parsed.frame, named_end, start, end)
        if period.end < period.start:
            raise FecInvalid([Problem(None, "La date de clôture précède la date d'ouverture.")])
        computed = _compute(parsed, period, company)
        computed.notes = notes
        report.seconds["compute"] = time.perf_counter() - clock
    except FecInvalid as invalid:
        report.errors = invalid.problems
        return report
    _describe(report, parsed, computed)
    # What is stored no longer needs the lines: let them go before the inserts (the peak of a
    # million-line import was here, bench/fec.py).
    del parsed
    try:
        fec_import, replaced = _store(
            company, computed, filename, hashing.digest.hexdigest(), actor, actor_label, report
        )
    except IntegrityError:
        db.session.rollback()
        report.errors = [
            Problem(None, "Un autre import de cet exercice vient d'avoir lieu : recommencez.")
        ]
        return report
    report.fec_import = fec_import
    report.replaced = replaced
    report.seconds["store"] = time.perf_counter() - clock
    return report


def import_path(company: Company, path: Path, **options: Any) -> ImportReport:
    with path.open("rb") as source:
        return import_fec(company, source, filename=options.pop("filename", path.name), **options)


class _Hashing(io.RawIOBase):
    """Reads through to `source`, hashing what passes (the import's SHA-256)."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.digest = hashlib.sha256()
        self.origin = source.tell() if source.seekable() else 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.digest.update(data)
        return data

    def seekable(self) -> bool:
        return self.source.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        # Only a restart from the beginning happens (a file read again as ISO-8859-15).
        self.digest = hashlib.sha256()
        return self.source.seek(self.origin + offset, whence)


def _date_or_none(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


@dataclass
class _Computed:
    period: compute.Period
    warnings: list[Problem]
    warning_count: int
    entry_count: int
    unbalanced_entries: int
    months: pl.DataFrame
    totals: dict[str, int]
    accounts: pl.DataFrame
    parties: pl.DataFrame
    open_items: pl.DataFrame
    pieces: pl.DataFrame
    blocks: pl.DataFrame
    notes: list[str] = field(default_factory=list)


def _compute(parsed: ParsedFec, period: compute.Period, company: Company) -> _Computed:
    frame = parsed.frame
    warnings, count, entries, unbalanced = compute.warnings_of(frame, period)
    months, totals = compute.indicators_of(frame, period)
    lines = compute.with_party(frame)
    parties = compute.parties_of(lines)
    return _Computed(
        period=period,
        warnings=warnings,
        warning_count=count,
        entry_count=entries,
        unbalanced_entries=unbalanced,
        months=months,
        totals=totals,
        accounts=compute.accounts_of(frame),
        parties=parties,
        open_items=compute.open_items_of(lines, period, terms_days(company)),
        pieces=compute.pieces_of(frame),
        blocks=compute.line_blocks(lines, parties),
    )


def terms_days(company: Company) -> int:
    days = company.payment_terms_days
    if days is None:
        days = compute.DEFAULT_TERMS_DAYS
    return max(0, min(days, compute.MAX_TERMS_DAYS))


def _describe(report: ImportReport, parsed: ParsedFec, computed: _Computed) -> None:
    frame = parsed.frame
    report.encoding = parsed.encoding
    report.separator = parsed.separator
    report.column_count = parsed.column_count
    report.amounts = parsed.amounts
    report.line_count = frame.height
    report.entry_count = computed.entry_count
    report.unbalanced_entries = computed.unbalanced_entries
    report.total_debit = int(frame["debit"].sum())
    report.total_credit = int(frame["credit"].sum())
    report.warnings = [Problem(None, note) for note in computed.notes] + computed.warnings
    report.warning_count = computed.warning_count + len(computed.notes)
    if report.total_debit != report.total_credit:
        report.warnings.insert(
            0,
            Problem(
                None,
                "Le fichier est déséquilibré : total débit "
                f"{compute.format_cents(report.total_debit)} € ≠ total crédit "
                f"{compute.format_cents(report.total_credit)} €.",
            ),
        )
        report.warning_count += 1


def _store(
    company: Company,
    computed: _Computed,
    filename: str,
    sha256: str,
    actor: PortalUser | None,
    actor_label: str,
    report: ImportReport,
) -> tuple[FecImport, bool]:
    period = computed.period
    lock_books(company.id)  # a deposit applying an e-invoice's due date waits, or is waited for
    previous = db.session.execute(
        select(FecImport.id).where(
            FecImport.company_id == company.id, FecImport.exercice == period.exercice
        )
    ).scalar_one_or_none()
    if previous is not None:
        # The children go with it (ON DELETE CASCADE), in this transaction.
        db.session.execute(delete(FecImport).where(FecImport.id == previous))
    fec_import = FecImport(
        company_id=company.id,
        exercice=period.exercice,
        period_start=period.start,
        period_end=period.end,
        filename=filename[:200],
        sha256=sha256,
        encoding=report.encoding,
        separator=report.separator,
        column_count=report.column_count,
        amounts=report.amounts,
        line_count=report.line_count,
        entry_count=report.entry_count,
        total_debit=report.total_debit,
        total_credit=report.total_credit,
        unbalanced_entries=report.unbalanced_entries,
        totals=computed.totals,
        warnings=[w.as_dict() for w in report.warnings[:MAX_WARNINGS]],
        warning_count=report.warning_count,
        imported_by_id=actor.id if actor else None,
        imported_by_label=(actor.name if actor else actor_label)[:300],
    )
    db.session.add(fec_import)
    db.session.flush()
    import_id = fec_import.id
    _insert_frames(import_id, computed)
    # Due dates of e-invoices already deposited win over the payment terms (ADR 0027).
    apply_due_dates(company.id, import_id)
    store_ageing(fec_import)  # the échéancier's sums, with those due dates
    audit.record(
        "fec.imported",
        company=company,
        actor=actor,
        actor_label=actor_label or None,
        exercice=period.exercice,
        filename=filename[:200],
        lines=report.line_count,
        replaced=previous is not None,
    )
    db.session.commit()
    return fec_import, previous is not None


def _rows(frame: pl.DataFrame, import_id: int) -> list[dict[str, Any]]:
    return [dict(row, import_id=import_id) for row in frame.iter_rows(named=True)]


def _insert_frames(import_id: int, computed: _Computed) -> None:
    months = computed.months
    if months.height:
        db.session.execute(insert(FecMonth), _rows(months, import_id))
    if computed.accounts.height:
        db.session.execute(insert(FecAccount), _rows(computed.accounts, import_id))
    if computed.parties.height:
        db.session.execute(insert(FecParty), _rows(computed.parties, import_id))
    if computed.open_items.height:
        db.session.execute(insert(FecOpenItem), _rows(computed.open_items, import_id))
    if computed.pieces.height:
        db.session.execute(insert(FecPiece), _rows(computed.pieces, import_id))
    # Blocks hold the lines' text (tens of MB for a million lines): inserted a slice at a time.
    for part in computed.blocks.iter_slices(500):
        db.session.execute(insert(FecLineBlock), _rows(part, import_id))
