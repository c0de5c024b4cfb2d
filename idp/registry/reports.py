"""What the import's page shows, read from the `RegistryImport` row the import engine filled:
its `summary` (first errors and changes, encoding, separator, ignored columns) and the name
under which its full `report_csv` is downloaded."""

from __future__ import annotations

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


def changes_page(record: RegistryImport, page: int) -> ChangesPage:
    changes = _changes(record)
    pages = max(1, math.ceil(len(changes) / CHANGES_PER_PAGE))
    page = min(max(page, 1), pages)
    start = (page - 1) * CHANGES_PER_PAGE
    return ChangesPage(changes[start : start + CHANGES_PER_PAGE], page, pages)


def report_file_name(record: RegistryImport) -> str:
    """ASCII only, from server-side values (never the uploaded file's name)."""
    stamp = record.created_at.strftime("%Y%m%d-%H%M")
    return f"rapport-import-{record.council.code}-{stamp}-{record.id}.csv"
