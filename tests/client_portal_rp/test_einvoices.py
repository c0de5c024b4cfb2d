"""Electronic invoices deposited by clients (client_portal_rp/einvoices.py): CII (Factur-X
EN 16931) and UBL 2.1 read into EN 16931 terms with amounts in cents, a Factur-X PDF made by
the `factur-x` library, malformed and non-conforming XML reported in French, DOCTYPE/XXE
refused without reading any file, duplicates by invoice, due dates onto the FEC open items,
the deposit pages showing the invoice (SECURITY.md 49, 50 for the XML kind)."""

from __future__ import annotations

import io
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from client_portal_rp import einvoices
from client_portal_rp.deposits import services
from client_portal_rp.einvoices import (
    EInvoice,
    apply_due_dates,
    cii_invoice_xml,
    demo_facturx_pdf,
    read_einvoice,
)
from client_portal_rp.extensions import db
from client_portal_rp.files import FileKind, sniff
from client_portal_rp.models import (
    Company,
    Deposit,
    DepositInvoice,
    FecImport,
    FecOpenItem,
    Module,
    PortalUser,
)
from tests.client_portal_rp.conftest import (
    make_company,
    make_firm,
    make_member,
    make_staff,
    sign_in,
)
from tests.client_portal_rp.test_deposits import (
    JSON_ACCEPT,
    deposits_of,
    page_of,
    post_files,
    url_of,
)

UBL_NS = (
    'xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
    'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
    'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"'
)


def ubl_invoice(
    *,
    number: str = "2050/UBL/7",
    due: str | None = "2050-08-31",
    terms: str = "",
    vat: str = "FR40303265045",
    ttc: str = "1455412.68",
) -> bytes:
    """A UBL 2.1 invoice: the seller known only by its VAT number; 1 212 843,90 € HT."""
    due_line = f"<cbc:DueDate>{due}</cbc:DueDate>" if due else ""
    terms_line = (
        f"<cac:PaymentTerms><cbc:Note>{terms}</cbc:Note></cac:PaymentTerms>" if terms else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice {UBL_NS}>
  <cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>
  <cbc:ID>{number}</cbc:ID>
  <cbc:IssueDate>2050-08-01</cbc:IssueDate>
  {due_line}
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  <cac:AccountingSupplierParty><cac:Party>
    <cac:PostalAddress><cac:Country><cbc:IdentificationCode>FR</cbc:IdentificationCode>
    </cac:Country></cac:PostalAddress>
    <cac:PartyTaxScheme><cbc:CompanyID>{vat}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID>
    </cac:TaxScheme></cac:PartyTaxScheme>
    <cac:PartyLegalEntity><cbc:RegistrationName>Électricité Martin SARL</cbc:RegistrationName>
    </cac:PartyLegalEntity>
  </cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party>
    <cac:PostalAddress><cac:Country><cbc:IdentificationCode>FR</cbc:IdentificationCode>
    </cac:Country></cac:PostalAddress>
    <cac:PartyLegalEntity><cbc:RegistrationName>Boulangerie Martin</cbc:RegistrationName>
    </cac:PartyLegalEntity>
  </cac:Party></cac:AccountingCustomerParty>
  {terms_line}
  <cac:TaxTotal>
    <cbc:TaxAmount currencyID="EUR">242568.78</cbc:TaxAmount>
    <cac:TaxSubtotal><cbc:TaxableAmount currencyID="EUR">1212843.90</cbc:TaxableAmount>
    <cbc:TaxAmount currencyID="EUR">242568.78</cbc:TaxAmount><cac:TaxCategory><cbc:ID>S</cbc:ID>
    <cbc:Percent>20</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>
    </cac:TaxCategory></cac:TaxSubtotal>
  </cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="EUR">1212843.90</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="EUR">1212843.90</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="EUR">{ttc}</cbc:TaxInclusiveAmount>
    <cbc:PayableAmount currencyID="EUR">{ttc}</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
  <cac:InvoiceLine>
    <cbc:ID>1</cbc:ID>
    <cbc:InvoicedQuantity unitCode="C62">1</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="EUR">1212843.90</cbc:LineExtensionAmount>
    <cac:Item><cbc:Name>Installation</cbc:Name><cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID>
    <cbc:Percent>20</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>
    </cac:ClassifiedTaxCategory></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="EUR">1212843.90</cbc:PriceAmount></cac:Price>
  </cac:InvoiceLine>
</Invoice>
""".encode()


def plain_pdf() -> bytes:
    """A one-page PDF drawn by Pillow, with no embedded file."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (200, 280), "white").save(out, "PDF")
    return out.getvalue()


def facturx_pdf(**invoice: object) -> bytes:
    """A Factur-X PDF made by the library's own generate function from a PDF of ours."""
    from facturx import generate_from_binary

    return bytes(
        generate_from_binary(plain_pdf(), cii_invoice_xml(**invoice), flavor="factur-x")  # type: ignore[arg-type]
    )


@pytest.fixture
def member(portal_app: Flask, portal_client: FlaskClient) -> tuple[Company, PortalUser]:
    company = make_company(make_firm())
    user = make_member(company, modules={Module.DEPOSIT})
    sign_in(portal_client, portal_app, user)
    return company, user


# --- reading -----------------------------------------------------------------------------


def test_cii_factur_x_en16931_is_read_into_en16931_terms_in_cents() -> None:
    found = read_einvoice(cii_invoice_xml(total_ht_cents=121284390), FileKind.XML)
    assert found == EInvoice(
        source="xml",
        syntax="CII",
        profile="urn:cen.eu:en16931:2017",
        supplier_name="Moulins Dupont SAS",
        supplier_siren="552100554",
        invoice_number="FA-2050-0042",
        issue_date=date(2050, 9, 15),
        due_date=date(2050, 10, 15),
        currency="EUR",
        total_ht=121284390,
        total_tva=24256878,
        total_ttc=145541268,
    )
    assert found.number_key == "FA20500042"


def test_ubl_invoice_siren_from_the_french_vat_number() -> None:
    found = read_einvoice(ubl_invoice(), FileKind.XML)
    assert found is not None and found.error == ""
    assert (found.syntax, found.supplier_name, found.supplier_siren) == (
        "UBL",
        "Électricité Martin SARL",
        "303265045",
    )
    assert found.invoice_number == "2050/UBL/7" and found.due_date == date(2050, 8, 31)
    assert (found.total_ht, found.total_tva, found.total_ttc) == (121284390, 24256878, 145541268)


def test_amounts_are_decimal_never_float() -> None:
    # 0.1 + 0.2 in float is 0.30000000000000004: the cents must be exact.
    found = read_einvoice(ubl_invoice(ttc="0.30"), FileKind.XML)
    assert found is not None and found.total_ttc == 30


def test_siren_from_siret_and_no_siren_from_a_foreign_or_wrong_number() -> None:
    assert einvoices.seller_siren(
        {"legal_identifier": "55210055400013", "legal_identifier_schemeid": "0009"}
    ) == ("552100554")
    assert einvoices.seller_siren({"vat_identifier": "DE123456789"}) == ""
    assert einvoices.seller_siren({"vat_identifier": "FR40303265046"}) == ""  # Luhn fails
    assert einvoices.seller_siren(
        {"legal_identifier": "552 100 554", "legal_identifier_schemeid": "0002"}
    ) == ("552100554")


def test_due_date_from_the_payment_terms_when_clearly_one_date() -> None:
    one = read_einvoice(ubl_invoice(due=None, terms="Échéance le 15/09/2050"), FileKind.XML)
    assert one is not None and one.due_date == date(2050, 9, 15)
    two = read_einvoice(
        ubl_invoice(due=None, terms="50 % le 15/09/2050, le solde le 15/10/2050"), FileKind.XML
    )
    assert two is not None and two.error == "" and two.due_date is None
    none = read_einvoice(ubl_invoice(due=None, terms="30 jours fin de mois"), FileKind.XML)
    assert none is not None and none.due_date is None


def test_factur_x_pdf_made_by_the_library_is_read_inline_in_a_few_milliseconds() -> None:
    pdf = facturx_pdf(number="F-77", due=date(2050, 11, 30))
    assert pdf.startswith(b"%PDF-")
    read_einvoice(pdf, FileKind.PDF)  # warm: the library's import, the XSD compiled once
    started = time.perf_counter()
    found = read_einvoice(pdf, FileKind.PDF)
    elapsed = time.perf_counter() - started
    assert found is not None and found.source == "facturx" and found.error == ""
    assert found.invoice_number == "F-77" and found.due_date == date(2050, 11, 30)
    assert elapsed < 0.05  # inline at deposit (measured ~3 ms), not in the background job
    assert read_einvoice(demo_facturx_pdf(number="D-1"), FileKind.PDF) is not None


def test_a_plain_pdf_or_a_broken_one_is_not_an_e_invoice() -> None:
    assert read_einvoice(plain_pdf(), FileKind.PDF) is None
    assert read_einvoice(b"%PDF-1.7\n/EmbeddedFile garbage", FileKind.PDF) is None
    assert read_einvoice(b"\xff\xd8\xff", FileKind.JPEG) is None


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (b"<rsm:CrossIndustryInvoice", "Facture électronique illisible : le XML est mal formé"),
        (
            cii_invoice_xml().replace(b"</rsm:ExchangedDocument>", b""),
            "Facture électronique illisible : le XML est mal formé (ligne ",
        ),
        (
            b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
            "Facture électronique non reconnue : l'élément racine « html »",
        ),
        (
            cii_invoice_xml().replace(b"<ram:ID>FA-2050-0042</ram:ID>", b""),
            "Facture électronique incomplète : il manque le numéro de facture (BT-1).",
        ),
        (
            cii_invoice_xml().replace(b"<ram:TypeCode>380</ram:TypeCode>", b""),
            "Facture électronique non conforme au schéma CII de la norme EN 16931 (ligne ",
        ),
        (
            ubl_invoice(ttc="12,50"),
            "Facture électronique illisible : le total TTC (BT-112) « 12,50 » n'est pas un "
            "montant.",
        ),
    ],
    ids=["truncated", "unclosed", "wrong-root", "no-number", "xsd", "amount"],
)
def test_malformed_or_non_conforming_xml_is_a_french_error_never_an_exception(
    xml: bytes, message: str
) -> None:
    found = read_einvoice(xml, FileKind.XML)
    assert found is not None and found.error.startswith(message), found
    assert found.invoice_number == "" and found.total_ttc is None and found.number_key == ""


def test_doctype_and_external_entity_are_refused_and_no_file_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("MOT-DE-PASSE-SECRET")
    xxe = (
        cii_invoice_xml()
        .replace(
            b"<rsm:CrossIndustryInvoice",
            f'<!DOCTYPE rsm:CrossIndustryInvoice [<!ENTITY x SYSTEM "file://{secret}">]>\n'
            "<rsm:CrossIndustryInvoice".encode(),
            1,
        )
        .replace(b"FA-2050-0042", b"&x;")
    )
    laughs = cii_invoice_xml().replace(
        b"<rsm:CrossIndustryInvoice",
        b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
        b"<rsm:CrossIndustryInvoice",
        1,
    )
    # The DOCTYPE past the first 64 KiB (after a long comment): the parser's own check.
    hidden = (
        cii_invoice_xml()
        .replace(
            b"<rsm:CrossIndustryInvoice",
            b"<!-- "
            + b"x" * 70000
            + b" -->"
            + f'<!DOCTYPE rsm:CrossIndustryInvoice [<!ENTITY x SYSTEM "file://{secret}">]>'.encode()
            + b"<rsm:CrossIndustryInvoice",
            1,
        )
        .replace(b"FA-2050-0042", b"&x;")
    )
    for xml in (xxe, laughs, hidden):
        found = read_einvoice(xml, FileKind.XML)
        assert found is not None
        assert found.error.startswith(
            "Facture électronique refusée : elle contient une déclaration"
        )
        assert "MOT-DE-PASSE" not in repr(found)
    # Not even a deposit: such a file is not sniffed as an e-invoice.
    path = tmp_path / "xxe.xml"
    path.write_bytes(xxe)
    assert sniff(path) is None


def test_sniff_takes_cii_and_ubl_roots_only(tmp_path: Path) -> None:
    def kind(content: bytes) -> FileKind | None:
        path = tmp_path / "f.xml"
        path.write_bytes(content)
        return sniff(path)

    assert kind(cii_invoice_xml()) is FileKind.XML
    assert kind(ubl_invoice()) is FileKind.XML
    assert (
        kind(
            b"\xef\xbb\xbf<!-- x --><ubl:CreditNote "
            b'xmlns:ubl="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2">'
        )
        is FileKind.XML
    )
    # The root's name without the e-invoice namespace, an SVG, XHTML: none of ours.
    assert kind(b'<?xml version="1.0"?><Invoice xmlns="urn:example:other"/>') is None
    assert kind(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>') is None
    assert kind(b'<html xmlns="http://www.w3.org/1999/xhtml"><script>1</script></html>') is None
    assert kind(b"<Invoice>") is None


# --- the échéancier ----------------------------------------------------------------------


def fec_import(company: Company, exercice: int = 2050) -> FecImport:
    row = FecImport(
        company_id=company.id,
        exercice=exercice,
        period_start=date(exercice, 1, 1),
        period_end=date(exercice, 12, 31),
        filename=f"FEC{exercice}.txt",
        sha256="0" * 64,
        line_count=0,
        entry_count=0,
        total_debit=0,
        total_credit=0,
    )
    db.session.add(row)
    db.session.flush()
    return row


def open_item(fec: FecImport, piece_ref: str, due: date = date(2050, 10, 1)) -> FecOpenItem:
    from client_portal_rp.fec.refs import piece_key

    item = FecOpenItem(
        import_id=fec.id,
        side="fournisseur",
        party="401DUPONT",
        line_no=2,
        compte_num="401000",
        piece_ref=piece_ref,
        piece_key=piece_key(piece_ref),
        piece_date=date(2050, 9, 15),
        label="Facture Dupont",
        amount=120000,
        due_date=due,
        due_source="delai",
    )
    db.session.add(item)
    db.session.flush()
    return item


def deposit_bytes(
    company: Company, data: bytes, name: str, *, piece_ref: str = ""
) -> services.DepositResult:
    from hashlib import sha256

    path = services.upload_tmp_dir() / f"t-{sha256(data).hexdigest()[:12]}"
    path.write_bytes(data)
    try:
        deposit_type = services.deposit_type_of(company, "achats")
        assert deposit_type is not None
        result = services.deposit_file(
            company,
            deposit_type,
            path=path,
            filename=name,
            size=len(data),
            sha256=sha256(data).hexdigest(),
            uploaded_by=None,
            source="email",
            piece_ref=piece_ref,
        )
    finally:
        path.unlink()
    db.session.commit()
    return result


def test_apply_due_dates_writes_the_invoice_due_date_onto_open_items_with_its_key(
    portal_app: Flask,
) -> None:
    company = make_company(make_firm())
    other = make_company(company.firm, "Autre")
    first, second = fec_import(company, 2050), fec_import(company, 2049)
    matching = open_item(first, "FA 2050 0042")
    older = open_item(second, "fa-2050-0042")
    unrelated = open_item(first, "FA-2050-0043")
    elsewhere = open_item(fec_import(other), "FA-2050-0042")
    db.session.commit()
    # An invoice deposited before any import: the import applies it afterwards.
    deposit_bytes(company, cii_invoice_xml(due=date(2050, 10, 15)), "f.xml")
    db.session.refresh(matching)
    assert matching.due_date == date(2050, 10, 15) and matching.due_source == "facture"
    # Reset, then the importer's call for one import only.
    for item in (matching, older):
        item.due_date, item.due_source = date(2050, 10, 1), "delai"
    db.session.commit()
    assert apply_due_dates(company.id, first.id) == 1
    db.session.commit()
    assert (matching.due_date, matching.due_source) == (date(2050, 10, 15), "facture")
    assert (older.due_date, older.due_source) == (date(2050, 10, 1), "delai")
    assert apply_due_dates(company.id) == 1  # the other import now; nothing twice
    assert apply_due_dates(company.id) == 0
    db.session.commit()
    assert older.due_date == date(2050, 10, 15)
    assert (unrelated.due_source, elsewhere.due_source) == ("delai", "delai")
    assert elsewhere.due_date == date(2050, 10, 1)


def test_apply_due_dates_without_invoices_changes_nothing(portal_app: Flask) -> None:
    company = make_company(make_firm())
    fec = fec_import(company)
    open_item(fec, "FA-1")
    db.session.commit()
    assert apply_due_dates(company.id) == 0
    assert apply_due_dates(company.id, fec.id) == 0


# --- deposits ----------------------------------------------------------------------------


def test_a_deposited_factur_x_is_stored_and_its_number_becomes_the_piece_reference(
    portal_app: Flask,
) -> None:
    company = make_company(make_firm())
    result = deposit_bytes(company, facturx_pdf(number="FA-2050-0042"), "facture.pdf")
    deposit = result.deposit
    invoice = db.session.get(DepositInvoice, deposit.id)
    assert invoice is not None and invoice.company_id == company.id
    assert (invoice.source, invoice.syntax, invoice.number_key) == ("facturx", "CII", "FA20500042")
    assert invoice.profile == "urn:cen.eu:en16931:2017" and invoice.total_ttc == 120000
    assert (deposit.piece_ref, deposit.piece_key) == ("FA-2050-0042", "FA20500042")
    # A reference the client typed is kept.
    typed = deposit_bytes(
        company, facturx_pdf(number="FA-9"), "autre.pdf", piece_ref="  ACH 2050/17 "
    )
    assert (typed.deposit.piece_ref, typed.deposit.piece_key) == ("ACH 2050/17", "ACH205017")


def test_a_plain_pdf_has_no_invoice_row_and_a_broken_xml_has_its_error(portal_app: Flask) -> None:
    company = make_company(make_firm())
    plain = deposit_bytes(company, plain_pdf(), "scan.pdf")
    assert plain.invoice is None and db.session.get(DepositInvoice, plain.deposit.id) is None
    broken = deposit_bytes(
        company, cii_invoice_xml().replace(b"<ram:ID>FA-2050-0042</ram:ID>", b""), "f.xml"
    )
    assert broken.deposit.kind == "xml"
    row = db.session.get(DepositInvoice, broken.deposit.id)
    assert row is not None and row.error.startswith("Facture électronique incomplète")
    assert row.number_key == "" and broken.deposit.piece_ref == ""


def test_the_same_invoice_again_is_a_duplicate_by_supplier_number_and_total(
    portal_app: Flask,
) -> None:
    company = make_company(make_firm())
    first = deposit_bytes(company, facturx_pdf(number="FA-2050-0042"), "facture.pdf").deposit
    first.created_at = datetime(2050, 9, 16, 8, 5, tzinfo=UTC)
    db.session.commit()
    # The same invoice as its XML (other bytes), its number written otherwise.
    again = deposit_bytes(company, cii_invoice_xml(number="fa 2050 0042"), "facture.xml")
    assert again.deposit.duplicate_of_id == first.id and again.invoice_duplicate_of == first
    assert again.message == (
        "« facture.xml » est déposé. Cette facture (n° fa 2050 0042) a déjà été déposée le "
        "16/09/2050 à 10:05 (« facture.pdf ») : elle est signalée comme doublon probable."
    )
    # Another total, another supplier (SIREN), or another company: no duplicate.
    assert (
        deposit_bytes(
            company, cii_invoice_xml(total_ht_cents=99900), "b.xml"
        ).deposit.duplicate_of_id
        is None
    )
    assert (
        deposit_bytes(
            company, cii_invoice_xml(seller="Autre SA", siren="303265045"), "c.xml"
        ).deposit.duplicate_of_id
        is None
    )
    other = make_company(company.firm, "Autre")
    assert deposit_bytes(other, cii_invoice_xml(), "d.xml").deposit.duplicate_of_id is None


def test_xml_is_deposited_and_only_ever_downloaded_under_the_sandbox(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    xml = ubl_invoice()
    answer = post_files(
        portal_client, company, [("../../facture<script>.xml", xml)], headers=JSON_ACCEPT
    )
    assert answer.status_code == 201, answer.json
    (deposit,) = deposits_of(company)
    assert deposit.kind == "xml" and deposit.filename == "facture<script>.xml"
    root = services.blob_store()
    assert root.exists(deposit.blob_sha256)
    for tail in ("fichier", "apercu"):
        response = portal_client.get(url_of(company, f"/{deposit.public_id}/{tail}"))
        assert response.status_code == 200 and response.data == xml
        assert response.headers["Content-Type"].startswith("application/xml")
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert "/" not in response.headers["Content-Disposition"].split("filename*=")[0]
        assert response.headers["Content-Security-Policy"].startswith("sandbox")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The "Données" type takes no XML.
    refused = post_files(
        portal_client, company, [("f.xml", xml)], code="donnees", headers=JSON_ACCEPT
    )
    assert refused.status_code == 422 and refused.json is not None
    assert "fichier XML de facture électronique" in refused.json["results"][0]["message"]


def test_the_deposit_page_shows_the_invoice_due_date_amounts_and_reference(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    pdf = facturx_pdf(number="FA-2050-0042", total_ht_cents=121284390, due=date(2050, 10, 15))
    answer = post_files(
        portal_client,
        company,
        [("facture.pdf", pdf)],
        extra=[("piece_ref", "")],
        headers=JSON_ACCEPT,
    )
    assert answer.status_code == 201, answer.json
    page = page_of(portal_client, url_of(company))
    assert "Moulins Dupont SAS" in page and "SIREN 552100554" in page
    assert "FA-2050-0042" in page
    assert "data-due-date>15/10/2050<" in page and "15/09/2050" in page
    assert "1\u202f212\u202f843,90\u00a0€" in page  # HT
    assert "242\u202f568,78\u00a0€" in page and "1\u202f455\u202f412,68\u00a0€" in page
    assert "Référence de la pièce" in page and "data-piece-ref>FA-2050-0042<" in page
    # A reference typed on the form is kept; one too long is refused in French.
    typed = post_files(
        portal_client,
        company,
        [("ticket.pdf", plain_pdf())],
        extra=[("piece_ref", "ACH-17")],
        headers=JSON_ACCEPT,
    )
    assert typed.status_code == 201
    assert deposits_of(company)[-1].piece_ref == "ACH-17"
    too_long = post_files(
        portal_client,
        company,
        [("ticket2.pdf", plain_pdf() + b"%x\n")],
        extra=[("piece_ref", "X" * 101)],
        headers=JSON_ACCEPT,
    )
    assert too_long.status_code == 422 and too_long.json is not None
    assert too_long.json["message"] == "La référence de la pièce fait 100 caractères au plus."
    assert len(deposits_of(company)) == 2


def test_an_unreadable_invoice_shows_its_french_error_on_the_page(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    broken = cii_invoice_xml().replace(b"<ram:TypeCode>380</ram:TypeCode>", b"")
    assert post_files(portal_client, company, [("f.xml", broken)]).status_code == 303
    page = page_of(portal_client, url_of(company))
    assert "Facture électronique non conforme au schéma CII" in page


def test_the_firms_inbox_shows_the_invoice(portal_app: Flask, portal_client: FlaskClient) -> None:
    firm = make_firm()
    company = make_company(firm)
    deposit_bytes(company, facturx_pdf(number="FA-2050-0042"), "facture.pdf")
    staff = make_staff(firm)
    sign_in(portal_client, portal_app, staff)
    page = page_of(portal_client, f"/cabinet/{firm.public_id}/depots")
    assert "Moulins Dupont SAS" in page and "data-due-date>15/10/2050<" in page
    assert "1\u202f200,00\u00a0€" in page and "FA-2050-0042" in page


def test_the_invoice_row_is_the_deposits(portal_app: Flask) -> None:
    company = make_company(make_firm())
    result = deposit_bytes(company, cii_invoice_xml(), "f.xml")
    deposit = db.session.scalar(select(Deposit).where(Deposit.id == result.deposit.id))
    assert deposit is not None and deposit.invoice is not None
    assert deposit.invoice.invoice_number == "FA-2050-0042"
