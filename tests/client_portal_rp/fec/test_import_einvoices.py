"""E-invoices and the FEC import meet in the échéancier (docs/adr/0027-fec-indicators.md): a
Factur-X deposited before the import of a FEC carrying its number gets its due date onto the
open supplier item by the import; one deposited after, at deposit. Another company's invoice
with the same number never changes this company's items (security case 46)."""

from __future__ import annotations

from datetime import date

from flask import Flask
from sqlalchemy import select

from client_portal_rp.einvoices import demo_facturx_pdf
from client_portal_rp.extensions import db
from client_portal_rp.fec import schedules
from client_portal_rp.fec.importer import import_fec
from client_portal_rp.fec.schedules import Ageing, Bucket, Side
from client_portal_rp.models import Company, FecImport, FecOpenItem
from tests.client_portal_rp.conftest import make_company, make_firm
from tests.client_portal_rp.fec.support import fec_bytes, line, stream
from tests.client_portal_rp.test_einvoices import deposit_bytes

PIECE_DAY = "20500915"  # + 30 days (the default terms) = 15 October 2050


def purchase(num: str, piece: str, amount: str) -> list[str]:
    """A supplier invoice left open (not lettered): charge debit, supplier credit."""
    common = {"journal": "AC", "num": num, "day": PIECE_DAY, "piece": piece, "piece_day": PIECE_DAY}
    return [
        line(**common, account="607000", label="Achats", debit=amount),
        line(
            **common,
            account="401000",
            label="Fournisseurs",
            aux="FDUP",
            aux_label="MOULINS DUPONT",
            credit=amount,
        ),
    ]


def import_books(company: Company) -> FecImport:
    data = fec_bytes(
        purchase("1", "FA-2050-0042", "1200,00")
        + purchase("2", "FA-2050-0043", "600,00")
        + purchase("3", "FA-2050-0044", "240,00")
    )
    report = import_fec(
        company,
        stream(data),
        filename=f"{company.siren}FEC20501231.txt",
        start=date(2050, 1, 1),
        end=date(2050, 12, 31),
    )
    assert not report.errors and report.fec_import is not None, report.errors
    return report.fec_import


def due(fec_import: FecImport, piece: str) -> tuple[date, str]:
    item = db.session.scalar(
        select(FecOpenItem).where(
            FecOpenItem.import_id == fec_import.id, FecOpenItem.piece_ref == piece
        )
    )
    assert item is not None and item.side == "fournisseur"
    db.session.refresh(item)
    return item.due_date, item.due_source


def invoice(number: str, due_date: date) -> bytes:
    return demo_facturx_pdf(
        number=number, seller="Moulins Dupont SAS", issued=date(2050, 9, 15), due=due_date
    )


def test_due_dates_of_invoices_deposited_before_and_after_the_import_and_never_anothers(
    portal_app: Flask,
) -> None:
    company = make_company(make_firm())
    other = make_company(make_firm("Autre cabinet"), "Autre société")
    default = (date(2050, 10, 15), "delai")

    # Before the import: this company's invoice FA-2050-0042, then another company's
    # invoices with the numbers of this company's items (deposited later: they would win).
    deposit_bytes(company, invoice("FA-2050-0042", date(2050, 10, 31)), "fa42.pdf")
    deposit_bytes(other, invoice("FA-2050-0042", date(2051, 1, 31)), "autre42.pdf")
    deposit_bytes(other, invoice("FA-2050-0043", date(2051, 2, 28)), "autre43.pdf")

    books = import_books(company)
    assert due(books, "FA-2050-0042") == (date(2050, 10, 31), "facture")  # by the import
    assert due(books, "FA-2050-0043") == default  # the other company's invoice is not ours
    assert due(books, "FA-2050-0044") == default

    # After the import: applied at deposit.
    deposit_bytes(company, invoice("FA-2050-0043", date(2050, 11, 20)), "fa43.pdf")
    assert due(books, "FA-2050-0043") == (date(2050, 11, 20), "facture")
    # Another company depositing after: nothing changes here.
    deposit_bytes(other, invoice("FA-2050-0044", date(2051, 3, 31)), "autre44.pdf")
    deposit_bytes(other, invoice("FA-2050-0042", date(2051, 4, 30)), "autre42b.pdf")
    assert due(books, "FA-2050-0042") == (date(2050, 10, 31), "facture")
    assert due(books, "FA-2050-0044") == default

    # The other company's own import takes its own invoices, not this company's.
    theirs = import_books(other)
    assert due(theirs, "FA-2050-0042") == (date(2051, 4, 30), "facture")
    assert due(theirs, "FA-2050-0043") == (date(2051, 2, 28), "facture")
    assert due(books, "FA-2050-0043") == (date(2050, 11, 20), "facture")


def test_an_invoice_deposited_after_the_import_moves_its_item_in_the_stored_ageing(
    portal_app: Flask,
) -> None:
    """The échéancier reads sums stored at import (fec_party_ageing): an e-invoice's due date
    written onto an item afterwards must move the item's amount there too, in the party's row
    and in the side's summary, as summing the items afresh would."""
    company = make_company(make_firm())
    books = import_books(company)
    side = Side.FOURNISSEURS
    late = {Bucket.DAYS_90: 204_000}  # due 15/10/2050, 77 days before the 31/12/2050 closing
    assert nonzero(schedules.schedule(books, side).totals) == late

    deposit_bytes(company, invoice("FA-2050-0044", date(2051, 1, 31)), "fa44.pdf")

    moved = {Bucket.NOT_DUE: 24_000, Bucket.DAYS_90: 180_000}
    summary = schedules.schedule(books, side)
    assert nonzero(summary.totals) == moved and summary.item_count == 3
    assert [(p.party, nonzero(p.ageing)) for p in summary.parties.items] == [("FDUP", moved)]
    assert nonzero(schedules.party_ageing(books, side, "FDUP")) == moved
    items = schedules.party_items(books, side, "FDUP").items
    afresh: dict[Bucket, int] = {}
    for row in items:
        afresh[row.bucket] = afresh.get(row.bucket, 0) + row.item.amount
    assert afresh == moved


def nonzero(ageing: Ageing) -> dict[Bucket, int]:
    return {bucket: cents for bucket, cents in ageing.buckets.items() if cents}
