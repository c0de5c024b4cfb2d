"""Any table of the portal as a download: CSV for French Excel and XLSX (issue 18).

A `Table` names its columns and their kind; `csv_response` and `xlsx_response` turn it into an
attachment. Both are safe against formula injection (docs/security.md 45):

- CSV: UTF-8 with BOM, `;` separator, decimal comma (what French Excel opens with a double
  click). A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
  leading apostrophe, so a spreadsheet shows it as text (the rule of registry_import/report.py).
  Numbers, money and dates are written by the code, never from text, so they are not touched: a
  negative amount stays `-12,30`.
- XLSX (xlsxwriter, in memory): text always goes through `write_string`, so `=...` is stored
  as a string and never becomes a formula; money as numbers in euros with a euro format, dates
  as dates, percentages as numbers with a percent format.

Cell values by column kind: text `str`; money `int` cents; date `datetime.date`; integer
`int`; percent a number in percent units (`Decimal`, `int` or `float`: `12.5` is 12,5 %).
`None` is an empty cell in every kind.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

import xlsxwriter
from flask import Response

from client_portal_rp.files import content_disposition

ColumnKind = Literal["text", "money", "date", "integer", "percent"]
Cell = str | int | float | Decimal | date | None

CSV_MIMETYPE = "text/csv"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SHEET_NAME_FORBIDDEN = str.maketrans(dict.fromkeys("[]:*?/\\", " "))
_EURO_FORMAT = '#,##0.00\\ "€";-#,##0.00\\ "€"'
_WIDTHS: dict[ColumnKind, int] = {"money": 16, "date": 12, "integer": 10, "percent": 10}


@dataclass(frozen=True)
class Column:
    label: str
    kind: ColumnKind = "text"


@dataclass(frozen=True)
class Table:
    """A title (the XLSX sheet's name), columns, and rows of cells in the columns' order."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Cell]] = field(default_factory=list)


def neutralise(value: str) -> str:
    """`=HYPERLINK(...)` -> `'=HYPERLINK(...)`: shown as text by Excel and LibreOffice."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _decimal_comma(value: Decimal) -> str:
    return format(value, "f").replace(".", ",")


def _cents_text(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole},{rest:02d}"


def _check_number(value: object, kind: ColumnKind) -> None:
    allowed: tuple[type, ...] = (int,) if kind in ("money", "integer") else (int, float, Decimal)
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise TypeError(f"a {kind} cell must be {allowed}, not {type(value).__name__}")


def _check_date(value: object) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"a date cell must be a datetime.date, not {type(value).__name__}")
    return value


def csv_cell(value: Cell, kind: ColumnKind) -> str:
    """One cell as French Excel reads it; text neutralised, numbers with a decimal comma."""
    if value is None:
        return ""
    if kind == "text":
        return neutralise(str(value))
    if kind == "date":
        return _check_date(value).strftime("%d/%m/%Y")
    _check_number(value, kind)
    if kind == "money":
        return _cents_text(int(value))  # type: ignore[arg-type]
    if kind == "integer":
        return str(value)
    return _decimal_comma(Decimal(str(value)))  # percent


def csv_text(table: Table) -> str:
    """The table as CSV text (header line then rows, `\\r\\n`), without the BOM."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise(c.label) for c in table.columns])
    for row in table.rows:
        writer.writerow([csv_cell(v, c.kind) for v, c in zip(row, table.columns, strict=True)])
    return out.getvalue()


def _with_extension(filename: str, extension: str) -> str:
    return filename if filename.lower().endswith(extension) else filename + extension


def _attachment(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = content_disposition(filename, inline=False)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def csv_response(table: Table, filename: str) -> Response:
    """The table as a CSV attachment (UTF-8 with BOM, `;`, decimal comma)."""
    body = ("\ufeff" + csv_text(table)).encode("utf-8")
    return _attachment(body, f"{CSV_MIMETYPE}; charset=utf-8", _with_extension(filename, ".csv"))


def sheet_name(title: str) -> str:
    """An Excel sheet name: no `[]:*?/\\`, not starting or ending with `'`, 1-31 characters."""
    name = " ".join(title.translate(_SHEET_NAME_FORBIDDEN).split()).strip("'")[:31].strip()
    return name or "Tableau"


def xlsx_bytes(table: Table) -> bytes:
    """The table as an XLSX workbook: one sheet, bold header, typed cells, column widths."""
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        out,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    sheet = workbook.add_worksheet(sheet_name(table.title))
    header = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    formats = {
        "money": workbook.add_format({"num_format": _EURO_FORMAT}),
        "date": workbook.add_format({"num_format": "dd/mm/yyyy"}),
        "integer": workbook.add_format({"num_format": "#,##0"}),
        "percent": workbook.add_format({"num_format": "0.0%"}),
    }
    widths = [max(len(c.label), _WIDTHS.get(c.kind, 10)) for c in table.columns]
    for col, column in enumerate(table.columns):
        sheet.write_string(0, col, column.label, header)
    for r, row in enumerate(table.rows, start=1):
        for col, (value, column) in enumerate(zip(row, table.columns, strict=True)):
            if value is None:
                continue
            if column.kind == "text":
                text = str(value)
                sheet.write_string(r, col, text)
                widths[col] = max(widths[col], min(len(text), 60))
            elif column.kind == "date":
                sheet.write_datetime(r, col, _check_date(value), formats["date"])
            else:
                _check_number(value, column.kind)
                number = Decimal(str(value))
                if column.kind == "money" or column.kind == "percent":
                    number = number / 100
                sheet.write_number(r, col, float(number), formats[column.kind])
    for col, width in enumerate(widths):
        sheet.set_column(col, col, width + 2)
    sheet.freeze_panes(1, 0)
    workbook.close()
    return out.getvalue()


def xlsx_response(table: Table, filename: str) -> Response:
    """The table as an XLSX attachment."""
    return _attachment(xlsx_bytes(table), XLSX_MIMETYPE, _with_extension(filename, ".xlsx"))
