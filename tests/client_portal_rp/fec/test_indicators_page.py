"""The indicators page (`/entreprises/<id>/compta`): cards beside the previous exercice with the
change in words, SVG charts with their tables, the exercice selector, exports, access rules."""

from __future__ import annotations

import html
import io
import re
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from python_calamine import CalamineWorkbook

from client_portal_rp.models import Company, Module
from tests.client_portal_rp.conftest import (
    make_company,
    make_firm,
    make_member,
    make_staff,
    sign_in,
)
from tests.client_portal_rp.fec.factories import make_fec_import, month_starts

NNBSP, NBSP = "\u202f", "\u00a0"


def two_exercices(company: Company) -> None:
    """2050 (Oct 2049 - Sep 2050) and 2049 before it; CA 10,000 € a month in 2050 (8,000 €
    in 2049), charges 7,000 €, net cash growing 5,000 € a month (negative in Oct 2049)."""
    current = {
        m: {
            "chiffre_affaires": 10_000_00,
            "charges": 7_000_00,
            "resultat": 3_000_00,
            "disponibilites": 5_000_00 * i,
            "concours_bancaires": 6_000_00 if i == 1 else 0,
        }
        for i, m in enumerate(month_starts(date(2049, 10, 1)), start=1)
    }
    previous = {
        m: {"chiffre_affaires": 8_000_00, "charges": 7_000_00, "disponibilites": 1_000_00}
        for m in month_starts(date(2048, 10, 1))
    }
    make_fec_import(company, 2050, current)
    make_fec_import(company, 2049, previous)


@pytest.fixture
def company(portal_app: Flask, portal_client: FlaskClient) -> Company:
    """A company with two exercices; its member (every module) signed in with MFA."""
    found = make_company(make_firm(), "Boulangerie Martin")
    two_exercices(found)
    sign_in(portal_client, portal_app, make_member(found), advanced=True)
    return found


def page_of(client: FlaskClient, company: Company, query: str = "") -> tuple[int, str]:
    response = client.get(f"/entreprises/{company.public_id}/compta{query}")
    return response.status_code, html.unescape(response.get_data(as_text=True))


def card(page: str, key: str) -> str:
    found = re.search(rf'<li class="ind-card" data-key="{key}">(.*?)</li>', page, re.S)
    assert found, key
    return re.sub(r"[ \t\n]+", " ", found.group(1))


def test_indicators_page_cards_compare_with_the_previous_exercice(
    portal_client: FlaskClient, company: Company
) -> None:
    status, page = page_of(portal_client, company)
    assert status == 200
    assert "Exercice 2050, du 01/10/2049 au 30/09/2050" in page
    revenue = card(page, "chiffre_affaires")
    assert f"120{NNBSP}000,00{NBSP}€" in revenue
    assert f"Exercice 2049{NBSP}: 96{NNBSP}000,00{NBSP}€" in revenue
    assert f"en hausse de 25,0{NBSP}%" in revenue and "ind-up" in revenue
    assert "stable" in card(page, "charges")
    cash = card(page, "tresorerie_nette")
    assert f"60{NNBSP}000,00{NBSP}€" in cash and f"en hausse de 5{NNBSP}900,0{NBSP}%" in cash
    assert "variation non calculable" in card(page, "resultat")  # 2049's résultat is 0


def test_indicators_page_selects_the_exercice(portal_client: FlaskClient, company: Company) -> None:
    status, page = page_of(portal_client, company, "?exercice=2049")
    assert status == 200
    assert '<option value="2049" selected>' in page and '<option value="2050">' in page
    assert "pas d'exercice précédent à comparer" in card(page, "chiffre_affaires")
    assert "Aucun exercice précédent n'a été importé" in page


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("?exercice=2047", 404, "Aucun FEC importé pour l'exercice 2047."),
        ("?exercice=20x7", 400, "L'exercice est une année sur quatre chiffres"),
        ("?format=pdf", 400, "Format d'export inconnu"),
    ],
)
def test_indicators_page_refuses_in_french(
    portal_client: FlaskClient, company: Company, query: str, status: int, message: str
) -> None:
    got, page = page_of(portal_client, company, query)
    assert got == status and message in page
    assert 'name="exercice"' in page or status == 400


def test_indicators_page_charts_are_svg_with_their_tables(
    portal_client: FlaskClient, company: Company
) -> None:
    _status, page = page_of(portal_client, company)
    flows, cash = re.findall(r'<svg class="ind-svg".*?</svg>', page, re.S)
    # 12 revenue and 12 expense bars, 24 outlines of the previous exercice
    assert flows.count('fill="#0f5a4a"') == 12 and flows.count('fill="#b4460c"') == 12
    assert flows.count('class="ind-previous-bar"') == 24
    assert 'stroke-dasharray="3 2"' in flows
    assert f"Charges (octobre 2049){NBSP}: 7{NNBSP}000,00{NBSP}€" in flows
    # the cash curve: a point a month, the previous exercice dotted
    assert cash.count("<circle") == 12 and 'stroke-dasharray="2 3"' in cash
    # no inline style and no script anywhere in the page (CSP: style-src 'self')
    assert " style=" not in page and "<script>" not in page
    # the tables say the same numbers
    tables = re.findall(r'<table class="data ind-data">.*?</table>', page, re.S)
    assert len(tables) == 2
    first_row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", tables[0], re.S)
    assert first_row
    cells = re.findall(r">([^<>]+)</t[hd]>", first_row.group(1))
    assert cells == [
        "octobre 2049",
        f"10{NNBSP}000,00{NBSP}€",
        f"8{NNBSP}000,00{NBSP}€",
        f"7{NNBSP}000,00{NBSP}€",
        f"7{NNBSP}000,00{NBSP}€",
    ]
    assert f"\u22121{NNBSP}000,00{NBSP}€" in tables[1]  # October 2049: 5,000 − 6,000


def test_indicators_page_expense_bars_link_to_the_drill_down(
    portal_app: Flask, portal_client: FlaskClient, company: Company
) -> None:
    _status, page = page_of(portal_client, company)
    assert "fec.charges" in portal_app.view_functions
    target = f"/entreprises/{company.public_id}/compta/charges?exercice=2050"
    assert page.count(f'<a href="{target}" class="ind-bar-link"') == 12


def test_indicators_page_without_fec_keeps_the_empty_state(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    empty = make_company(make_firm(), "Sans FEC")
    sign_in(portal_client, portal_app, make_member(empty), advanced=True)
    status, page = page_of(portal_client, empty)
    assert status == 200
    assert "Votre cabinet n'a pas encore publié de FEC pour cette entreprise." in page
    assert '<svg class="ind-svg"' not in page


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_indicators_page_exports_the_monthly_table(
    portal_client: FlaskClient, company: Company, kind: str
) -> None:
    response = portal_client.get(
        f"/entreprises/{company.public_id}/compta?exercice=2050&format={kind}"
    )
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="indicateurs-{company.siren}-2050.{kind}"')
    if kind == "csv":
        lines = response.get_data().decode("utf-8-sig").splitlines()
        assert lines[0].startswith("Mois;Chiffre d'affaires;Charges;Résultat;Trésorerie nette")
        assert "Chiffre d'affaires 2049" in lines[0]
        assert lines[1].startswith("octobre 2049;10000,00;7000,00;3000,00;-1000,00")
        assert ";octobre 2048;8000,00;" in lines[1]
        assert len(lines) == 13
    else:
        sheet = CalamineWorkbook.from_filelike(io.BytesIO(response.get_data()))
        rows = sheet.get_sheet_by_index(0).to_python()
        assert rows[1][:3] == ["octobre 2049", 10000.0, 7000.0] and len(rows) == 13


def test_indicators_page_works_for_the_firms_staff(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    found = make_company(firm)
    two_exercices(found)
    sign_in(portal_client, portal_app, make_staff(firm), advanced=True)
    status, page = page_of(portal_client, found)
    assert status == 200 and 'data-key="chiffre_affaires"' in page


def test_indicators_page_access_rules(portal_app: Flask, portal_client: FlaskClient) -> None:
    """Another company's person gets 404 on every URL of the page (exports included); a person
    without the compta module 403; the page is never kept for reading offline."""
    firm = make_firm()
    mine, theirs = make_company(firm, "Mine"), make_company(firm, "Theirs")
    two_exercices(theirs)
    two_exercices(mine)
    no_compta = make_member(mine, modules={Module.DEPOSIT})
    sign_in(portal_client, portal_app, make_member(mine), advanced=True)
    for query in ("", "?exercice=2050", "?format=csv", "?format=xlsx&exercice=2049"):
        assert page_of(portal_client, theirs, query)[0] == 404
        response = portal_client.get(f"/entreprises/{mine.public_id}/compta{query}")
        assert response.status_code == 200
        assert response.headers["X-Portail-Hors-Ligne"] == "non"
    sign_in(portal_client, portal_app, no_compta, advanced=True)
    for query in ("", "?format=csv"):
        status, page = page_of(portal_client, mine, query)
        assert status == 403 and "ne comprend pas le module" in page


def test_indicators_page_in_english_writes_amounts_the_english_way(
    portal_client: FlaskClient, company: Company
) -> None:
    response = portal_client.get(
        f"/entreprises/{company.public_id}/compta", headers={"Accept-Language": "en"}
    )
    page = html.unescape(response.get_data(as_text=True))
    assert '<html lang="en"' in page
    revenue = card(page, "chiffre_affaires")
    assert "€120,000.00" in revenue and "€96,000.00" in revenue
    assert "up 25.0%" in revenue or f"up 25.0{NBSP}%" in revenue
    assert f"{NNBSP}000,00" not in page  # no French amount left
    assert "€10k" in page  # the charts' axis labels
