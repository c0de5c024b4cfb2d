"""Rows of the FEC tables written directly, for the échéancier and drill-down tests (which read
what the importer computes; they do not depend on it). Amounts are integer cents."""

from __future__ import annotations

import hashlib
import itertools
import tempfile
from datetime import date
from pathlib import Path

from client_portal_rp.deposits import services as deposit_services
from client_portal_rp.extensions import db
from client_portal_rp.fec.refs import piece_key
from client_portal_rp.models import (
    Company,
    Deposit,
    FecAccount,
    FecImport,
    FecLine,
    FecOpenItem,
    FecParty,
)

_line = itertools.count(2)

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
    if commit:
        db.session.commit()
    return item


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
) -> FecLine:
    line = FecLine(
        import_id=fec_import.id,
        line_no=next(_line),
        journal_code=journal,
        ecriture_num=str(next(_line)),
        ecriture_date=day,
        compte_num=compte,
        party=party,
        piece_ref=piece_ref,
        piece_date=day,
        ecriture_lib=label,
        debit=debit,
        credit=credit,
        ecriture_let=lettering,
        date_let=date_let,
    )
    db.session.add(line)
    if commit:
        db.session.commit()
    return line


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
