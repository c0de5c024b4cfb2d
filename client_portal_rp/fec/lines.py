"""Reading the drill-down's lines: a party's entries, one block (`compute.BLOCK_LINES` lines,
in date order) at a time. Blocks are what the importer stored (models.FecLineBlock)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from client_portal_rp.extensions import db
from client_portal_rp.fec.compute import BLOCK_LINES, FIELD, RECORD
from client_portal_rp.models import FecLineBlock

__all__ = ["BLOCK_LINES", "EntryLine", "PartyLines", "party_lines"]


@dataclass(frozen=True)
class EntryLine:
    line_no: int
    journal_code: str
    ecriture_num: str
    ecriture_date: date
    compte_num: str
    piece_ref: str
    piece_date: date | None
    ecriture_lib: str
    debit: int  # cents
    credit: int
    ecriture_let: str
    date_let: date | None


@dataclass(frozen=True)
class PartyLines:
    lines: list[EntryLine]
    block: int
    blocks: int  # how many blocks the party has (0: no lines)
    total: int  # how many lines


def _day(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _line(record: str) -> EntryLine:
    (number, journal, num, day, account, piece, piece_day, label, debit, credit, let, let_day) = (
        record.split(FIELD)
    )
    return EntryLine(
        line_no=int(number),
        journal_code=journal,
        ecriture_num=num,
        ecriture_date=date.fromisoformat(day),
        compte_num=account,
        piece_ref=piece,
        piece_date=_day(piece_day),
        ecriture_lib=label,
        debit=int(debit),
        credit=int(credit),
        ecriture_let=let,
        date_let=_day(let_day),
    )


def party_lines(import_id: int, party: str, block: int = 0) -> PartyLines:
    """Block `block` of `party`'s lines (empty when out of range)."""
    blocks, total = db.session.execute(
        select(func.count(), func.coalesce(func.sum(FecLineBlock.rows), 0)).where(
            FecLineBlock.import_id == import_id, FecLineBlock.party == party
        )
    ).one()
    data = db.session.execute(
        select(FecLineBlock.data).where(
            FecLineBlock.import_id == import_id,
            FecLineBlock.party == party,
            FecLineBlock.block == block,
        )
    ).scalar_one_or_none()
    lines = [_line(record) for record in data.split(RECORD)] if data else []
    return PartyLines(lines=lines, block=block, blocks=int(blocks), total=int(total))
