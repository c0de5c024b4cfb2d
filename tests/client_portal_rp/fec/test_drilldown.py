"""The drill-down's reads: charges by supplier (largest first, shares, keyset pages), a party's
entries across the importer's blocks of lines, and the deposits carrying a piece reference,
found by key (`VE  0123` = `ve-0123`) and only in the company (SECURITY.md 46)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import Flask

from client_portal_rp.fec import drilldown
from client_portal_rp.fec.lines import BLOCK_LINES
from client_portal_rp.fec.paging import BadCursor
from tests.client_portal_rp.conftest import make_company, make_firm
from tests.client_portal_rp.fec.drill_factories import (
    add_line,
    add_party,
    add_piece,
    make_import,
    make_piece_deposit,
)


def test_charges_by_supplier_largest_first_with_shares_and_pages(portal_app: Flask) -> None:
    fec_import = make_import(make_company(make_firm()))
    add_party(fec_import, "F1", "Orange", charges=60_000)
    add_party(fec_import, "F2", "EDF", charges=30_000)
    add_party(fec_import, "F3", "Sans charges")  # a supplier we only paid: not listed
    add_party(fec_import, "626000", "Frais postaux", role="compte", charges=10_000)
    add_party(fec_import, "C1", "Client", role="client", charges=99_999)  # not a charge row
    first = drilldown.charges_by_supplier(fec_import, limit=2)
    assert first.total_charges == 100_000
    assert [(s.party, s.share) for s in first.page.items] == [("F1", 0.6), ("F2", 0.3)]
    rest = drilldown.charges_by_supplier(fec_import, cursor=first.page.next_cursor, limit=2)
    assert [(s.party, s.role) for s in rest.page.items] == [("626000", "compte")]
    assert rest.page.next_cursor is None


def test_a_partys_entries_page_across_blocks_in_date_order(portal_app: Flask) -> None:
    fec_import = make_import(make_company(make_firm()))
    count = BLOCK_LINES * 2 + 37
    start = date(2049, 10, 1)
    numbers = [
        add_line(fec_import, "F1", start + timedelta(days=(n * 7) % count), debit=n, commit=False)
        for n in range(count)
    ]
    add_line(fec_import, "F2", start, debit=1)
    seen = []
    cursor = None
    while True:
        page = drilldown.party_entries(fec_import, "F1", cursor=cursor, limit=70)
        assert page.total == count
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == count and {line.line_no for line in seen} == set(numbers)
    keys = [(line.ecriture_date, line.line_no) for line in seen]
    assert keys == sorted(keys)
    assert drilldown.party_entries(fec_import, "NOBODY").items == []


@pytest.mark.parametrize("cursor", ["abc", "WzEsIDIsIDNd", "WzAsIDEwMDBd", "Wy0xLCAwXQ"])
def test_a_forged_entries_cursor_is_refused(portal_app: Flask, cursor: str) -> None:
    fec_import = make_import(make_company(make_firm()))
    with pytest.raises(BadCursor):
        drilldown.party_entries(fec_import, "F1", cursor=cursor)


def test_a_reference_finds_the_deposits_typed_differently_only_in_the_company(
    portal_app: Flask,
) -> None:
    company, other = make_company(make_firm()), make_company(make_firm())
    add_piece(make_import(company), "VE  0123")
    add_piece(make_import(other), "VE0123")
    mine = make_piece_deposit(company, "ve-0123", filename="mine.pdf")
    make_piece_deposit(company, "VE-0124", filename="other-piece.pdf")
    theirs = make_piece_deposit(other, "VE0123", filename="theirs.pdf")
    assert mine.piece_key == theirs.piece_key == "VE0123"
    for typed in ("VE  0123", "ve 0123", "VE-0123", "Vé.0123"):
        assert drilldown.piece_deposits(company, typed) == [mine], typed
    assert drilldown.piece_deposits(company, " - / ") == []
    assert drilldown.piece_deposit(company, mine.public_id) == mine
    assert drilldown.piece_deposit(company, theirs.public_id) is None


def test_a_deposit_is_served_only_under_a_reference_the_books_carry(portal_app: Flask) -> None:
    """The compta module opens the pieces of the company's entries, not every deposit that
    carries a reference someone could type (another module's documents)."""
    company = make_company(make_firm())
    fec_import = make_import(company)
    add_line(fec_import, "F1", date(2050, 3, 1), credit=100_00, piece_ref="FA-17")
    booked = make_piece_deposit(company, "fa 17", filename="booked.pdf")
    unbooked = make_piece_deposit(company, "FA-18", filename="unbooked.pdf")
    assert drilldown.piece_in_books(company, "FA17")
    assert not drilldown.piece_in_books(company, "FA-18")
    assert drilldown.piece_deposits(company, "FA-17") == [booked]
    assert drilldown.piece_deposits(company, "FA-18") == []
    assert drilldown.piece_deposit(company, booked.public_id) == booked
    assert drilldown.piece_deposit(company, unbooked.public_id) is None
