"""The indicators' read model: an exercice's totals and months beside the previous exercice,
the change in %, trésorerie nette, and the JSON contract of `portal indicators` and the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from client_portal_rp.extensions import db
from client_portal_rp.fec.indicators import (
    ALL_KEYS,
    as_json,
    change_percent,
    exercices_of,
    indicators,
)
from client_portal_rp.models import Company
from tests.client_portal_rp.conftest import make_company, make_firm
from tests.client_portal_rp.fec.factories import make_fec_import, month_starts


@pytest.fixture
def app_ctx(portal_app: Flask) -> Iterator[Flask]:
    with portal_app.app_context():
        yield portal_app


def monthly(first: date, count: int, **per_month: int) -> dict[date, dict[str, int]]:
    """`count` months from `first`, month i (from 1) holding i × each given amount."""
    return {
        m: {key: value * i for key, value in per_month.items()}
        for i, m in enumerate(month_starts(first, count), start=1)
    }


TOTALS_2050 = {
    "chiffre_affaires": 121284390,
    "charges": 108661000,
    "resultat": 12623391,
    "disponibilites": 12481833,
    "concours_bancaires": 1230,
    "creances_clients": 12820050,
    "dettes_fournisseurs": 15489059,
}


def company_with_two_exercices() -> Company:
    company = make_company(make_firm())
    make_fec_import(
        company,
        2050,
        monthly(date(2049, 10, 1), 12, chiffre_affaires=100_00, disponibilites=1000_00),
        TOTALS_2050,
    )
    make_fec_import(
        company,
        2049,
        monthly(date(2048, 10, 1), 12, chiffre_affaires=80_00, disponibilites=500_00),
        {**TOTALS_2050, "chiffre_affaires": 100000000, "charges": 0, "resultat": -5000000},
    )
    return company


def test_indicators_read_exercices_latest_first_and_per_company(app_ctx: Flask) -> None:
    company = company_with_two_exercices()
    other = make_company(make_firm())
    make_fec_import(other, 2051, monthly(date(2051, 1, 1), 12, charges=1))
    assert exercices_of(company) == [2050, 2049]
    assert exercices_of(other) == [2051]


def test_indicators_read_totals_previous_and_change(app_ctx: Flask) -> None:
    ind = indicators(company_with_two_exercices(), 2050)
    assert ind is not None and ind.previous is not None
    assert ind.exercice == 2050 and ind.previous.exercice == 2049
    assert ind.current.totals["chiffre_affaires"] == 121284390
    assert ind.current.totals["tresorerie_nette"] == 12481833 - 1230
    assert ind.previous_total("chiffre_affaires") == 100000000
    assert ind.change("chiffre_affaires") == Decimal("21.3")  # 21.28439 %
    assert ind.change("charges") is None  # previous 0: no ratio
    # résultat from -50,000.00 to 126,233.91: +352.5 % (on the previous figure's size)
    assert ind.change("resultat") == Decimal("352.5")
    assert ind.change("disponibilites") == Decimal("0.0")


def test_indicators_read_without_previous_exercice(app_ctx: Flask) -> None:
    company = company_with_two_exercices()
    ind = indicators(company, 2049)
    assert ind is not None and ind.previous is None
    assert ind.change("chiffre_affaires") is None and ind.previous_month(date(2049, 1, 1)) is None
    assert indicators(company, 2048) is None  # no FEC for that exercice


def test_indicators_read_months_in_order_and_previous_a_year_before(app_ctx: Flask) -> None:
    company = make_company(make_firm())
    make_fec_import(company, 2050, monthly(date(2049, 10, 1), 12, charges=10_00))
    # a long previous exercice (its first): eighteen months, April 2048 to September 2049
    make_fec_import(company, 2049, monthly(date(2048, 4, 1), 18, charges=7_00))
    ind = indicators(company, 2050)
    assert ind is not None
    assert [m.month for m in ind.current.months] == month_starts(date(2049, 10, 1), 12)
    assert [m.figures["charges"] for m in ind.current.months][:3] == [10_00, 20_00, 30_00]
    october = ind.previous_month(date(2049, 10, 1))
    assert october is not None and october.month == date(2048, 10, 1)  # not April 2048
    assert october.figures["charges"] == 7 * 7_00  # the long exercice's 7th month
    september = ind.previous_month(date(2050, 9, 1))
    assert september is not None and september.month == date(2049, 9, 1)
    assert ind.previous_month(date(2051, 1, 1)) is None


def test_indicators_read_after_a_short_first_exercice(app_ctx: Flask) -> None:
    """April to September 2049, then October 2049 to September 2050: October 2049 has no
    October before it (never compared with April)."""
    company = make_company(make_firm())
    make_fec_import(company, 2050, monthly(date(2049, 10, 1), 12, charges=10_00))
    make_fec_import(company, 2049, monthly(date(2049, 4, 1), 6, charges=7_00))
    ind = indicators(company, 2050)
    assert ind is not None and ind.previous is not None
    assert ind.previous_month(date(2049, 10, 1)) is None
    april = ind.previous_month(date(2050, 4, 1))
    assert april is not None and april.month == date(2049, 4, 1)
    assert april.figures["charges"] == 7_00


def test_indicators_read_is_isolated_by_company(app_ctx: Flask) -> None:
    company_with_two_exercices()
    intruder = make_company(make_firm())
    assert indicators(intruder, 2050) is None
    make_fec_import(intruder, 2050, monthly(date(2050, 1, 1), 12, chiffre_affaires=1))
    ind = indicators(intruder, 2050)
    assert ind is not None and ind.previous is None  # the other company's 2049 is not its own
    assert ind.current.totals["chiffre_affaires"] == 78


def test_indicators_read_json_contract(app_ctx: Flask) -> None:
    company = company_with_two_exercices()
    data = as_json(indicators(company, 2050))  # type: ignore[arg-type]
    assert data["exercice"] == 2050
    assert data["period_start"] == "2049-10-01" and data["period_end"] == "2050-09-30"
    assert data["chiffre_affaires"] == "1212843.90"
    assert data["tresorerie_nette"] == "124806.03"
    assert set(ALL_KEYS) <= set(data)
    assert len(data["months"]) == 12
    assert data["months"][0] == {
        "month": "2049-10",
        "chiffre_affaires": "100.00",
        "charges": "0.00",
        "resultat": "0.00",
        "disponibilites": "1000.00",
        "concours_bancaires": "0.00",
        "creances_clients": "0.00",
        "dettes_fournisseurs": "0.00",
        "tresorerie_nette": "1000.00",
    }
    assert data["changes"]["chiffre_affaires"] == "21.3" and data["changes"]["charges"] is None
    assert data["previous"]["exercice"] == 2049
    assert data["previous"]["resultat"] == "-50000.00"
    assert data["previous"]["months"][11]["month"] == "2049-09"
    alone = as_json(indicators(company, 2049))  # type: ignore[arg-type]
    assert alone["previous"] is None and alone["changes"]["chiffre_affaires"] is None


def test_indicators_read_negative_amounts_as_decimal_strings(app_ctx: Flask) -> None:
    company = make_company(make_firm())
    make_fec_import(company, 2050, {date(2050, 1, 1): {"resultat": -1230, "concours_bancaires": 5}})
    data = as_json(indicators(company, 2050))  # type: ignore[arg-type]
    assert data["resultat"] == "-12.30"
    assert data["tresorerie_nette"] == "-0.05"


def test_indicators_change_percent_rounding() -> None:
    assert change_percent(105, 100) == Decimal("5.0")
    assert change_percent(100, 300) == Decimal("-66.7")
    assert change_percent(-50, -100) == Decimal("50.0")
    assert change_percent(1, 0) is None and change_percent(1, None) is None


def test_indicators_read_never_reads_the_lines(app_ctx: Flask) -> None:
    company = company_with_two_exercices()
    assert company.id  # loaded before counting
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        as_json(indicators(company, 2050))  # type: ignore[arg-type]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert statements and not any("fec_lines" in s for s in statements)
    assert len(statements) <= 3  # the two imports, then each one's months
