"""The drill-down: charges by supplier → a supplier's entries → a piece reference → the deposited
document carrying it (« Récupérez la pièce comptable », docs/adr/0027).

- Charges by supplier read `fec_parties` (computed at import): suppliers (role « fournisseur »)
  and, for charges booked with no supplier, the 6x account itself (role « compte »), largest
  first, each with its share of the charges so listed.
- A party's entries read the blocks of lines the importer stored per party (fec/lines.py),
  a page from a (block, offset) cursor.
- A piece reference finds the company's deposits whose `piece_key` is the reference's key
  (`refs.piece_key`: `VE  0123` finds `ve-0123`), when the company's books carry that
  reference (`fec_pieces`, any imported exercice): the compta module opens the pieces of the
  entries, not every deposit a person could name a reference for. The query always names the
  company: another company's deposit with the same key is never found (SECURITY.md 46).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from client_portal_rp.extensions import db
from client_portal_rp.fec.lines import BLOCK_LINES, EntryLine, party_lines
from client_portal_rp.fec.paging import bad_cursor, clamp_limit, decode_cursor, largest_first
from client_portal_rp.fec.refs import piece_bucket, piece_key
from client_portal_rp.models import Company, Deposit, FecImport, FecParty, FecPiece
from client_portal_rp.paging import Page, encode_cursor

CHARGE_ROLES = ("fournisseur", "compte")
MAX_PIECE_DEPOSITS = 50


@dataclass(frozen=True)
class SupplierCharges:
    party: str
    label: str
    role: str
    charges: int  # cents
    entry_count: int
    share: float  # of `total_charges`, 0..1 (display only: amounts stay integer cents)


@dataclass
class ChargesPage:
    total_charges: int  # cents, over every listed party
    page: Page[SupplierCharges]


def total_charges(fec_import: FecImport) -> int:
    value = db.session.scalar(
        select(func.coalesce(func.sum(FecParty.charges), 0)).where(
            FecParty.import_id == fec_import.id, FecParty.role.in_(CHARGE_ROLES)
        )
    )
    return int(value or 0)


def charges_by_supplier(
    fec_import: FecImport, *, cursor: str | None = None, limit: int | None = None
) -> ChargesPage:
    """Suppliers and 6x accounts by charges, largest first (keyset on charges, party).
    Parties with no charges are left out. Raises BadCursor."""
    size = clamp_limit(limit)
    total = total_charges(fec_import)
    statement = select(FecParty).where(
        FecParty.import_id == fec_import.id,
        FecParty.role.in_(CHARGE_ROLES),
        FecParty.charges != 0,
    )
    statement = largest_first(statement, FecParty.charges, FecParty.party, cursor, size)
    rows = list(db.session.scalars(statement))
    items = [
        SupplierCharges(
            party=row.party,
            label=row.label or row.party,
            role=row.role,
            charges=row.charges,
            entry_count=row.entry_count,
            share=(row.charges / total) if total else 0.0,
        )
        for row in rows[:size]
    ]
    last = rows[size - 1] if len(rows) > size else None
    next_cursor = encode_cursor(last.charges, last.party) if last is not None else None
    return ChargesPage(total, Page(items, next_cursor))


def party_of(fec_import: FecImport, party: str) -> FecParty | None:
    if not party or len(party) > 60:
        return None
    return db.session.scalar(
        select(FecParty).where(FecParty.import_id == fec_import.id, FecParty.party == party)
    )


@dataclass
class EntriesPage:
    items: list[EntryLine]
    next_cursor: str | None
    total: int  # the party's lines in the import


def party_entries(
    fec_import: FecImport, party: str, *, cursor: str | None = None, limit: int | None = None
) -> EntriesPage:
    """The party's lines, by date then line number, `limit` from the cursor's position. The
    importer stores them in blocks of BLOCK_LINES (fec/lines.py); the cursor is the position
    of the next line (block, offset), so a page costs one or two blocks wherever it is.
    Raises BadCursor."""
    size = clamp_limit(limit)
    block, offset = 0, 0
    if cursor:
        block, offset = decode_cursor(cursor, int, int)
        if block < 0 or not 0 <= offset < BLOCK_LINES:
            raise bad_cursor()
    found = party_lines(fec_import.id, party, block)
    items = found.lines[offset:]
    current = block
    while len(items) < size and current + 1 < found.blocks:
        current += 1
        items += party_lines(fec_import.id, party, current).lines
    items = items[:size]
    position = block * BLOCK_LINES + offset + len(items)
    more = bool(items) and position < found.total
    next_cursor = encode_cursor(*divmod(position, BLOCK_LINES)) if more else None
    return EntriesPage(items, next_cursor, found.total)


def key_in_books(company: Company, key: str) -> bool:
    """Whether an imported exercice of the company carries the piece key `key`: its bucket
    of each import (`fec_pieces`), one small row per exercice."""
    if not key:
        return False
    buckets = db.session.scalars(
        select(FecPiece.keys)
        .join(FecImport, FecImport.id == FecPiece.import_id)
        .where(FecImport.company_id == company.id, FecPiece.bucket == piece_bucket(key))
    )
    return any(f" {key} " in keys for keys in buckets)


def piece_in_books(company: Company, reference: str) -> bool:
    """Whether an imported exercice of the company carries `reference` (by key)."""
    return key_in_books(company, piece_key(reference))


def piece_deposits(company: Company, reference: str) -> list[Deposit]:
    """The company's deposits carrying `reference` (by key), newest first, when its books
    carry the reference; else none. A reference with no letter or digit finds nothing."""
    key = piece_key(reference)
    if not key_in_books(company, key):
        return []
    return list(
        db.session.scalars(
            select(Deposit)
            .where(Deposit.company_id == company.id, Deposit.piece_key == key)
            .order_by(Deposit.created_at.desc(), Deposit.id.desc())
            .limit(MAX_PIECE_DEPOSITS)
        )
    )


def piece_deposit(company: Company, public_id: str) -> Deposit | None:
    """A deposit of the company that carries a piece reference its books carry too: what the
    drill-down may serve to a person with the compta module (views.piece_download)."""
    if not public_id or len(public_id) > 64:
        return None
    deposit = db.session.scalar(
        select(Deposit).where(
            Deposit.public_id == public_id,
            Deposit.company_id == company.id,
            Deposit.piece_key != "",
        )
    )
    return deposit if deposit is not None and key_in_books(company, deposit.piece_key) else None
