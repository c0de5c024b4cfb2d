"""Échéanciers: the open customer items (créances) or supplier items (dettes) of an import at its
reporting date (`FecImport.period_end`), by third party, aged (docs/adr/0027).

The ageing is pre-aggregated: `store_ageing` sums each party's open items per bucket into
`fec_party_ageing` (one INSERT … SELECT with a CASE on the due date per bucket), at import and
again for the parties whose due dates an e-invoice changes (`einvoices.apply_due_dates`). The
page reads those rows: the parties largest total first from their index (a keyset page), the
summary as their sum; a party's items are a keyset page of `fec_open_items`. Nothing sums the
open items per request, so the page of a company with a 1,000,000-line FEC (~30,000 items a
side) stays well within its 50 ms.

Buckets, in days overdue at the reporting date R (`R - due_date`): not due (due on or after R),
1–30, 31–60, 61–90, over 90. A due date exactly R is not overdue; R - 1 is one day overdue.
Only what is owed is aged: an item with a negative amount (a payment received or a credit note
not lettered, on the customers' side; a payment made or a supplier's credit note, on the
suppliers') is never "due", whatever its piece date; it goes to its own column, « Règlements et
avoirs non lettrés », and still counts in the party's total and in the reconciliation.

The reconciliation line sets the open items against the balance of the accounts they come
from: for customers the balance (debit − credit) of 411/413/416/418, for suppliers its opposite
on 401/403/4081/4088. With complete lettering the two agree; an écart comes from lettering that
is incomplete or unbalanced (a payment lettered with an invoice of another amount), or letters
dated after the reporting date whose other side is not in the file.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, case, delete, func, insert, literal, or_, select, tuple_

from client_portal_rp.extensions import db
from client_portal_rp.fec.paging import clamp_limit, decode_cursor, largest_first
from client_portal_rp.models import FecAccount, FecImport, FecOpenItem, FecParty, FecPartyAgeing
from client_portal_rp.paging import Page, encode_cursor


class Side(enum.StrEnum):
    """Which échéancier: the URL says `clients` / `fournisseurs`, the table `client` /
    `fournisseur`."""

    CLIENTS = "clients"
    FOURNISSEURS = "fournisseurs"

    @property
    def stored(self) -> str:
        return "client" if self is Side.CLIENTS else "fournisseur"

    @property
    def label(self) -> str:
        return str(SIDE_LABELS[self])

    @property
    def accounts(self) -> tuple[str, ...]:
        """The account prefixes whose lines make this side's open items (ADR 0027)."""
        if self is Side.CLIENTS:
            return ("411", "413", "416", "418")
        return ("401", "403", "4081", "4088")

    @classmethod
    def parse(cls, raw: str | None) -> Side | None:
        text = (raw or "").strip().lower()
        return cls._value2member_map_.get(text or cls.CLIENTS.value)  # type: ignore[return-value]


SIDE_LABELS = {
    Side.CLIENTS: _l("Créances clients"),
    Side.FOURNISSEURS: _l("Dettes fournisseurs"),
}


class Bucket(enum.StrEnum):
    NOT_DUE = "non_echu"
    DAYS_30 = "1_30"
    DAYS_60 = "31_60"
    DAYS_90 = "61_90"
    OVER_90 = "plus_90"
    CREDITS = "non_lettre"  # negative items: payments and credit notes not lettered

    @property
    def label(self) -> str:
        return str(BUCKET_LABELS[self])


BUCKETS: tuple[Bucket, ...] = tuple(Bucket)
BUCKET_LABELS = {
    Bucket.NOT_DUE: _l("Non échu"),
    Bucket.DAYS_30: _l("1 à 30 jours"),
    Bucket.DAYS_60: _l("31 à 60 jours"),
    Bucket.DAYS_90: _l("61 à 90 jours"),
    Bucket.OVER_90: _l("Plus de 90 jours"),
    Bucket.CREDITS: _l("Règlements et avoirs non lettrés"),
}
OVERDUE: tuple[Bucket, ...] = (Bucket.DAYS_30, Bucket.DAYS_60, Bucket.DAYS_90, Bucket.OVER_90)
# FecPartyAgeing's column per bucket, in BUCKETS order.
AGEING_COLUMNS: tuple[str, ...] = (
    "not_due",
    "days_1_30",
    "days_31_60",
    "days_61_90",
    "over_90",
    "credits",
)
DUE_SOURCE_LABELS = {
    "facture": _l("facture"),
    "delai": _l("délai de paiement"),
}


def bucket_of(days_overdue: int, amount: int = 1) -> Bucket:
    """The bucket of an item of `amount` cents `days_overdue` days late (≤ 0: not due); a
    negative amount is never aged. What the SQL CASE does."""
    if amount < 0:
        return Bucket.CREDITS
    if days_overdue <= 0:
        return Bucket.NOT_DUE
    if days_overdue <= 30:
        return Bucket.DAYS_30
    if days_overdue <= 60:
        return Bucket.DAYS_60
    if days_overdue <= 90:
        return Bucket.DAYS_90
    return Bucket.OVER_90


def _bucket_bounds(reporting: date) -> list[tuple[date | None, date | None]]:
    """Per aged bucket, in BUCKETS order, the due dates it holds: [low, high) (None:
    unbounded)."""
    edges = [reporting - timedelta(days=days) for days in (0, 30, 60, 90)]
    return [
        (edges[0], None),  # due on or after R: not due
        (edges[1], edges[0]),  # R-30 <= due < R: 1-30 days late
        (edges[2], edges[1]),
        (edges[3], edges[2]),
        (None, edges[3]),  # due before R-90: over 90 days
    ]


def _bucket_sums(reporting: date) -> list[ColumnElement[Any]]:
    """One SUM(CASE WHEN amount >= 0 AND low <= due < high ...) per aged bucket, then
    SUM(CASE WHEN amount < 0 ...) for the payments and credit notes, in BUCKETS order: a few
    comparisons a row and bucket, all on the covering index's columns (a nested CASE compared
    with a label was twice slower)."""
    due, amount = FecOpenItem.due_date, FecOpenItem.amount
    sums: list[ColumnElement[Any]] = []
    for low, high in _bucket_bounds(reporting):
        conditions = [amount >= 0]
        if low is not None:
            conditions.append(due >= low)
        if high is not None:
            conditions.append(due < high)
        sums.append(func.coalesce(func.sum(case((and_(*conditions), amount), else_=0)), 0))
    sums.append(func.coalesce(func.sum(case((amount < 0, amount), else_=0)), 0))
    return sums


@dataclass(frozen=True)
class Ageing:
    """Amounts (cents) per bucket and their total."""

    buckets: dict[Bucket, int]

    @property
    def total(self) -> int:
        return sum(self.buckets.values())

    @property
    def overdue(self) -> int:
        """What is overdue: the four late buckets (not the credits, never aged)."""
        return sum(self.buckets[b] for b in OVERDUE)

    @classmethod
    def of(cls, values: list[Any] | tuple[Any, ...]) -> Ageing:
        return cls({b: int(v or 0) for b, v in zip(BUCKETS, values, strict=True)})


@dataclass(frozen=True)
class PartyAgeing:
    party: str
    label: str
    item_count: int
    ageing: Ageing


@dataclass(frozen=True)
class Reconciliation:
    open_items: int  # cents, the sum of the side's open items
    balance: int  # cents, the accounts' balance (owed to us / by us)

    @property
    def difference(self) -> int:
        return self.balance - self.open_items

    def explanation(self) -> str:
        if self.difference == 0:
            return _("Les pièces ouvertes correspondent au solde des comptes.")
        return _(
            "Écart : lettrage incomplet ou déséquilibré (un règlement lettré avec une facture "
            "d'un autre montant), ou lettrage daté après la date d'arrêté dont l'autre partie "
            "n'est pas dans le FEC. Votre cabinet peut compléter le lettrage."
        )


@dataclass
class Schedule:
    fec_import: FecImport
    side: Side
    reporting_date: date
    item_count: int
    totals: Ageing
    reconciliation: Reconciliation
    parties: Page[PartyAgeing] = field(default_factory=lambda: Page([], None))


def _side_filter(fec_import: FecImport, side: Side) -> list[ColumnElement[bool]]:
    return [FecOpenItem.import_id == fec_import.id, FecOpenItem.side == side.stored]


def account_balance(fec_import: FecImport, side: Side) -> int:
    """What the side's accounts say is owed (cents): Σ(debit − credit) of the customer
    accounts, Σ(credit − debit) of the supplier accounts."""
    prefixes = or_(*(FecAccount.compte_num.startswith(p) for p in side.accounts))
    balance = db.session.scalar(
        select(func.coalesce(func.sum(FecAccount.debit - FecAccount.credit), 0)).where(
            FecAccount.import_id == fec_import.id, prefixes
        )
    )
    value = int(balance or 0)
    return value if side is Side.CLIENTS else -value


def store_ageing(fec_import: FecImport, parties: Iterable[tuple[str, str]] | None = None) -> None:
    """(Re)write the import's `fec_party_ageing` rows from its open items: every party, or the
    given (side, party) pairs (whose due dates changed). One INSERT … SELECT grouped by side
    and party; the caller commits."""
    wanted = sorted(set(parties)) if parties is not None else None
    if wanted == []:
        return
    scope: list[ColumnElement[bool]] = [FecOpenItem.import_id == fec_import.id]
    stale: list[ColumnElement[bool]] = [FecPartyAgeing.import_id == fec_import.id]
    if wanted is not None:
        scope.append(tuple_(FecOpenItem.side, FecOpenItem.party).in_(wanted))
        stale.append(tuple_(FecPartyAgeing.side, FecPartyAgeing.party).in_(wanted))
    db.session.execute(delete(FecPartyAgeing).where(*stale))
    sums = (
        select(
            literal(fec_import.id),
            FecOpenItem.side,
            FecOpenItem.party,
            func.count(),
            *_bucket_sums(fec_import.period_end),
            func.sum(FecOpenItem.amount),
        )
        .where(*scope)
        .group_by(FecOpenItem.side, FecOpenItem.party)
    )
    columns = ["import_id", "side", "party", "item_count", *AGEING_COLUMNS, "total"]
    db.session.execute(insert(FecPartyAgeing).from_select(columns, sums))


def _ageing_of(row: Any) -> Ageing:
    return Ageing.of([getattr(row, name) for name in AGEING_COLUMNS])


def schedule(
    fec_import: FecImport, side: Side, *, cursor: str | None = None, limit: int | None = None
) -> Schedule:
    """The summary (totals per bucket, reconciliation) and one page of parties, largest total
    first. Raises BadCursor."""
    columns = [getattr(FecPartyAgeing, name) for name in ("item_count", *AGEING_COLUMNS)]
    row = db.session.execute(
        select(*(func.coalesce(func.sum(column), 0) for column in columns)).where(
            FecPartyAgeing.import_id == fec_import.id, FecPartyAgeing.side == side.stored
        )
    ).one()
    totals = Ageing.of(row[1:])
    return Schedule(
        fec_import=fec_import,
        side=side,
        reporting_date=fec_import.period_end,
        item_count=int(row[0]),
        totals=totals,
        reconciliation=Reconciliation(totals.total, account_balance(fec_import, side)),
        parties=parties_page(fec_import, side, cursor=cursor, limit=limit),
    )


def parties_page(
    fec_import: FecImport, side: Side, *, cursor: str | None = None, limit: int | None = None
) -> Page[PartyAgeing]:
    """The side's parties with their ageing, largest total first (then by party), as a keyset
    page on (total, party) read from the index of `fec_party_ageing`."""
    size = clamp_limit(limit)
    statement = select(FecPartyAgeing).where(
        FecPartyAgeing.import_id == fec_import.id, FecPartyAgeing.side == side.stored
    )
    statement = largest_first(statement, FecPartyAgeing.total, FecPartyAgeing.party, cursor, size)
    rows = list(db.session.scalars(statement))
    labels = _labels(fec_import, [row.party for row in rows[:size]])
    items = [
        PartyAgeing(
            party=row.party,
            label=labels.get(row.party) or row.party,
            item_count=row.item_count,
            ageing=_ageing_of(row),
        )
        for row in rows[:size]
    ]
    more = len(rows) > size
    last = items[-1] if items else None
    next_cursor = encode_cursor(last.ageing.total, last.party) if more and last else None
    return Page(items, next_cursor)


def _labels(fec_import: FecImport, parties: list[str]) -> dict[str, str]:
    """The labels of a page's parties (one query on the primary key, rather than a join the
    GROUP BY would carry for every party)."""
    if not parties:
        return {}
    rows = db.session.execute(
        select(FecParty.party, FecParty.label).where(
            FecParty.import_id == fec_import.id, FecParty.party.in_(parties)
        )
    )
    return {str(row[0]): str(row[1]) for row in rows}


@dataclass(frozen=True)
class OpenItemRow:
    item: FecOpenItem
    days_overdue: int | None  # ≤ 0: not due yet; None: a payment or credit note, never due

    @classmethod
    def at(cls, item: FecOpenItem, reporting: date) -> OpenItemRow:
        if item.amount < 0:
            return cls(item, None)
        return cls(item, (reporting - item.due_date).days)

    @property
    def is_credit(self) -> bool:
        return self.days_overdue is None

    @property
    def due_date(self) -> date | None:
        """The due date shown; None for a payment or credit note (the stored date is the
        piece date + terms, which means nothing for them)."""
        return None if self.is_credit else self.item.due_date

    @property
    def bucket(self) -> Bucket:
        if self.days_overdue is None:
            return Bucket.CREDITS
        return bucket_of(self.days_overdue)

    @property
    def due_source_label(self) -> str:
        if self.is_credit:
            return ""
        return str(DUE_SOURCE_LABELS.get(self.item.due_source, self.item.due_source))


def party_label(fec_import: FecImport, party: str) -> str | None:
    """The party's label (FecParty), None when the import does not know the party."""
    return db.session.scalar(
        select(FecParty.label).where(FecParty.import_id == fec_import.id, FecParty.party == party)
    )


def party_items(
    fec_import: FecImport,
    side: Side,
    party: str,
    *,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[OpenItemRow]:
    """One party's open items on this side, oldest due date first (keyset on due date, id)."""
    size = clamp_limit(limit)
    statement = select(FecOpenItem).where(
        *_side_filter(fec_import, side), FecOpenItem.party == party
    )
    if cursor:
        after_due, after_id = decode_cursor(cursor, date, int)
        statement = statement.where(
            or_(
                FecOpenItem.due_date > after_due,
                and_(FecOpenItem.due_date == after_due, FecOpenItem.id > after_id),
            )
        )
    rows = list(
        db.session.scalars(statement.order_by(FecOpenItem.due_date, FecOpenItem.id).limit(size + 1))
    )
    reporting = fec_import.period_end
    items = [OpenItemRow.at(item, reporting) for item in rows[:size]]
    more = len(rows) > size
    last = rows[size - 1] if more else None
    next_cursor = encode_cursor(last.due_date, last.id) if last is not None else None
    return Page(items, next_cursor)


def party_ageing(fec_import: FecImport, side: Side, party: str) -> Ageing:
    """One party's buckets (the header of its items page); zeros when it has no open item."""
    row = db.session.get(FecPartyAgeing, (fec_import.id, side.stored, party))
    if row is None:
        return Ageing.of([0] * len(BUCKETS))
    return _ageing_of(row)
