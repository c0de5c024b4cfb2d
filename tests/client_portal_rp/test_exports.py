"""Table exports: CSV for French Excel and XLSX, both safe against formula injection (case 45)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest
from python_calamine import CalamineWorkbook

from client_portal_rp.exports import (
    Column,
    Table,
    csv_response,
    csv_text,
    sheet_name,
    xlsx_response,
)

HOSTILE = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def table(rows: list[list[object]]) -> Table:
    return Table(
        title="Mois: [2049/10]",
        columns=[
            Column("Libellé"),
            Column("Montant", "money"),
            Column("Date", "date"),
            Column("Pièces", "integer"),
            Column("Variation", "percent"),
        ],
        rows=rows,  # type: ignore[arg-type]
    )


def test_exports_csv_is_french_excel_with_bom_semicolon_and_decimal_comma() -> None:
    response = csv_response(
        table([["Loyer", 121284390, date(2049, 10, 31), 3, Decimal("12.5")]]), "indicateurs"
    )
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    assert response.mimetype == "text/csv"
    assert body.decode("utf-8-sig").splitlines() == [
        "Libellé;Montant;Date;Pièces;Variation",
        "Loyer;1212843,90;31/10/2049;3;12,5",
    ]
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="indicateurs.csv"'
    )


def test_exports_csv_negative_amounts_and_empty_cells_are_not_neutralised() -> None:
    text = csv_text(table([["Avoir", -1230, None, None, Decimal("-3.25")]]))
    assert text.splitlines()[1] == "Avoir;-12,30;;;-3,25"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_exports_csv_neutralises_formula_text(hostile: str) -> None:
    text = csv_text(table([[hostile, 100, None, 1, 0]]))
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[1][0] == "'" + hostile
    assert rows[1][1] == "1,00"


def test_exports_csv_neutralises_a_hostile_header() -> None:
    hostile = Table(title="t", columns=[Column("=cmd|' /C calc'!A0")], rows=[["a"]])
    assert csv_text(hostile).splitlines()[0] == "'=cmd|' /C calc'!A0"


def test_exports_xlsx_keeps_formula_text_as_strings() -> None:
    rows: list[list[object]] = [[h, -1230, date(2049, 10, 31), 2, Decimal("12.5")] for h in HOSTILE]
    response = xlsx_response(table(rows), "charges 2050")
    body = response.get_data()
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert 'filename="charges 2050.xlsx"' in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
        assert "<f>" not in sheet and "<f " not in sheet  # no formula anywhere
    values = CalamineWorkbook.from_filelike(io.BytesIO(body)).get_sheet_by_index(0).to_python()
    assert values[0] == ["Libellé", "Montant", "Date", "Pièces", "Variation"]
    assert [row[0] for row in values[1:]] == HOSTILE
    assert values[1][1] == pytest.approx(-12.30)
    assert values[1][2] == date(2049, 10, 31)
    assert values[1][3] == 2
    assert values[1][4] == pytest.approx(0.125)


def test_exports_xlsx_sheet_name_and_money_format() -> None:
    body = xlsx_response(table([["Loyer", 121284390, None, None, None]]), "x").get_data()
    workbook = CalamineWorkbook.from_filelike(io.BytesIO(body))
    assert workbook.sheet_names == ["Mois 2049 10"]
    assert workbook.get_sheet_by_index(0).to_python()[1][:2] == ["Loyer", 1212843.9]
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert "€" in archive.read("xl/styles.xml").decode()
    assert sheet_name("''") == "Tableau"
    assert len(sheet_name("x" * 40)) == 31


def test_exports_reject_a_float_amount() -> None:
    with pytest.raises(TypeError):
        csv_text(table([["Loyer", 12.5, None, None, None]]))


def test_exports_filename_is_made_safe() -> None:
    response = csv_response(table([]), '../"évil"\r\n.csv')
    disposition = response.headers["Content-Disposition"]
    assert disposition == (
        "attachment; filename=\"_evil_ .csv\"; filename*=UTF-8''%22%C3%A9vil%22%20.csv"
    )
