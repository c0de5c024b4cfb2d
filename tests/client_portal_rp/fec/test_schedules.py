"""Échéanciers read from fec_open_items: ageing buckets at the reporting date (their bounds to
the day), parties by total with their own buckets, keyset pages, and the reconciliation line
against the accounts' balance."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import Flask

from client_portal_rp.fec import schedules
from client_portal_rp.fec.paging import BadCursor
from client_portal_rp.fec.schedules import Bucket, Side
from tests.client_portal_rp.conftest import make_company, make_firm
from tests.client_portal_rp.fec.drill_factories import (
    add_account,
    add_open_item,
    add_party,
    make_import,
)

REPORTING = date(2050, 9, 30)


def days_before(days: int) -> date:
    return REPORTING - timedelta(days=days)


@pytest.mark.parametrize(
    ("days_overdue", "bucket"),
    [
        (-10, Bucket.NOT_DUE),
        (0, Bucket.NOT_DUE),
        (1, Bucket.DAYS_30),
        (30, Bucket.DAYS_30),
        (31, Bucket.DAYS_60),
        (60, Bucket.DAYS_60),
        (61, Bucket.DAYS_90),
        (90, Bucket.DAYS_90),
        (91, Bucket.OVER_90),
        (400, Bucket.OVER_90),
    ],
)
def test_an_item_falls_in_its_bucket_by_days_overdue_at_the_reporting_date(
    portal_app: Flask, days_overdue: int, bucket: Bucket
) -> None:
    fec_import = make_import(make_company(make_firm()), period_end=REPORTING)
    add_open_item(fec_import, "C1", 12_345, days_before(days_overdue))
    found = schedules.schedule(fec_import, Side.CLIENTS)
    assert found.totals.buckets == {b: (12_345 if b is bucket else 0) for b in Bucket}
    assert schedules.bucket_of(days_overdue) is bucket
    row = schedules.party_items(fec_import, Side.CLIENTS, "C1").items[0]
    assert row.days_overdue == days_overdue and row.bucket is bucket
    assert row.due_date == days_before(days_overdue) and not row.is_credit


@pytest.mark.parametrize("days_overdue", [-10, 0, 1, 31, 61, 91, 133, 400])
@pytest.mark.parametrize("side", [Side.CLIENTS, Side.FOURNISSEURS])
def test_a_payment_or_credit_note_is_never_aged_but_counts_in_the_totals(
    portal_app: Flask, days_overdue: int, side: Side
) -> None:
    """A negative open item (a payment received or a credit note not lettered; for suppliers a
    payment made or the supplier's credit note) is not "due": its own column, whatever its
    piece date + terms, and still in the party's total and the reconciliation."""
    fec_import = make_import(make_company(make_firm()), period_end=REPORTING)
    add_open_item(fec_import, "P1", 50_000, days_before(45), side=side.stored)
    add_open_item(fec_import, "P1", -600_000, days_before(days_overdue), side=side.stored)
    found = schedules.schedule(fec_import, side)
    expected = dict.fromkeys(Bucket, 0) | {Bucket.DAYS_60: 50_000, Bucket.CREDITS: -600_000}
    assert found.totals.buckets == expected
    assert found.totals.total == -550_000 and found.totals.overdue == 50_000
    assert found.reconciliation.open_items == -550_000
    [party] = found.parties.items
    assert party.ageing.buckets == expected and party.ageing.total == -550_000
    assert schedules.party_ageing(fec_import, side, "P1").buckets == expected
    credit = schedules.party_items(fec_import, side, "P1").items[-1 if days_overdue < 45 else 0]
    assert credit.item.amount == -600_000
    assert credit.is_credit and credit.bucket is Bucket.CREDITS
    assert credit.days_overdue is None and credit.due_date is None
    assert credit.due_source_label == ""
    assert schedules.bucket_of(days_overdue, -1) is Bucket.CREDITS


def test_bounds_day_by_day_add_up_per_bucket(portal_app: Flask) -> None:
    fec_import = make_import(make_company(make_firm()), period_end=REPORTING)
    for days in (0, 1, 30, 31, 60, 61, 90, 91):
        add_open_item(fec_import, "C1", 100 + days, days_before(days), commit=False)
    found = schedules.schedule(fec_import, Side.CLIENTS)
    assert found.totals.buckets == {
        Bucket.NOT_DUE: 100,
        Bucket.DAYS_30: 101 + 130,
        Bucket.DAYS_60: 131 + 160,
        Bucket.DAYS_90: 161 + 190,
        Bucket.OVER_90: 191,
        Bucket.CREDITS: 0,
    }
    assert found.item_count == 8
    assert found.totals.total == sum(100 + d for d in (0, 1, 30, 31, 60, 61, 90, 91))


def test_parties_are_grouped_with_labels_largest_first_and_sides_kept_apart(
    portal_app: Flask,
) -> None:
    fec_import = make_import(make_company(make_firm()), period_end=REPORTING)
    add_party(fec_import, "C1", "Dupont SA", role="client")
    add_party(fec_import, "C2", "Martin SARL", role="client")
    add_open_item(fec_import, "C1", 10_000, days_before(-5))
    add_open_item(fec_import, "C1", 5_000, days_before(45))
    add_open_item(fec_import, "C2", 20_000, days_before(100))
    add_open_item(fec_import, "F1", 99_999, days_before(10), side="fournisseur")
    found = schedules.schedule(fec_import, Side.CLIENTS)
    parties = found.parties.items
    assert [(p.party, p.label, p.ageing.total, p.item_count) for p in parties] == [
        ("C2", "Martin SARL", 20_000, 1),
        ("C1", "Dupont SA", 15_000, 2),
    ]
    assert parties[1].ageing.buckets[Bucket.NOT_DUE] == 10_000
    assert parties[1].ageing.buckets[Bucket.DAYS_60] == 5_000
    assert found.totals.total == 35_000
    suppliers = schedules.schedule(fec_import, Side.FOURNISSEURS)
    assert [(p.party, p.label) for p in suppliers.parties.items] == [("F1", "F1")]
    assert suppliers.totals.buckets[Bucket.DAYS_30] == 99_999


def test_parties_pages_follow_their_cursor_without_repeating_or_skipping(
    portal_app: Flask,
) -> None:
    fec_import = make_import(make_company(make_firm()), period_end=REPORTING)
    for n in range(7):  # two parties share each total: the party breaks the tie
        add_open_item(fec_import, f"C{n}", 1000 * (n // 2 + 1), REPORTING, commit=False)
    seen: list[str] = []
    cursor = None
    while True:
        page = schedules.parties_page(fec_import, Side.CLIENTS, cursor=cursor, limit=3)
        seen += [p.party for p in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["C6", "C4", "C5", "C2", "C3", "C0", "C1"]


def test_a_partys_items_are_paginated_by_due_date_with_their_due_source(
    portal_app: Flask,
) -> None:
    fec_import = make_import(make_company(make_firm()), period_end=REPORTING)
    add_open_item(fec_import, "C1", 300, days_before(10), piece_ref="VE 3")
    add_open_item(fec_import, "C1", 100, days_before(40), piece_ref="VE 1", due_source="facture")
    add_open_item(fec_import, "C1", 200, days_before(20), piece_ref="VE 2")
    add_open_item(fec_import, "C2", 900, days_before(20))
    first = schedules.party_items(fec_import, Side.CLIENTS, "C1", limit=2)
    assert [r.item.piece_ref for r in first.items] == ["VE 1", "VE 2"]
    assert first.items[0].due_source_label == "facture"
    assert first.items[1].due_source_label == "délai de paiement"
    rest = schedules.party_items(fec_import, Side.CLIENTS, "C1", cursor=first.next_cursor)
    assert [r.item.piece_ref for r in rest.items] == ["VE 3"] and rest.next_cursor is None
    assert schedules.party_ageing(fec_import, Side.CLIENTS, "C1").total == 600


def test_reconciliation_shows_the_difference_with_the_accounts_and_explains_it(
    portal_app: Flask,
) -> None:
    fec_import = make_import(make_company(make_firm()), period_end=REPORTING)
    add_open_item(fec_import, "C1", 10_000, REPORTING)
    add_account(fec_import, "411000", debit=50_000, credit=38_000)  # 12,000 owed to us
    add_account(fec_import, "4181", debit=500)
    add_account(fec_import, "419000", credit=7_000)  # advances: not in the line
    add_account(fec_import, "512000", debit=1_000_000)
    found = schedules.schedule(fec_import, Side.CLIENTS)
    assert found.reconciliation.open_items == 10_000
    assert found.reconciliation.balance == 12_500
    assert found.reconciliation.difference == 2_500
    assert found.reconciliation.explanation().startswith("Écart\u00a0: lettrage incomplet")

    add_open_item(fec_import, "F1", 30_000, REPORTING, side="fournisseur")
    add_account(fec_import, "401000", debit=10_000, credit=40_000)  # we owe 30,000
    add_account(fec_import, "4091", debit=5_000)  # not in the line
    suppliers = schedules.schedule(fec_import, Side.FOURNISSEURS)
    assert suppliers.reconciliation.balance == 30_000
    assert suppliers.reconciliation.difference == 0
    assert "correspondent" in suppliers.reconciliation.explanation()


def test_a_forged_cursor_is_refused_with_a_french_message(portal_app: Flask) -> None:
    fec_import = make_import(make_company(make_firm()))
    for cursor in ("nimportequoi", "W10", "WyJhIiwgImIiXQ"):
        with pytest.raises(BadCursor) as refused:
            schedules.parties_page(fec_import, Side.CLIENTS, cursor=cursor)
        assert "reprenez la liste au début" in refused.value.message
