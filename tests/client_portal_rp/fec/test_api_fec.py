"""The compta API: échéancier, charges by supplier and a party's entries as JSON (decimal
strings in euros), cursor pages, and the page's rights (scope, module, MFA, tenant: SECURITY.md
46, 47)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from client_portal_rp.models import Company, Module, PortalUser
from tests.client_portal_rp.api.support import bearer, token_for, use_test_keys
from tests.client_portal_rp.conftest import make_company, make_firm, make_member
from tests.client_portal_rp.fec.drill_factories import REPORTING, add_open_item, seed_books


@pytest.fixture
def api_client(portal_app: Flask) -> FlaskClient:
    use_test_keys(portal_app)
    return portal_app.test_client()


@pytest.fixture
def reader(portal_app: Flask) -> tuple[Company, PortalUser]:
    company = make_company(make_firm())
    seed_books(company)
    return company, make_member(company, modules={Module.COMPTA})


def get(client: FlaskClient, user: PortalUser, url: str, **token: Any) -> Any:
    token.setdefault("advanced", True)
    return client.get(f"/api/v1{url}", headers=bearer(token_for(user, **token)))


def test_schedule_gives_buckets_reconciliation_and_parties_as_decimal_strings(
    api_client: FlaskClient, reader: tuple[Company, PortalUser]
) -> None:
    company, user = reader
    answer = get(api_client, user, f"/companies/{company.public_id}/schedules/clients")
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["exercice"] == 2050 and body["reporting_date"] == "2050-09-30"
    assert body["side"] == "clients" and body["item_count"] == 2
    assert body["totals"] == {
        "not_due": "200.00",
        "overdue_1_30": "0.00",
        "overdue_31_60": "1500.00",
        "overdue_61_90": "0.00",
        "overdue_over_90": "0.00",
        "unapplied_credits": "0.00",
        "total": "1700.00",
    }
    assert body["reconciliation"]["balance"] == "1800.00"
    assert body["reconciliation"]["difference"] == "100.00"
    assert body["reconciliation"]["explanation"].startswith("Écart")
    assert body["parties"][0]["party"] == "C DUPONT"
    assert body["parties"][0]["label"] == "Dupont SA"
    assert body["parties"][0]["ageing"]["total"] == "1700.00"
    assert body["next_cursor"] is None

    suppliers = get(api_client, user, f"/companies/{company.public_id}/schedules/fournisseurs")
    assert suppliers.json["totals"]["overdue_over_90"] == "600.00"
    unknown = get(api_client, user, f"/companies/{company.public_id}/schedules/banques")
    assert unknown.status_code == 404
    assert unknown.headers["Content-Type"] == "application/problem+json"


def test_a_supplier_payment_not_lettered_is_its_own_bucket_never_overdue(
    api_client: FlaskClient, portal_app: Flask
) -> None:
    company = make_company(make_firm())
    fec_import = seed_books(company)
    # A payment of 6,000.00 to ORANGE, its piece date + terms 133 days before the reporting date.
    add_open_item(
        fec_import, "F/ORANGE 1", -600_000, REPORTING - timedelta(days=133), side="fournisseur"
    )
    user = make_member(company, modules={Module.COMPTA})
    answer = get(api_client, user, f"/companies/{company.public_id}/schedules/fournisseurs")
    assert answer.status_code == 200, answer.json
    expected = {
        "not_due": "0.00",
        "overdue_1_30": "0.00",
        "overdue_31_60": "0.00",
        "overdue_61_90": "0.00",
        "overdue_over_90": "600.00",
        "unapplied_credits": "-6000.00",
        "total": "-5400.00",
    }
    assert answer.json["totals"] == expected
    assert answer.json["parties"][0]["ageing"] == expected
    assert answer.json["reconciliation"]["open_items"] == "-5400.00"


def test_charges_then_the_suppliers_entries_through_entries_url(
    api_client: FlaskClient, reader: tuple[Company, PortalUser]
) -> None:
    company, user = reader
    first = get(api_client, user, f"/companies/{company.public_id}/charges?exercice=2050&limit=1")
    assert first.status_code == 200, first.json
    assert first.json["total_charges"] == "13345.67"
    [top] = first.json["items"]
    assert (top["party"], top["charges"], top["share_percent"]) == (
        "F/ORANGE 1",
        "12345.67",
        "92.5",
    )
    rest = get(
        api_client,
        user,
        f"/companies/{company.public_id}/charges?limit=1&cursor={first.json['next_cursor']}",
    )
    assert [i["party"] for i in rest.json["items"]] == ["606100"]
    assert rest.json["items"][0]["role"] == "compte" and rest.json["next_cursor"] is None

    entries = api_client.get(top["entries_url"], headers=bearer(token_for(user, advanced=True)))
    body = entries.json
    assert entries.status_code == 200 and body is not None, body
    assert body["label"] == "Orange Business"
    assert [e["date"] for e in body["items"]] == ["2050-01-15", "2050-03-02"]
    line = body["items"][1]
    assert (line["credit"], line["debit"], line["piece_ref"]) == ("12345.67", "0.00", "VE  0123")
    assert (line["lettering"], line["lettering_date"]) == ("AB", "2050-04-01")


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/charges?exercice=2099", 404, "no_fec"),
        ("/charges?exercice=abcd", 400, "invalid_parameter"),
        ("/charges?limit=500", 400, "invalid_parameter"),
        ("/charges?cursor=nimportequoi", 400, "invalid_cursor"),
        ("/schedules/clients?cursor=W10", 400, "invalid_cursor"),
        ("/parties/NOBODY/entries", 404, "not_found"),
    ],
)
def test_bad_arguments_are_problems_in_french(
    api_client: FlaskClient, reader: tuple[Company, PortalUser], url: str, status: int, code: str
) -> None:
    company, user = reader
    answer = get(api_client, user, f"/companies/{company.public_id}{url}")
    assert answer.status_code == status, answer.json
    assert answer.json["code"] == code


def test_rights_scope_module_mfa_and_tenant(
    api_client: FlaskClient, reader: tuple[Company, PortalUser]
) -> None:
    company, user = reader
    url = f"/companies/{company.public_id}/charges"
    assert get(api_client, user, url, scopes=("portal.deposits",)).status_code == 403
    no_mfa = get(api_client, user, url, advanced=False)
    assert no_mfa.status_code == 401 and no_mfa.json["code"] == "insufficient_user_authentication"
    depositor = make_member(company, modules={Module.DEPOSIT})
    refused = get(api_client, depositor, url)
    assert refused.status_code == 403 and refused.json["code"] == "module_refused"
    other = make_company(make_firm())
    seed_books(other)
    for tail in ("/charges", "/schedules/clients", "/parties/C%20DUPONT/entries"):
        assert get(api_client, user, f"/companies/{other.public_id}{tail}").status_code == 404
