"""Rows of the FEC tables written directly, for the échéancier and drill-down tests (which read
what the importer computes; they do not depend on it). Amounts are integer cents."""

from __future__ import annotations

import hashlib
import itertools
import tempfile
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import delete

from client_portal_rp.deposits import services as deposit_services
from client_portal_rp.extensions import db
from client_portal_rp.fec.compute import LINE_FIELDS, line_blocks
from client_portal_rp.fec.lines import EntryLine, party_lines
from client_portal_rp.fec.refs import piece_bucket, piece_key
from client_portal_rp.fec.schedules import store_ageing
from client_portal_rp.models import (
    Company,
    Deposit,
    FecAccount,
    FecImport,
    FecLineBlock,
    FecOpenItem,
    FecParty,
    FecPiece,
)

_line = itertools.count(2)
REPORTING = date(2050, 9, 30)

# A small PDF (the deposit's blob): what a piece download serves.
PIECE_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def make_import(
    company: Company,
    exercice: int = 2050,
    *,
    period_start: date | None = None,
    period_end: date | None = None,
) -> FecImport:
    fec_import = FecImport(
        company_id=company.id,
        exercice=exercice,
        period_start=period_start or date(exercice - 1, 10, 1),
        period_end=period_end or date(exercice, 9, 30),
        filename=f"{company.siren}FEC{exercice}0930.txt",
        sha256="0" * 64,
        line_count=0,
        entry_count=0,
        total_debit=0,
        total_credit=0,
    )
    db.session.add(fec_import)
    db.session.commit()
    return fec_import


def add_party(
    fec_import: FecImport,
    party: str,
    label: str,
    *,
    role: str = "fournisseur",
    charges: int = 0,
    entry_count: int = 0,
    balance: int = 0,
) -> FecParty:
    row = FecParty(
        import_id=fec_import.id,
        party=party,
        label=label,
        role=role,
        charges=charges,
        entry_count=entry_count,
        balance=balance,
    )
    db.session.add(row)
    db.session.commit()
    return row


def add_account(fec_import: FecImport, compte: str, *, debit: int = 0, credit: int = 0) -> None:
    db.session.add(
        FecAccount(
            import_id=fec_import.id,
            compte_num=compte,
            compte_lib=f"Compte {compte}",
            debit=debit,
            credit=credit,
        )
    )
    db.session.commit()


def add_open_item(
    fec_import: FecImport,
    party: str,
    amount: int,
    due_date: date,
    *,
    side: str = "client",
    piece_ref: str = "FA-1",
    piece_date: date | None = None,
    compte: str | None = None,
    due_source: str = "delai",
    commit: bool = True,
) -> FecOpenItem:
    item = FecOpenItem(
        import_id=fec_import.id,
        side=side,
        party=party,
        line_no=next(_line),
        compte_num=compte or ("411000" if side == "client" else "401000"),
        piece_ref=piece_ref,
        piece_key=piece_key(piece_ref),
        piece_date=piece_date or due_date,
        label=f"Facture {piece_ref}",
        amount=amount,
        due_date=due_date,
        due_source=due_source,
    )
    db.session.add(item)
    db.session.flush()
    store_ageing(fec_import, [(side, party)])  # as the importer and apply_due_dates do
    if commit:
        db.session.commit()
    return item


def _rewrite_blocks(fec_import: FecImport, party: str, lines: list[EntryLine]) -> None:
    """The party's blocks as the importer writes them (compute.line_blocks), whatever their
    encoding."""
    frame = pl.DataFrame(
        {
            "party": [party] * len(lines),
            **{name: [getattr(line, name) for line in lines] for name in LINE_FIELDS},
        },
        schema_overrides={"ecriture_date": pl.Date, "piece_date": pl.Date, "date_let": pl.Date},
    ).with_columns(
        pl.col("party").cast(pl.Categorical),
        pl.col("compte_num").cast(pl.Categorical),
        pl.col("line_no").cast(pl.Int64),
        pl.col("debit").cast(pl.Int64),
        pl.col("credit").cast(pl.Int64),
    )
    role = "compte" if party[:2] not in ("40", "41") and party[:1] == "6" else "fournisseur"
    parties = pl.DataFrame({"party": [party], "role": [role]}).with_columns(
        pl.col("party").cast(pl.Categorical)
    )
    db.session.execute(
        delete(FecLineBlock).where(
            FecLineBlock.import_id == fec_import.id, FecLineBlock.party == party
        )
    )
    for row in line_blocks(frame, parties).iter_rows(named=True):
        db.session.add(
            FecLineBlock(
                import_id=fec_import.id,
                party=row["party"],
                block=row["block"],
                rows=row["rows"],
                data=row["data"],
            )
        )
    db.session.flush()


def add_line(
    fec_import: FecImport,
    party: str,
    day: date,
    *,
    debit: int = 0,
    credit: int = 0,
    compte: str = "401000",
    piece_ref: str = "AC-1",
    label: str = "Achat",
    lettering: str = "",
    date_let: date | None = None,
    journal: str = "AC",
    commit: bool = True,
) -> int:
    """Add one line to `party`'s blocks (rewritten, in date order); returns its number. The
    account must be a 40x/41x, or the party a 6x account (what the importer keeps)."""
    line_no = next(_line)
    lines = [
        EntryLine(
            line_no=line_no,
            journal_code=journal,
            ecriture_num=str(line_no),
            ecriture_date=day,
            compte_num=compte,
            piece_ref=piece_ref,
            piece_date=day,
            ecriture_lib=label,
            debit=debit,
            credit=credit,
            ecriture_let=lettering,
            date_let=date_let,
        )
    ]
    block = 0
    while True:
        found = party_lines(fec_import.id, party, block)
        lines += found.lines
        block += 1
        if block >= found.blocks:
            break
    _rewrite_blocks(fec_import, party, lines)
    add_piece(fec_import, piece_ref)
    if commit:
        db.session.commit()
    return line_no


def add_piece(fec_import: FecImport, piece_ref: str) -> None:
    """The import's books carry `piece_ref` (`fec_pieces`, as the importer writes it)."""
    key = piece_key(piece_ref)
    if not key:
        return
    row = db.session.get(FecPiece, (fec_import.id, piece_bucket(key)))
    if row is None:
        db.session.add(FecPiece(import_id=fec_import.id, bucket=piece_bucket(key), keys=f" {key} "))
    elif f" {key} " not in row.keys:
        row.keys += f"{key} "
    db.session.flush()


def make_piece_deposit(
    company: Company, piece_ref: str, *, filename: str = "facture.pdf", data: bytes | None = None
) -> Deposit:
    """A deposit of `company` carrying `piece_ref`, its bytes in the blob store."""
    content = data if data is not None else PIECE_PDF + filename.encode() + piece_ref.encode()
    digest = hashlib.sha256(content).hexdigest()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "blob"
        path.write_bytes(content)
        deposit_services.blob_store().put(path, digest)
    kind = deposit_services.deposit_type_of(company, "achats")
    assert kind is not None
    deposit = Deposit(
        company_id=company.id,
        deposit_type_id=kind.id,
        filename=filename,
        kind="pdf",
        size=len(content),
        sha256=digest,
        blob_sha256=digest,
        piece_ref=piece_ref,
        piece_key=piece_key(piece_ref),
    )
    db.session.add(deposit)
    db.session.commit()
    return deposit


def seed_books(company: Company) -> FecImport:
    """An exercice 2050 closing on REPORTING: two customer items (C DUPONT: 1,500.00 due 45
    days before, 200.00 not due; an écart of 100.00 with 411), one supplier item over 90 days,
    charges of F/ORANGE 1 (12,345.67) and 6061 without supplier (1,000.00), and two entries of
    F/ORANGE 1, one with piece reference « VE  0123 » (lettered AB on 01/04/2050)."""
    fec_import = make_import(company, 2050, period_end=REPORTING)
    add_party(fec_import, "C DUPONT", "Dupont SA", role="client")
    add_party(fec_import, "F/ORANGE 1", "Orange Business", charges=1_234_567, entry_count=2)
    add_party(fec_import, "606100", "Fournitures non stockables", role="compte", charges=100_000)
    add_open_item(fec_import, "C DUPONT", 150_000, REPORTING - timedelta(days=45), piece_ref="VE 7")
    add_open_item(fec_import, "C DUPONT", 20_000, REPORTING + timedelta(days=5), piece_ref="VE 9")
    add_open_item(
        fec_import, "F/ORANGE 1", 60_000, REPORTING - timedelta(days=95), side="fournisseur"
    )
    add_account(fec_import, "411000", debit=200_000, credit=20_000)  # 180,000: écart 10,000
    add_account(fec_import, "401000", credit=60_000)
    add_line(
        fec_import,
        "F/ORANGE 1",
        date(2050, 3, 2),
        credit=1_234_567,
        piece_ref="VE  0123",
        label="Abonnement mars",
        lettering="AB",
        date_let=date(2050, 4, 1),
    )
    add_line(fec_import, "F/ORANGE 1", date(2050, 1, 15), credit=5_000, piece_ref="AC 44")
    return fec_import
