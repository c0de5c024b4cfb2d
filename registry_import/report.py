"""The import report as CSV: one line per error and per change, `;`-separated (Excel in
French opens it with a double click when written as UTF-8 with BOM), every cell neutralised
against formula injection (docs/security.md 45): a cell starting with `=`, `+`, `-`, `@`, a
tab or a carriage return gets a leading apostrophe, so a spreadsheet shows it as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from registry_import.headers import FIELD_LABELS

REPORT_COLUMNS = (
    "ligne",
    "numéro d'inscription",
    "type",
    "champ",
    "ancienne valeur",
    "nouvelle valeur",
    "message",
)
KIND_LABELS = {
    "error": "erreur",
    "file": "fichier",
    "ignored_column": "colonne ignorée",
    "added": "ajout",
    "changed": "modification",
    "struck_off": "radiation",
}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

ReportLine = tuple[int | None, str, str, str, str, str, str]  # line, number, kind, field...


def neutralise(value: str) -> str:
    """`=HYPERLINK(...)` -> `'=HYPERLINK(...)`: shown as text by Excel and LibreOffice."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def report_line(
    line: int | None,
    number: str,
    kind: str,
    field: str = "",
    old: str = "",
    new: str = "",
    message: str = "",
) -> ReportLine:
    return (line, number, kind, field, old, new, message)


def render(lines: Iterable[ReportLine]) -> str:
    """The report as CSV text (no BOM: `write` adds it when saving a file)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    for line, number, kind, field, old, new, message in lines:
        cells = (number, KIND_LABELS.get(kind, kind), FIELD_LABELS.get(field, field), old, new)
        writer.writerow(
            ("" if line is None else str(line), *(neutralise(c) for c in (*cells, message)))
        )
    return buffer.getvalue()


def write(report_csv: str, path: Path) -> None:
    """Save for Excel FR: UTF-8 with BOM, `;` separator (already in the text)."""
    path.write_text(report_csv, encoding="utf-8-sig", newline="")
