"""`GET /api/v1/companies/{id}/indicators`: the JSON of `portal indicators --json`, the page's
rights (scope portal.accounting, the compta module, "sécurité avancée", tenancy)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from client_portal_rp.fec.indicators import as_json, indicators
from client_portal_rp.models import Company, Module, PortalUser
from tests.client_portal_rp.api.support import bearer, token_for
from tests.client_portal_rp.conftest import make_company, make_firm, make_member
from tests.client_portal_rp.fec.factories import make_fec_import, month_starts


@pytest.fixture
def company(portal_app: Flask) -> Company:
    found = make_company(make_firm())
    months = {
        m: {"chiffre_affaires": 1_000_00 * i, "charges": 500_00, "disponibilites": 2_000_00}
        for i, m in enumerate(month_starts(date(2050, 1, 1)), start=1)
    }
    make_fec_import(found, 2050, months)
    make_fec_import(found, 2049, {date(2049, 1, 1): {"chiffre_affaires": 50_000_00}})
    return found


@pytest.fixture
def reader(company: Company) -> PortalUser:
    return make_member(company, modules={Module.COMPTA})


def get(client: FlaskClient, user: PortalUser, path: str, **token: Any) -> Any:
    token.setdefault("advanced", True)
    return client.get(path, headers=bearer(token_for(user, **token)))


def url(company: Company, query: str = "") -> str:
    return f"/api/v1/companies/{company.public_id}/indicators{query}"


def test_indicators_api_is_the_cli_json(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    answer = get(api_client, reader, url(company, "?exercice=2050"))
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body == as_json(indicators(company, 2050))  # type: ignore[arg-type]
    assert body["chiffre_affaires"] == "78000.00"
    assert body["tresorerie_nette"] == "2000.00"
    assert body["months"][0] == {
        "month": "2050-01",
        "chiffre_affaires": "1000.00",
        "charges": "500.00",
        "resultat": "0.00",
        "disponibilites": "2000.00",
        "concours_bancaires": "0.00",
        "creances_clients": "0.00",
        "dettes_fournisseurs": "0.00",
        "tresorerie_nette": "2000.00",
    }
    assert body["changes"]["chiffre_affaires"] == "56.0"
    assert body["previous"]["exercice"] == 2049 and body["previous"]["months"][0]["month"] == (
        "2049-01"
    )


def test_indicators_api_defaults_to_the_latest_and_has_no_previous_for_the_first(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    assert get(api_client, reader, url(company)).json["exercice"] == 2050
    first = get(api_client, reader, url(company, "?exercice=2049")).json
    assert first["previous"] is None and first["changes"]["chiffre_affaires"] is None


def test_indicators_api_no_fec_for_that_exercice_is_a_404_problem(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    answer = get(api_client, reader, url(company, "?exercice=2047"))
    assert answer.status_code == 404 and answer.mimetype == "application/problem+json"
    assert answer.json["code"] == "no_fec"
    assert "l'exercice 2047" in answer.json["detail"]
    empty = make_company(make_firm())
    answer = get(api_client, make_member(empty, modules={Module.COMPTA}), url(empty))
    assert answer.status_code == 404 and "pas encore publié de FEC" in answer.json["detail"]


@pytest.mark.parametrize("exercice", ["20x0", "12", "3000"])
def test_indicators_api_refuses_a_bad_exercice_in_french(
    api_client: FlaskClient, company: Company, reader: PortalUser, exercice: str
) -> None:
    answer = get(api_client, reader, url(company, f"?exercice={exercice}"))
    assert answer.status_code == 400, answer.json
    assert "année sur quatre chiffres" in str(answer.json)


def test_indicators_api_access_rules(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    other = make_company(make_firm())
    make_fec_import(other, 2050, {date(2050, 1, 1): {"chiffre_affaires": 1}})
    # another company's id: 404 like one that does not exist (tenant isolation)
    assert get(api_client, reader, url(other)).status_code == 404
    assert get(api_client, reader, "/api/v1/companies/nope/indicators").status_code == 404
    # without the scope, without the module right, without the second factor
    answer = get(api_client, reader, url(company), scopes=("portal.deposits",))
    assert answer.status_code == 403 and answer.json["code"] == "insufficient_scope"
    no_compta = make_member(company, modules={Module.DEPOSIT})
    assert get(api_client, no_compta, url(company)).status_code == 403
    answer = get(api_client, reader, url(company), advanced=False)
    assert answer.status_code == 401
    assert answer.json["code"] == "insufficient_user_authentication"
    assert api_client.get(url(company)).status_code == 401
