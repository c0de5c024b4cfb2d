"""The API's deposits and e-invoices: `piece_ref` at upload and in every deposit, the
`invoice` object (amounts as decimal strings in euros, ISO dates) in one deposit's answer,
null for a file that is no e-invoice, the French error for one that cannot be read."""

from __future__ import annotations

import io
from datetime import date

from flask.testing import FlaskClient

from client_portal_rp.models import Company, PortalUser
from tests.client_portal_rp.api.support import bearer, token_for
from tests.client_portal_rp.api.test_api_deposits import (
    assert_problem,
    get,
    member,  # noqa: F401 - fixture
    rows,
    url,
)
from tests.client_portal_rp.test_einvoices import facturx_pdf, plain_pdf, ubl_invoice


def upload(
    client: FlaskClient, company: Company, user: PortalUser, data: bytes, name: str, **fields: str
) -> dict[str, object]:
    form: dict[str, object] = {"type": "achats", "file": (io.BytesIO(data), name), **fields}
    answer = client.post(url(company), data=form, headers=bearer(token_for(user)))
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert answer.json is not None
    return answer.json


def test_a_factur_x_deposit_answers_its_invoice_and_piece_reference(
    api_client: FlaskClient,
    member: tuple[Company, PortalUser],  # noqa: F811
) -> None:
    company, user = member
    pdf = facturx_pdf(number="FA-2050-0042", total_ht_cents=121284390, due=date(2050, 10, 15))
    created = upload(api_client, company, user, pdf, "facture.pdf")
    expected = {
        "source": "facturx",
        "syntax": "CII",
        "profile": "urn:cen.eu:en16931:2017",
        "supplier_name": "Moulins Dupont SAS",
        "supplier_siren": "552100554",
        "invoice_number": "FA-2050-0042",
        "issue_date": "2050-09-15",
        "due_date": "2050-10-15",
        "currency": "EUR",
        "total_ht": "1212843.90",
        "total_tva": "242568.78",
        "total_ttc": "1455412.68",
        "error": "",
    }
    assert created["invoice"] == expected and created["piece_ref"] == "FA-2050-0042"
    detail = get(api_client, url(company, f"/{created['id']}"), user)
    assert detail.status_code == 200 and detail.json is not None
    assert detail.json["invoice"] == expected
    listed = get(api_client, url(company), user)
    assert listed.json is not None
    assert listed.json["items"][0]["piece_ref"] == "FA-2050-0042"


def test_piece_ref_at_upload_a_plain_pdf_has_no_invoice_and_a_bad_xml_its_error(
    api_client: FlaskClient,
    member: tuple[Company, PortalUser],  # noqa: F811
) -> None:
    company, user = member
    plain = upload(api_client, company, user, plain_pdf(), "ticket.pdf", piece_ref="ACH-17")
    assert plain["invoice"] is None and plain["piece_ref"] == "ACH-17"
    bad = upload(api_client, company, user, ubl_invoice(ttc="12,50"), "f.xml")
    invoice = bad["invoice"]
    assert isinstance(invoice, dict) and invoice["total_ttc"] is None
    assert invoice["error"].startswith("Facture électronique illisible : le total TTC")
    assert bad["kind"] == "xml" and bad["piece_ref"] == ""
    form = {"type": "achats", "file": (io.BytesIO(plain_pdf()), "x.pdf"), "piece_ref": "X" * 101}
    answer = api_client.post(url(company), data=form, headers=bearer(token_for(user)))
    body = assert_problem(answer, 422, "validation_error")
    assert body["errors"] == {
        "piece_ref": ["La référence de la pièce fait 100 caractères au plus."]
    }
    assert len(rows(company)) == 2
