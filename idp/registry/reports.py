"""What the import's page shows, read from the `RegistryImport` row the import engine filled:
its `summary` (first errors and changes, encoding, separator, ignored columns) and the name
under which its full `report_csv` is downloaded."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from dataclasses import dataclass, field
from typing import Any

from idp.registry.models import RegistryImport

CHANGES_PER_PAGE = 50


@dataclass(frozen=True)
class FieldChangeView:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class ChangeView:
    kind: str  # added, changed, struck_off
    registration_number: str
    line: int | None
    name: str
    fields: tuple[FieldChangeView, ...] = ()


@dataclass(frozen=True)
class SummaryView:
    errors: list[str] = field(default_factory=list)
    file: str | None = None  # "CSV, Windows-1252, séparateur point-virgule"
    message: str | None = None  # the engine's conclusion
    ignored_columns: list[str] = field(default_factory=list)
    failure: str | None = None
    changes_shown: int = 0
    changes_capped: bool = False


@dataclass(frozen=True)
class ChangesPage:
    items: list[ChangeView]
    page: int
    pages: int
    kind: str


def _summary(record: RegistryImport) -> dict[str, Any]:
    return record.summary if isinstance(record.summary, dict) else {}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _error_text(item: Any) -> str:
    if isinstance(item, dict):
        line, message = item.get("line"), _text(item.get("message"))
        return f"ligne {line} : {message}" if line is not None else message
    return _text(item)


def _change(item: Any) -> ChangeView | None:
    if not isinstance(item, dict):
        return None
    fields = tuple(
        view for view in map(_field_change, item.get("changes") or ()) if view is not None
    )
    line = item.get("line")
    return ChangeView(
        kind=_text(item.get("kind")),
        registration_number=_text(item.get("registration_number")),
        line=int(line) if isinstance(line, int | str) and str(line).isdigit() else None,
        name=_text(item.get("description") or item.get("name")),
        fields=fields,
    )


def _field_change(raw: Any) -> FieldChangeView | None:
    """`[field, old, new]` (as the engine stores it) or `{"field":, "old":, "new":}`."""
    if isinstance(raw, dict):
        return FieldChangeView(*(_text(raw.get(key)) for key in ("field", "old", "new")))
    if isinstance(raw, list | tuple) and len(raw) == 3:
        return FieldChangeView(*(_text(v) for v in raw))
    return None


def _changes(record: RegistryImport) -> list[ChangeView]:
    items = (_change(item) for item in _summary(record).get("changes") or ())
    return [item for item in items if item is not None]


def summary_view(record: RegistryImport) -> SummaryView:
    summary = _summary(record)
    ignored = summary.get("ignored_columns") or []
    changes = _changes(record)
    total_changes = record.added + record.changed + record.struck_off
    failure = summary.get("failure") or summary.get("file_error")
    return SummaryView(
        errors=[_error_text(e) for e in summary.get("errors") or ()],
        file=_text(summary.get("file")) or None,
        message=_text(summary.get("message")) or None,
        ignored_columns=[_text(c) for c in ignored] if isinstance(ignored, list) else [],
        failure=_text(failure) if failure else None,
        changes_shown=len(changes),
        changes_capped=len(changes) < total_changes,
    )


KINDS = ("changed", "struck_off", "added")  # the order of the page's tabs
# The engine's report (registry_import/report.py): `type` column labels, formula prefix.
_REPORT_KINDS = {"modification": "changed", "radiation": "struck_off", "ajout": "added"}
_NEUTRALISED = ("'=", "'+", "'-", "'@", "'\t", "'\r")


def kind_counts(record: RegistryImport) -> dict[str, int]:
    return {"changed": record.changed, "struck_off": record.struck_off, "added": record.added}


def default_kind(record: RegistryImport) -> str:
    """The first tab with something in it: changes to existing entries matter most."""
    counts = kind_counts(record)
    return next((kind for kind in KINDS if counts[kind]), "changed")


def changes_page(record: RegistryImport, page: int, kind: str | None = None) -> ChangesPage:
    """One page of one kind of change. The summary holds the first changes only; when it
    does not hold them all, they are read back from the full report."""
    kind = kind if kind in KINDS else default_kind(record)
    summary_changes = _changes(record)
    if len(summary_changes) >= sum(kind_counts(record).values()):
        changes = [c for c in summary_changes if c.kind == kind]
    else:
        changes = _report_changes(record.report_csv, kind)
    pages = max(1, math.ceil(len(changes) / CHANGES_PER_PAGE))
    page = min(max(page, 1), pages)
    start = (page - 1) * CHANGES_PER_PAGE
    return ChangesPage(changes[start : start + CHANGES_PER_PAGE], page, pages, kind)


def _plain(cell: str) -> str:
    """A report cell as typed in the file (the page escapes it; only the CSV neutralises)."""
    return cell[1:] if cell.startswith(_NEUTRALISED) else cell


def _report_changes(report_csv: str, kind: str) -> list[ChangeView]:
    """The changes of one kind in the report, one per entry (its field lines grouped)."""
    grouped: dict[tuple[str, str], ChangeView] = {}
    reader = csv.reader(io.StringIO(report_csv), delimiter=";")
    next(reader, None)
    for row in reader:
        if len(row) < 7 or _REPORT_KINDS.get(row[2]) != kind:
            continue
        line, number, _kind, field_name, old, new, _message = (_plain(c) for c in row[:7])
        key = (line, number)
        if key not in grouped:
            name = new if kind == "added" else ""
            grouped[key] = ChangeView(kind, number, int(line) if line.isdigit() else None, name)
        if kind != "added" and field_name:
            view = grouped[key]
            change = FieldChangeView(field_name, old, new)
            grouped[key] = dataclasses.replace(view, fields=(*view.fields, change))
    return list(grouped.values())


def report_file_name(record: RegistryImport) -> str:
    """ASCII only, from server-side values (never the uploaded file's name)."""
    stamp = record.created_at.strftime("%Y%m%d-%H%M")
    return f"rapport-import-{record.council.code}-{stamp}-{record.id}.csv"
