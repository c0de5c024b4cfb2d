"""The one entry point of a registry import, shared by the console script, Python callers and
the IdP's council pages: read a council's file, validate every row, compare with the registry,
and (unless dry run or refused) apply the diff.

CONTRACT (the CLI and the web pages code against it):

    outcome = import_file(
        db.session, source, file_name="tableau.csv", council_code="IDF",
        full=False, dry_run=False, allow_partial=False, actor=CLI,
        progress=None, record=None,
    )
    db.session.commit()

- `source`: a path or a binary file object (read as a stream, never whole as Python objects).
- Writes only to `session`; the caller commits: the import is one transaction (a killed
  process leaves the registry as it was). The `RegistryImport` row (`outcome.record`, a new one
  unless `record` is given: the web pages create it at upload) is always filled: status
  applied / previewed (dry run) / refused (bad rows, nothing applied) / failed (unreadable
  file), counts, `summary` (encoding, separator, ignored columns, first errors and changes),
  `report_csv` (formula injection neutralised).
- `progress(rows_processed)` is called every few thousand rows (the web pages show it).
- Raises `UnknownCouncil` for an unknown council code; every other problem of the file is in
  the outcome, never an exception.

Status precedence: failed (the file cannot be read: `outcome.file_error`), then refused (some
row is bad and `allow_partial` is false; dry run or not), then previewed (dry run), then
applied. A refused or previewed import still carries the counts of what the good rows would
change. See docs/adr/0018-registry-import.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from idp.audit.models import AuditEventType
from idp.audit.services import Actor
from idp.audit.services import record as audit
from idp.database import DbSession, utcnow
from idp.registry.models import ImportStatus, RegionalCouncil, RegistryImport
from idp.registry.services import UnknownCouncil, council_by_code, councils
from registry_import import diff as diffing
from registry_import import report
from registry_import.apply import apply_diff
from registry_import.headers import FIELD_LABELS, STATUS, ColumnMap, HeaderError, map_header
from registry_import.reading import Cell, FileFacts, FileRefused, inspect, iter_rows, seekable
from registry_import.validation import EntryValues, RowValidator, council_keys

__all__ = [
    "EntryChange",
    "FieldChange",
    "ImportOutcome",
    "RowError",
    "UnknownCouncil",
    "import_file",
]

PROGRESS_EVERY = 5000
SUMMARY_MAX_ITEMS = 100  # errors and changes kept in `summary` (the report has them all)
NO_CHANGE_MESSAGE = "Aucun changement : le registre est déjà à jour."


@dataclass(frozen=True)
class RowError:
    line: int  # physical line of the file, the header is line 1
    message: str  # French: "date de naissance impossible (31/02/1980)"
    registration_number: str = ""  # when the row has a readable one

    def __str__(self) -> str:
        return f"ligne {self.line} : {self.message}"


@dataclass(frozen=True)
class FieldChange:
    field: str  # a RegistryEntry attribute; headers.FIELD_LABELS names it in French
    old: str
    new: str


@dataclass(frozen=True)
class EntryChange:
    registration_number: str
    line: int | None  # None for entries absent from a --full file (struck off)
    kind: str  # "added", "changed", "struck_off"
    changes: tuple[FieldChange, ...] = ()  # empty for "added": see `description`
    description: str = ""  # "LEFÈVRE Jean-François, expert-comptable, inscrit"


@dataclass
class ImportOutcome:
    record: RegistryImport
    errors: list[RowError] = field(default_factory=list)
    changes: list[EntryChange] = field(default_factory=list)
    file_error: str | None = None  # the whole file was refused (status failed)
    ignored_columns: tuple[str, ...] = ()
    facts: FileFacts | None = None

    @property
    def applied(self) -> bool:
        return self.record.status == ImportStatus.APPLIED

    @property
    def no_change(self) -> bool:
        """Applied (or previewed) cleanly and the registry already held exactly this."""
        r = self.record
        return (
            self.file_error is None
            and not self.errors
            and r.added == 0
            and r.changed == 0
            and r.struck_off == 0
        )

    @property
    def message(self) -> str:
        return str(self.record.summary.get("message", ""))


def import_file(
    session: DbSession,
    source: Path | BinaryIO,
    *,
    file_name: str,
    council_code: str,
    actor: Actor,
    full: bool = False,
    dry_run: bool = False,
    allow_partial: bool = False,
    progress: Callable[[int], None] | None = None,
    record: RegistryImport | None = None,
) -> ImportOutcome:
    council = council_by_code(session, council_code)
    record = _start_record(
        session,
        record,
        council=council,
        actor=actor,
        file_name=file_name,
        full=full,
        dry_run=dry_run,
        allow_partial=allow_partial,
    )
    outcome = ImportOutcome(record=record)
    try:
        with seekable(source) as stream:
            facts = inspect(stream)
            outcome.facts = facts
            record.file_sha256, record.file_size = facts.sha256, facts.size
            read = _read_rows(session, stream, facts, council, record, progress)
    except FileRefused as refused:
        if refused.sha256:
            record.file_sha256, record.file_size = refused.sha256, refused.size
        return _fail(outcome, refused.message)
    except HeaderError as error:
        return _fail(outcome, str(error))

    outcome.ignored_columns = read.columns.ignored
    stored = diffing.load_council_entries(session, council.id)
    _refuse_other_councils_entries(session, council, read, stored)
    diff = diffing.compute_diff(
        read.entries,
        stored,
        present_fields=frozenset(read.columns.columns) | {STATUS},
        full=full,
        seen_numbers=read.seen_numbers,
    )
    outcome.errors = sorted(read.errors, key=lambda e: e.line)
    outcome.changes = _entry_changes(diff)

    record.rows_total = record.rows_processed = read.rows
    record.added, record.changed = len(diff.added), len(diff.changed)
    record.unchanged, record.struck_off = diff.unchanged, len(diff.struck_off)
    record.rejected = len(read.rejected_lines)
    if outcome.errors and not allow_partial:
        record.status = ImportStatus.REFUSED.value
    elif dry_run:
        record.status = ImportStatus.PREVIEWED.value
    else:
        apply_diff(session, diff, council_id=council.id, import_id=record.id, actor=actor)
        record.status = ImportStatus.APPLIED.value
        record.applied_at = utcnow()
        audit(
            session,
            AuditEventType.REGISTRY_IMPORT_APPLIED,
            subject=None,
            actor=actor,
            council=council.code,
            import_id=record.id,
            added=record.added,
            changed=record.changed,
            struck_off=record.struck_off,
            unchanged=record.unchanged,
            rejected=record.rejected,
        )
    _finish(outcome, read.columns)
    if progress is not None:
        progress(read.rows)
    session.flush()
    return outcome


# --- reading and validating -------------------------------------------------------------------


@dataclass
class _Read:
    columns: ColumnMap
    entries: diffing.FileEntries = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    rejected_lines: set[int] = field(default_factory=set)
    first_line_of: dict[str, int] = field(default_factory=dict)  # number -> first line
    rows: int = 0

    @property
    def seen_numbers(self) -> set[str]:
        return set(self.first_line_of)

    def reject(self, line: int, message: str, number: str = "") -> None:
        self.errors.append(RowError(line, message, number))
        self.rejected_lines.add(line)


def _read_rows(
    session: DbSession,
    stream: BinaryIO,
    facts: FileFacts,
    council: RegionalCouncil,
    record: RegistryImport,
    progress: Callable[[int], None] | None,
) -> _Read:
    rows = iter_rows(stream, facts)
    _header_line, header = _header(rows)
    columns = map_header(header)
    validator = RowValidator(
        columns=columns,
        council_code=council.code,
        council_keys=council_keys([(c.code, c.name) for c in councils(session)]),
        today=date.today(),
    )
    read = _Read(columns=columns)
    duplicated: set[str] = set()
    for line, cells in rows:
        if _is_blank(cells):
            continue
        read.rows += 1
        number, values, messages = validator.validate(cells)
        if number is not None:
            first = read.first_line_of.setdefault(number, line)
            if first != line:
                messages.append(f"numéro d'inscription {number} en double (déjà ligne {first})")
                if number not in duplicated:
                    duplicated.add(number)
                    read.entries.pop(number, None)
                    again = f"numéro d'inscription {number} en double (aussi ligne {line})"
                    read.reject(first, again, number)
        if messages:
            for message in messages:
                read.reject(line, message, number or "")
        else:
            assert number is not None and values is not None
            read.entries[number] = (line, values)
        if read.rows % PROGRESS_EVERY == 0:
            record.rows_processed = read.rows
            if progress is not None:
                progress(read.rows)
    return read


def _header(rows: Any) -> tuple[int, list[Cell]]:
    for line, cells in rows:
        if not _is_blank(cells):
            return line, cells
    raise FileRefused("le fichier ne contient aucune ligne (la première doit nommer les colonnes).")


def _is_blank(cells: list[Cell]) -> bool:
    for cell in cells:
        if cell is None or cell == "":
            continue
        if isinstance(cell, str) and not cell.strip():
            continue
        return False
    return True


def _refuse_other_councils_entries(
    session: DbSession, council: RegionalCouncil, read: _Read, stored: diffing.StoredEntries
) -> None:
    """A council never modifies another council's entry (docs/security.md 44)."""
    unknown = [number for number in read.entries if number not in stored]
    for number, code in diffing.other_councils_numbers(session, council.id, unknown).items():
        line, _values = read.entries.pop(number)
        read.reject(
            line,
            f"le numéro d'inscription {number} est inscrit au conseil régional {code} : "
            f"un conseil ne modifie pas l'inscription d'un autre",
            number,
        )


# --- outcome ----------------------------------------------------------------------------------


def _start_record(
    session: DbSession,
    record: RegistryImport | None,
    *,
    council: RegionalCouncil,
    actor: Actor,
    file_name: str,
    full: bool,
    dry_run: bool,
    allow_partial: bool,
) -> RegistryImport:
    if record is None:
        record = RegistryImport(file_sha256="", file_size=0)
        session.add(record)
    record.council_id = council.id
    record.actor_kind = actor.kind.value
    record.actor_id = actor.user_id
    record.file_name = file_name[:255]
    record.full, record.dry_run, record.allow_partial = full, dry_run, allow_partial
    record.status = ImportStatus.RUNNING.value
    record.file_sha256 = record.file_sha256 or ""
    record.file_size = record.file_size or 0
    record.rows_processed = 0
    session.flush()  # its id names the entries it changes
    return record


def _fail(outcome: ImportOutcome, message: str) -> ImportOutcome:
    record = outcome.record
    outcome.file_error = message
    record.status = ImportStatus.FAILED.value
    record.finished_at = utcnow()
    summary: dict[str, Any] = {"message": f"Fichier refusé : {message}", "file_error": message}
    if outcome.facts is not None:
        summary |= _facts_summary(outcome.facts)
    record.summary = summary
    record.report_csv = report.render([report.report_line(None, "", "file", message=message)])
    return outcome


def _entry_changes(diff: diffing.Diff) -> list[EntryChange]:
    changes = [
        EntryChange(number, line, "added", description=_describe(values))
        for number, line, values in diff.added
    ]
    changes += [
        EntryChange(
            number,
            line,
            "changed",
            tuple(FieldChange(*change) for change in diffing.field_changes(old, new)),
        )
        for number, line, _entry_id, old, new in diff.changed
    ]
    changes += [
        EntryChange(
            number,
            None,
            "struck_off",
            tuple(
                FieldChange(*change)
                for change in diffing.field_changes(old, diffing.struck_off_values(old))
            ),
            description=_describe(old),
        )
        for number, _entry_id, old in diff.struck_off
    ]
    return changes


def _describe(values: EntryValues) -> str:
    """`LEFÈVRE Jean-François, expert-comptable, inscrit`: what the report says of an entry."""
    return f"{values[0].upper()} {values[1]}, {values[4]}, {values[5]}"


def _finish(outcome: ImportOutcome, columns: ColumnMap) -> None:
    record = outcome.record
    record.finished_at = utcnow()
    summary: dict[str, Any] = {
        "message": _conclusion(outcome),
        "no_change": outcome.no_change,
        "columns": sorted(columns.columns),
        "ignored_columns": list(columns.ignored),
        "rows": record.rows_total,
        "error_count": len(outcome.errors),
        "errors": [
            {"line": e.line, "registration_number": e.registration_number, "message": e.message}
            for e in outcome.errors[:SUMMARY_MAX_ITEMS]
        ],
        "changes": [
            {
                "registration_number": c.registration_number,
                "line": c.line,
                "kind": c.kind,
                "description": c.description,
                "changes": [[f.field, f.old, f.new] for f in c.changes],
            }
            for c in outcome.changes[:SUMMARY_MAX_ITEMS]
        ],
    }
    if outcome.facts is not None:
        summary |= _facts_summary(outcome.facts)
    record.summary = summary
    record.report_csv = report.render(_report_lines(outcome))


def _facts_summary(facts: FileFacts) -> dict[str, Any]:
    return {
        "format": facts.kind,
        "encoding": facts.encoding,
        "separator": facts.separator,
        "file": facts.describe(),
    }


def _report_lines(outcome: ImportOutcome) -> list[report.ReportLine]:
    lines = [
        report.report_line(None, "", "ignored_column", message=f"colonne « {name} » ignorée")
        for name in outcome.ignored_columns
    ]
    lines += [
        report.report_line(e.line, e.registration_number, "error", message=e.message)
        for e in outcome.errors
    ]
    for change in outcome.changes:
        if change.kind == "added":
            lines.append(
                report.report_line(
                    change.line,
                    change.registration_number,
                    "added",
                    new=change.description,
                    message="inscription ajoutée",
                )
            )
            continue
        message = "absente du fichier complet : radiée" if change.kind == "struck_off" else ""
        lines += [
            report.report_line(
                change.line,
                change.registration_number,
                change.kind,
                FIELD_LABELS.get(f.field, f.field),
                f.old,
                f.new,
                message,
            )
            for f in change.changes
        ]
    return lines


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count < 2 else plural}"


def _conclusion(outcome: ImportOutcome) -> str:
    r = outcome.record
    rejected = _plural(r.rejected, "ligne en erreur", "lignes en erreur")
    counts = (
        f"{_plural(r.added, 'ajoutée', 'ajoutées')}, "
        f"{_plural(r.changed, 'modifiée', 'modifiées')}, "
        f"{_plural(r.struck_off, 'radiée', 'radiées')}"
    )
    if r.status == ImportStatus.REFUSED:
        return (
            f"Import refusé : {rejected}, rien n'a été appliqué. Corrigez le fichier, "
            "ou appliquez seulement les lignes valides."
        )
    if r.status == ImportStatus.PREVIEWED:
        return f"Simulation, rien n'a été enregistré : {counts} si l'import est appliqué."
    if outcome.no_change:
        return NO_CHANGE_MESSAGE
    if r.rejected:
        skipped = _plural(
            r.rejected, "ligne en erreur non appliquée", "lignes en erreur non appliquées"
        )
        return f"Import appliqué aux lignes valides : {counts} ; {skipped}."
    return f"Import appliqué : {counts}."
