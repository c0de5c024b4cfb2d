"""Electronic invoices deposited by clients: a Factur-X (ZUGFeRD 2) PDF, or the CII or UBL 2.1
XML itself, read into the EN 16931 terms the portal uses (docs/adr/0027-fec-indicators.md):
seller name (BT-27) and SIREN, invoice number (BT-1), issue and due dates (BT-2, BT-9),
currency (BT-5), totals HT/TVA/TTC (BT-109, BT-110, BT-112) in integer cents.

The XML is parsed here, by lxml with a parser that expands no entity, loads no DTD, opens no
network and keeps libxml2's size limits (`huge_tree` off); a document type declaration is
refused outright (an XXE or "billion laughs" attempt never reaches an entity). Only the root
elements of CII and UBL in their namespaces are taken. The maintained `factur-x` library then
maps the parsed tree to EN 16931 terms (`parse_ubl_cii_xml`, given our tree, never the bytes)
and its XSD files check conformance (compiled once per process here: the UBL schema takes
~80 ms to compile). A Factur-X PDF's XML is taken from its embedded files with pypdf, which
the library uses too; the library's own `get_xml_from_pdf` would parse the attachment with
lxml's default parser.

`read_einvoice` never raises: a file that is no e-invoice (a plain PDF, a scan) is None, a
file that claims to be one and cannot be read is an `EInvoice` whose `error` is the French
reason. The deposit keeps the file either way.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from dataclasses import dataclass, fields
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree
from sqlalchemy import select, update

from client_portal_rp.companies import siren_is_valid
from client_portal_rp.extensions import db
from client_portal_rp.fec.books_lock import lock_books
from client_portal_rp.fec.refs import piece_key
from client_portal_rp.fec.schedules import store_ageing
from client_portal_rp.files import FileKind
from client_portal_rp.models import Deposit, DepositInvoice, FecImport, FecOpenItem

logger = logging.getLogger(__name__)

CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
UBL_INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
# Root element → (syntax, factur-x library flavor)
ROOTS = {
    f"{{{CII_NS}}}CrossIndustryInvoice": ("CII", "factur-x"),
    f"{{{UBL_INVOICE_NS}}}Invoice": ("UBL", "ubl-2.1-invoice"),
    f"{{{UBL_CREDIT_NOTE_NS}}}CreditNote": ("UBL", "ubl-2.1-creditnote"),
}
# The names a Factur-X / ZUGFeRD 2 / XRechnung PDF gives its invoice XML (compared lower-case).
PDF_XML_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml")
MAX_NUMBER = 100
MAX_NAME = 300
CENT = Decimal("0.01")

ILLISIBLE = "Facture électronique illisible : "


class InvoiceUnreadable(Exception):
    """The French reason an e-invoice cannot be read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class EInvoice:
    """What an e-invoice says, or (`error`) why it could not be read: the figures are then
    empty. Amounts in integer cents."""

    source: str  # "facturx" (a PDF carrying the XML) or "xml"
    syntax: str = ""  # "CII" or "UBL"
    profile: str = ""  # BT-24, the specification identifier (guideline)
    supplier_name: str = ""
    supplier_siren: str = ""
    invoice_number: str = ""
    issue_date: date | None = None
    due_date: date | None = None
    currency: str = ""
    total_ht: int | None = None
    total_tva: int | None = None
    total_ttc: int | None = None
    error: str = ""

    @property
    def number_key(self) -> str:
        return piece_key(self.invoice_number) if not self.error else ""


# --- reading -----------------------------------------------------------------------------


def read_einvoice(data: bytes, kind: FileKind) -> EInvoice | None:
    """The e-invoice in a deposited file: a PDF carrying an invoice XML, or the XML itself.
    None for anything else (a PDF without one, a photo). Never raises."""
    try:
        if kind is FileKind.PDF:
            xml = xml_of_pdf(data)
            return None if xml is None else parse_invoice_xml(xml, source="facturx")
        if kind is FileKind.XML:
            return parse_invoice_xml(data, source="xml")
    except Exception:  # a defect of ours or of a library: logged, the deposit goes on
        logger.exception("e-invoice reading failed")
        return EInvoice(
            source="facturx" if kind is FileKind.PDF else "xml",
            error=ILLISIBLE + "son contenu n'a pas pu être analysé.",
        )
    return None


def read_einvoice_file(path: Path, kind: FileKind) -> EInvoice | None:
    """`read_einvoice` for a file on disk: a PDF is not read whole (pypdf reads its
    cross-reference table and catalog only: under 1 ms for a 15 MB scan, ~2 ms for a
    Factur-X)."""
    if kind is FileKind.PDF:
        try:
            with open(path, "rb") as stream:
                xml = xml_of_pdf(stream)
            return None if xml is None else parse_invoice_xml(xml, source="facturx")
        except Exception:
            logger.exception("e-invoice reading failed")
            return EInvoice(
                source="facturx", error=ILLISIBLE + "son contenu n'a pas pu être analysé."
            )
    if kind is FileKind.XML:
        return read_einvoice(path.read_bytes(), kind)
    return None


def xml_of_pdf(pdf: bytes | BinaryIO) -> bytes | None:
    """The invoice XML a Factur-X / ZUGFeRD PDF embeds, else None (a plain or unreadable PDF:
    the deposit is simply not an e-invoice)."""
    from pypdf import PdfReader

    try:
        stream = io.BytesIO(pdf) if isinstance(pdf, bytes) else pdf
        attachments = PdfReader(stream).attachments
        for name, contents in attachments.items():
            if name.lower() in PDF_XML_NAMES and contents and contents[0]:
                return bytes(contents[0])
    except Exception as error:  # pypdf raises many kinds on broken PDFs
        logger.info("PDF not readable for attachments: %s", error)
    return None


_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "huge_tree": False,
    "load_dtd": False,
    "dtd_validation": False,
    "remove_comments": True,
    "remove_pis": True,
}


def _safe_tree(xml: bytes) -> etree._Element:
    """Parse without entities, DTD or network; a DOCTYPE is refused before and after."""
    if re.search(rb"<!\s*(?:DOCTYPE|ENTITY)", xml[:65536], re.IGNORECASE):
        raise InvoiceUnreadable(
            "Facture électronique refusée : elle contient une déclaration DOCTYPE ou ENTITY, "
            "qu'une facture n'a pas (risque de lecture de fichiers)."
        )
    parser = etree.XMLParser(**_PARSER_OPTIONS)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as error:
        line = f" (ligne {error.lineno})" if error.lineno else ""
        raise InvoiceUnreadable(ILLISIBLE + f"le XML est mal formé{line}.") from None
    except ValueError:  # e.g. a str with an encoding declaration; bytes are always passed
        raise InvoiceUnreadable(ILLISIBLE + "le XML est mal formé.") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise InvoiceUnreadable(
            "Facture électronique refusée : elle contient une déclaration DOCTYPE ou ENTITY, "
            "qu'une facture n'a pas (risque de lecture de fichiers)."
        )
    return root


def parse_invoice_xml(xml: bytes, *, source: str) -> EInvoice:
    """A CII (Factur-X) or UBL 2.1 invoice or credit note into EN 16931 terms, or an EInvoice
    carrying the French reason it could not be read."""
    try:
        return _parse(xml, source)
    except InvoiceUnreadable as unreadable:
        return EInvoice(source=source, error=unreadable.message)


def _parse(xml: bytes, source: str) -> EInvoice:
    from facturx import get_level, parse_ubl_cii_xml

    root = _safe_tree(xml)
    if root.tag not in ROOTS:
        local = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        raise InvoiceUnreadable(
            f"Facture électronique non reconnue : l'élément racine « {local[:60]} » n'est ni une "
            "facture CII (Factur-X) ni une facture ou un avoir UBL."
        )
    syntax, flavor = ROOTS[root.tag]
    try:
        level = get_level(root, flavor)
    except Exception:
        level = "en16931"  # no or an unknown guideline: read it as the core standard
    try:
        terms = parse_ubl_cii_xml(
            root,
            flavor=flavor,
            level=level,
            float_as="string",
            date_as="string",
            check_xsd=False,
        )
    except Exception as error:
        logger.info("factur-x could not map the invoice: %s", error)
        raise InvoiceUnreadable(ILLISIBLE + "ses champs n'ont pas pu être lus.") from None
    seller = terms.get("BG-4") or {}
    invoice = EInvoice(
        source=source,
        syntax=syntax,
        profile=_text(terms.get("BT-24"), 100),
        supplier_name=_text(seller.get("name") or seller.get("biz_name"), MAX_NAME),
        supplier_siren=seller_siren(seller),
        invoice_number=_text(terms.get("BT-1"), 1000),
        issue_date=_date(terms.get("BT-2"), "la date de la facture (BT-2)"),
        due_date=_due_date(terms),
        currency=_text(terms.get("BT-5"), 3).upper(),
        total_ht=_cents(terms.get("BT-109"), "le total HT (BT-109)"),
        total_tva=_cents(terms.get("BT-110"), "le total de TVA (BT-110)"),
        total_ttc=_cents(terms.get("BT-112"), "le total TTC (BT-112)"),
    )
    _check_required(invoice)
    _check_schema(root, syntax, flavor, level)
    return invoice


def _text(value: Any, limit: int) -> str:
    return " ".join(str(value).split())[:limit] if value else ""


def _check_required(invoice: EInvoice) -> None:
    missing = [
        label
        for label, present in (
            ("le numéro de facture (BT-1)", invoice.invoice_number),
            ("la date de la facture (BT-2)", invoice.issue_date),
            ("le nom du fournisseur (BT-27)", invoice.supplier_name),
            ("le total TTC (BT-112)", invoice.total_ttc is not None),
        )
        if not present
    ]
    if missing:
        raise InvoiceUnreadable(
            "Facture électronique incomplète : il manque " + ", ".join(missing) + "."
        )
    if len(invoice.invoice_number) > MAX_NUMBER:
        raise InvoiceUnreadable(
            "Facture électronique non conforme : le numéro de facture dépasse "
            f"{MAX_NUMBER} caractères."
        )


_schemas: dict[str, etree.XMLSchema] = {}
# One compiled schema per process, used under a lock: compiling UBL's takes ~80 ms, validating
# an invoice ~1 ms, and an lxml schema object is not documented as safe to share by threads.
_schema_lock = threading.Lock()


def _schema_file(flavor: str, level: str) -> str:
    from facturx import facturx as library

    if flavor == "factur-x":
        return str(library.FACTURX_LEVEL2xsd.get(level, library.FACTURX_LEVEL2xsd["en16931"]))
    return str(library.UBL_21_xsd[flavor])


def _check_schema(root: etree._Element, syntax: str, flavor: str, level: str) -> None:
    """Valid against the library's XSD for the flavor (and Factur-X profile)."""
    relative = _schema_file(flavor, level)
    with _schema_lock:
        schema = _schemas.get(relative)
        if schema is None:
            path = resources.files("facturx").joinpath("xsd_and_schematron", relative)
            schema = _schemas[relative] = etree.XMLSchema(file=str(path))
        if schema.validate(root):
            return
        errors = list(schema.error_log.filter_from_errors())
    where = ""
    if errors:
        entry = errors[0]
        element = re.search(r"Element '(?:\{[^}]*\})?([\w.-]+)", entry.message or "")
        where = f" (ligne {entry.line}" + (f", élément « {element[1]} »" if element else "") + ")"
    raise InvoiceUnreadable(
        f"Facture électronique non conforme au schéma {syntax} de la norme EN 16931{where}."
    )


_VAT_FR = re.compile(r"FR[0-9A-Z]{2}(\d{9})")


def seller_siren(seller: dict[str, Any]) -> str:
    """The seller's SIREN: its legal registration (BT-30) under scheme 0002 (SIREN) or 0009
    (SIRET, whose first 9 digits are the SIREN), else the 9 digits after the key of a French
    VAT number (BT-31). '' when none gives a valid SIREN (Luhn)."""
    legal = re.sub(r"[\s.]", "", str(seller.get("legal_identifier") or ""))
    scheme = str(seller.get("legal_identifier_schemeid") or "").strip()
    candidates = []
    if scheme == "0002" and re.fullmatch(r"\d{9}", legal):
        candidates.append(legal)
    if scheme == "0009" and re.fullmatch(r"\d{14}", legal):
        candidates.append(legal[:9])
    vat = re.sub(r"[\s.]", "", str(seller.get("vat_identifier") or "")).upper()
    found = _VAT_FR.fullmatch(vat)
    if found:
        candidates.append(found[1])
    return next((siren for siren in candidates if siren_is_valid(siren)), "")


def _date(value: Any, label: str) -> date | None:
    """An ISO date (the library writes CII's `102` format as ISO too)."""
    if not value:
        return None
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d{8}", text):
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return date.fromisoformat(text[:10])
    except ValueError:
        raise InvoiceUnreadable(
            ILLISIBLE + f"{label} « {text[:20]} » n'est pas une date valable."
        ) from None


_TERMS_DATE = re.compile(
    r"(?<!\d)(?:(\d{4})-(\d{2})-(\d{2})|(\d{1,2})[/.](\d{1,2})[/.](\d{4}))(?!\d)"
)


def _due_date(terms: dict[str, Any]) -> date | None:
    """BT-9, else the one date the payment terms (BT-20) name (« échéance le 15/10/2050 »);
    none when they name none or several."""
    if terms.get("BT-9"):
        return _date(terms["BT-9"], "la date d'échéance (BT-9)")
    found = _TERMS_DATE.findall(str(terms.get("BT-20") or ""))
    if len(found) != 1:
        return None
    year, month, day, day2, month2, year2 = found[0]
    try:
        if year:
            return date(int(year), int(month), int(day))
        return date(int(year2), int(month2), int(day2))
    except ValueError:
        return None


def _cents(value: Any, label: str) -> int | None:
    """`"1234.5"` → 123450 (Decimal, rounded half up to the cent); None when absent."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvoiceUnreadable(
            ILLISIBLE + f"{label} « {text[:30]} » n'est pas un montant."
        ) from None
    if not amount.is_finite() or abs(amount) >= Decimal(10) ** 15:
        raise InvoiceUnreadable(ILLISIBLE + f"{label} « {text[:30]} » n'est pas un montant.")
    return int((amount.quantize(CENT, rounding=ROUND_HALF_UP) * 100).to_integral_value())


# --- storing -----------------------------------------------------------------------------


def store_invoice(deposit: Deposit, invoice: EInvoice) -> DepositInvoice:
    """The deposit's DepositInvoice row (added to the session, flushed)."""
    row = DepositInvoice(
        deposit_id=deposit.id,
        company_id=deposit.company_id,
        number_key=invoice.number_key,
        **{f.name: getattr(invoice, f.name) for f in fields(EInvoice)},
    )
    db.session.add(row)
    db.session.flush()
    return row


def supplier_matches(one: DepositInvoice, other: DepositInvoice) -> bool:
    """The same supplier: the same SIREN when this invoice has one, else the same name
    (case-folded, spaces collapsed)."""
    if one.supplier_siren:
        return one.supplier_siren == other.supplier_siren
    return _name_key(one.supplier_name) == _name_key(other.supplier_name) != ""


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def invoice_duplicate_of(row: DepositInvoice) -> Deposit | None:
    """The company's earliest other deposit of the same invoice: same supplier, same number
    (its key) and same total TTC."""
    if row.error or not row.number_key or row.total_ttc is None:
        return None
    candidates = db.session.scalars(
        select(DepositInvoice)
        .join(Deposit, Deposit.id == DepositInvoice.deposit_id)
        .where(
            DepositInvoice.company_id == row.company_id,
            DepositInvoice.number_key == row.number_key,
            DepositInvoice.total_ttc == row.total_ttc,
            DepositInvoice.deposit_id != row.deposit_id,
            DepositInvoice.error == "",
        )
        .order_by(Deposit.created_at, Deposit.id)
    )
    for other in candidates:
        if supplier_matches(row, other):
            return other.deposit
    return None


def invoice_duplicate_message(first: Deposit, number: str) -> str:
    from client_portal_rp.deposits.services import paris_time

    return (
        f"Cette facture (n° {number}) a déjà été déposée le {paris_time(first.created_at)} "
        f"(« {first.filename} ») : elle est signalée comme doublon probable."
    )


# --- the échéancier ----------------------------------------------------------------------


def apply_due_dates(
    company_id: int, import_id: int | None = None, *, number_key: str | None = None
) -> int:
    """Write the due date of the company's deposited e-invoices onto its FEC open items with
    the same piece key (all its imports, or `import_id`; all keys, or `number_key`), with
    `due_source = "facture"`. Several invoices with one key: the latest deposit's. Returns the
    number of open items changed. The caller commits; the company's books stay locked until
    then (an import running meanwhile waits, and then sees this invoice)."""
    lock_books(company_id)
    invoices = select(DepositInvoice.number_key, DepositInvoice.due_date).where(
        DepositInvoice.company_id == company_id,
        DepositInvoice.due_date.is_not(None),
        DepositInvoice.number_key != "",
        DepositInvoice.error == "",
    )
    if number_key is not None:
        invoices = invoices.where(DepositInvoice.number_key == number_key)
    due_by_key: dict[str, date] = {}
    for key, due in db.session.execute(invoices.order_by(DepositInvoice.deposit_id)):
        if due is not None:
            due_by_key[key] = due  # the latest deposit wins
    if not due_by_key:
        return 0
    items = (
        select(
            FecOpenItem.id,
            FecOpenItem.piece_key,
            FecOpenItem.due_date,
            FecOpenItem.due_source,
            FecOpenItem.import_id,
            FecOpenItem.side,
            FecOpenItem.party,
        )
        .join(FecImport, FecImport.id == FecOpenItem.import_id)
        .where(FecImport.company_id == company_id, FecOpenItem.piece_key != "")
    )
    if import_id is not None:
        items = items.where(FecOpenItem.import_id == import_id)
    if number_key is not None:
        items = items.where(FecOpenItem.piece_key == number_key)
    else:
        items = items.where(
            FecOpenItem.piece_key.in_(invoices.with_only_columns(DepositInvoice.number_key))
        )
    changes: list[dict[str, Any]] = []
    touched: dict[int, set[tuple[str, str]]] = {}  # import → its (side, party) to age again
    for item_id, key, due, source, item_import, side, party in db.session.execute(items):
        if key in due_by_key and (due != due_by_key[key] or source != "facture"):
            changes.append({"id": item_id, "due_date": due_by_key[key], "due_source": "facture"})
            touched.setdefault(item_import, set()).add((side, party))
    if changes:
        db.session.execute(update(FecOpenItem), changes)
        for changed_import, parties in touched.items():
            # The books are locked: no re-import can have deleted this import meanwhile.
            store_ageing(db.session.get_one(FecImport, changed_import), parties)
    return len(changes)


# --- a sample (tests, demo) --------------------------------------------------------------


def cii_invoice_xml(
    *,
    number: str = "FA-2050-0042",
    seller: str = "Moulins Dupont SAS",
    siren: str = "552100554",
    buyer: str = "Boulangerie Martin",
    issued: date = date(2050, 9, 15),
    due: date | None = date(2050, 10, 15),
    total_ht_cents: int = 100000,
    vat_rate: int = 20,
) -> bytes:
    """A small Factur-X EN 16931 CII invoice (one line at `vat_rate` %), valid against the XSD."""
    from xml.sax.saxutils import escape

    ht = Decimal(total_ht_cents).scaleb(-2)
    tva = (ht * vat_rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    ttc = ht + tva
    due_terms = (
        "<ram:SpecifiedTradePaymentTerms><ram:DueDateDateTime>"
        f'<udt:DateTimeString format="102">{due:%Y%m%d}</udt:DateTimeString>'
        "</ram:DueDateDateTime></ram:SpecifiedTradePaymentTerms>"
        if due
        else ""
    )
    vat_key = (12 + 3 * (int(siren) % 97)) % 97 if siren.isdigit() else 0
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="{CII_NS}"
 xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
 xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
<rsm:ExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter>
<ram:ID>urn:cen.eu:en16931:2017</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>
</rsm:ExchangedDocumentContext>
<rsm:ExchangedDocument><ram:ID>{escape(number)}</ram:ID><ram:TypeCode>380</ram:TypeCode>
<ram:IssueDateTime><udt:DateTimeString format="102">{issued:%Y%m%d}</udt:DateTimeString>
</ram:IssueDateTime></rsm:ExchangedDocument>
<rsm:SupplyChainTradeTransaction>
<ram:IncludedSupplyChainTradeLineItem>
<ram:AssociatedDocumentLineDocument><ram:LineID>1</ram:LineID></ram:AssociatedDocumentLineDocument>
<ram:SpecifiedTradeProduct><ram:Name>Fournitures</ram:Name></ram:SpecifiedTradeProduct>
<ram:SpecifiedLineTradeAgreement><ram:NetPriceProductTradePrice>
<ram:ChargeAmount>{ht}</ram:ChargeAmount></ram:NetPriceProductTradePrice>
</ram:SpecifiedLineTradeAgreement>
<ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode="C62">1</ram:BilledQuantity>
</ram:SpecifiedLineTradeDelivery>
<ram:SpecifiedLineTradeSettlement><ram:ApplicableTradeTax><ram:TypeCode>VAT</ram:TypeCode>
<ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>{vat_rate}</ram:RateApplicablePercent>
</ram:ApplicableTradeTax><ram:SpecifiedTradeSettlementLineMonetarySummation>
<ram:LineTotalAmount>{ht}</ram:LineTotalAmount></ram:SpecifiedTradeSettlementLineMonetarySummation>
</ram:SpecifiedLineTradeSettlement>
</ram:IncludedSupplyChainTradeLineItem>
<ram:ApplicableHeaderTradeAgreement>
<ram:SellerTradeParty><ram:Name>{escape(seller)}</ram:Name>
<ram:SpecifiedLegalOrganization><ram:ID schemeID="0002">{escape(siren)}</ram:ID>
</ram:SpecifiedLegalOrganization>
<ram:PostalTradeAddress><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>
<ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">FR{vat_key:02d}{escape(siren)}</ram:ID>
</ram:SpecifiedTaxRegistration></ram:SellerTradeParty>
<ram:BuyerTradeParty><ram:Name>{escape(buyer)}</ram:Name>
<ram:PostalTradeAddress><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>
</ram:BuyerTradeParty>
</ram:ApplicableHeaderTradeAgreement>
<ram:ApplicableHeaderTradeDelivery/>
<ram:ApplicableHeaderTradeSettlement><ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
<ram:ApplicableTradeTax><ram:CalculatedAmount>{tva}</ram:CalculatedAmount>
<ram:TypeCode>VAT</ram:TypeCode><ram:BasisAmount>{ht}</ram:BasisAmount>
<ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>{vat_rate}</ram:RateApplicablePercent>
</ram:ApplicableTradeTax>{due_terms}
<ram:SpecifiedTradeSettlementHeaderMonetarySummation>
<ram:LineTotalAmount>{ht}</ram:LineTotalAmount><ram:TaxBasisTotalAmount>{ht}</ram:TaxBasisTotalAmount>
<ram:TaxTotalAmount currencyID="EUR">{tva}</ram:TaxTotalAmount>
<ram:GrandTotalAmount>{ttc}</ram:GrandTotalAmount><ram:DuePayableAmount>{ttc}</ram:DuePayableAmount>
</ram:SpecifiedTradeSettlementHeaderMonetarySummation>
</ram:ApplicableHeaderTradeSettlement>
</rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
""".encode()


def demo_facturx_pdf(**invoice: Any) -> bytes:
    """A one-page Factur-X PDF (Pillow draws the page, `factur-x` embeds the XML of
    `cii_invoice_xml(**invoice)`): demo data and tests."""
    from facturx import generate_from_binary
    from PIL import Image, ImageDraw

    xml = cii_invoice_xml(**invoice)
    page = Image.new("RGB", (595, 842), "white")
    number = invoice.get("number", "FA-2050-0042")
    seller = invoice.get("seller", "Moulins Dupont SAS")
    ImageDraw.Draw(page).text((50, 60), f"{seller} - Facture {number}", fill="black")
    out = io.BytesIO()
    page.save(out, "PDF", resolution=72)
    return bytes(generate_from_binary(out.getvalue(), xml, flavor="factur-x", level="en16931"))
