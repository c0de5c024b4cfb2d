"""`portal indicators --company SIREN --exercice AAAA [--json]` (stable contract)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import pytest
from click.testing import Result
from flask import Flask

from client_portal_rp.models import Company
from tests.client_portal_rp.conftest import make_company, make_firm
from tests.client_portal_rp.fec.factories import make_fec_import, month_starts


@pytest.fixture
def app_ctx(portal_app: Flask) -> Iterator[Flask]:
    with portal_app.app_context():
        yield portal_app


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["indicators", *args])


def company_2050() -> Company:
    company = make_company(make_firm(), name="Boulangerie Martin")
    months = {
        m: {
            "chiffre_affaires": 10_000_00,
            "charges": 8_000_00,
            "resultat": 2_000_00,
            "disponibilites": 5_000_00 * i,
            "concours_bancaires": 1_00,
        }
        for i, m in enumerate(month_starts(date(2049, 10, 1)), start=1)
    }
    make_fec_import(company, 2050, months)
    make_fec_import(company, 2049, {date(2048, 10, 1): {"chiffre_affaires": 100_000_00}})
    return company


def test_indicators_cli_json_is_the_contract(app_ctx: Flask) -> None:
    company = company_2050()
    result = run(app_ctx, "--company", company.siren, "--exercice", "2050", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["exercice"] == 2050
    assert data["chiffre_affaires"] == "120000.00"
    assert data["disponibilites"] == "60000.00"  # the last month's end
    assert data["tresorerie_nette"] == "59999.00"
    assert data["months"][0]["month"] == "2049-10"
    assert data["months"][0]["disponibilites"] == "5000.00"
    assert data["changes"]["chiffre_affaires"] == "20.0"
    assert data["previous"]["chiffre_affaires"] == "100000.00"


def test_indicators_cli_defaults_to_the_latest_exercice(app_ctx: Flask) -> None:
    company = company_2050()
    result = run(app_ctx, "--company", company.siren, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["exercice"] == 2050


def test_indicators_cli_prints_a_french_table(app_ctx: Flask) -> None:
    company = company_2050()
    result = run(app_ctx, "--company", company.siren, "--exercice", "2050")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Boulangerie Martin — exercice 2050, du 01/10/2049 au 30/09/2050" in out
    line = next(x for x in out.splitlines() if x.startswith("Chiffre d'affaires"))
    assert "120\u202f000,00\u00a0€" in line and "100\u202f000,00\u00a0€" in line
    assert line.endswith("en hausse de 20,0\u00a0%")
    assert "10/2049" in out and "Trésorerie nette" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--company", "999999999"], "Aucune entreprise de SIREN 999999999."),
        (["--exercice", "2048"], "exercice 2048."),
        (["--exercice", "20x0"], "L'exercice est une année sur quatre chiffres"),
    ],
)
def test_indicators_cli_refuses_in_french(app_ctx: Flask, args: list[str], message: str) -> None:
    company = company_2050()
    full = ["--company", company.siren, *args] if args[0] != "--company" else args
    result = run(app_ctx, *full, "--json")
    assert result.exit_code == 1
    assert message in result.stderr and result.stdout == ""


def test_indicators_cli_company_without_fec(app_ctx: Flask) -> None:
    company = make_company(make_firm(), name="Sans FEC")
    result = run(app_ctx, "--company", company.siren)
    assert result.exit_code == 1
    assert f"Aucun FEC importé pour Sans FEC (SIREN {company.siren})." in result.stderr
