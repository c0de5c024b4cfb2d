"""`portal demo load`: the portal's demonstration data for `make run` (development only).

A firm and two client companies, and invitations for the IdP's demo accounts (idp/demo.py),
accepted at their first login through Sésame (their verified email is the invited one):

- demo.expert (Hélène Rousseau, expert-comptable): staff of the firm « Rousseau Audit »;
- demo.collaborateur (Camille Martin): admin of « Boulangerie Martin », every module;
- demo.salarie (Lucas Moreau): user of « Boulangerie Martin », deposits only;
- demo.garage (Nadia Leroy): admin of « Garage Leroy », every module;
- demo.collaborateur is also admin of « Société Exemple » (SIREN 123456789), every module, whose
  FEC is imported from ../shared/data/fec/123456789FEC20500930.txt beside the project when that
  sample is there (else the company is left out): its indicators show on `make run`. Two of its
  purchase invoices are then deposited (`deposit_sample_invoices`): a Factur-X whose due date
  the supplier échéancier shows (source « facture »), and a plain PDF carrying the piece
  reference of an entry of its largest supplier, downloadable from the drill-down.

Idempotent: an existing firm or company is left as it is. Refused in production.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from client_portal_rp import audit
from client_portal_rp.companies import add_company, create_firm, find_firm
from client_portal_rp.extensions import db
from client_portal_rp.invitations import invite
from client_portal_rp.models import (
    ArchiveDocument,
    ArchiveFolder,
    Company,
    Deposit,
    FecImport,
    FecOpenItem,
    FecParty,
    Firm,
    Invitation,
    Module,
    PortalUser,
    Role,
)

demo_cli = AppGroup("demo", help="Demonstration data (development only).")

DEMO_FIRM = "Rousseau Audit"
DEMO_ACTOR = "Données de démonstration"


@dataclass(frozen=True)
class DemoCompany:
    siren: str
    name: str


BAKERY = DemoCompany("732829320", "Boulangerie Martin")
GARAGE = DemoCompany("552100554", "Garage Leroy")
# The sample's SIREN has no Luhn key (a made-up one): the company is created directly.
FEC_COMPANY = DemoCompany("123456789", "Société Exemple")


def fec_samples_dir() -> Path:
    """The real FEC samples of DOMAIN.md: `SESAME_FEC_SAMPLES`, else ../shared/data/fec beside
    the project (they are never copied into it)."""
    configured = os.environ.get("SESAME_FEC_SAMPLES")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "fec"


FEC_SAMPLE = fec_samples_dir() / "123456789FEC20500930.txt"
# (email, company or None for the firm's staff, role, modules)
DEMO_PEOPLE: tuple[tuple[str, DemoCompany | None, Role, frozenset[Module]], ...] = (
    ("demo.expert@example.org", None, Role.USER, frozenset()),
    ("demo.collaborateur@example.org", BAKERY, Role.ADMIN, frozenset(Module)),
    ("demo.salarie@example.org", BAKERY, Role.USER, frozenset({Module.DEPOSIT})),
    ("demo.garage@example.org", GARAGE, Role.ADMIN, frozenset(Module)),
    ("demo.collaborateur@example.org", FEC_COMPANY, Role.ADMIN, frozenset(Module)),
)


def load() -> list[str]:
    """Create what is missing; return what was done, in French."""
    done: list[str] = []
    firm = find_firm(DEMO_FIRM)
    if firm is None:
        firm = create_firm(DEMO_FIRM)
        done.append(f"cabinet « {DEMO_FIRM} » créé")
    companies: dict[str, Company] = {}
    for demo in (BAKERY, GARAGE):
        company = db.session.scalar(select(Company).where(Company.siren == demo.siren))
        if company is None:
            company = add_company(firm, siren=demo.siren, name=demo.name, actor_label=DEMO_ACTOR)
            done.append(f"entreprise « {demo.name} » créée")
        companies[demo.siren] = company
    fec_company = _fec_company(firm, done)
    if fec_company is not None:
        companies[FEC_COMPANY.siren] = fec_company
    for email, demo_company, role, modules in DEMO_PEOPLE:
        if demo_company is not None and demo_company.siren not in companies:
            continue  # the FEC sample is absent: no « Société Exemple »
        company = companies[demo_company.siren] if demo_company else None
        exists = db.session.scalar(
            select(Invitation.id).where(
                Invitation.email == email,
                Invitation.company_id == company.id if company else Invitation.company_id.is_(None),
            )
        )
        if exists is None:
            new = invite(
                firm=firm,
                company=company,
                email=email,
                name="",
                role=role,
                modules=set(modules),
                invited_by=None,
                actor_label=DEMO_ACTOR,
            )
            # A demo may be opened months after `make run` created it.
            new.invitation.expires_at = new.invitation.created_at + timedelta(days=3650)
            done.append(f"invitation de {email} ({company.name if company else 'cabinet'})")
    bakery = companies[BAKERY.siren]
    if not db.session.scalar(
        select(ArchiveDocument.id).where(ArchiveDocument.company_id == bakery.id)
    ):
        for folder, exercice, name in DEMO_ARCHIVES:
            _publish_sample(bakery, folder, exercice, name)
        done.append(f"{len(DEMO_ARCHIVES)} documents d'archives publiés ({BAKERY.name})")
    db.session.commit()
    if fec_company is not None:
        _import_sample_fec(fec_company, done)
        done += deposit_sample_invoices(fec_company)
    return done or ["déjà chargées"]


def _fec_company(firm: Firm, done: list[str]) -> Company | None:
    """« Société Exemple », when the FEC sample is beside the project (else None, quietly)."""
    if not FEC_SAMPLE.is_file():
        return None
    company = db.session.scalar(select(Company).where(Company.siren == FEC_COMPANY.siren))
    if company is None:
        company = Company(firm=firm, name=FEC_COMPANY.name, siren=FEC_COMPANY.siren)
        db.session.add(company)
        db.session.flush()
        audit.record(
            "company.created",
            company=company,
            actor=None,
            actor_label=DEMO_ACTOR,
            siren=company.siren,
            name=company.name,
        )
        done.append(f"entreprise « {FEC_COMPANY.name} » créée")
    return company


def _import_sample_fec(company: Company, done: list[str]) -> None:
    """Import, once, a previous exercice made from the sample (demonstration only: dates a year
    earlier, amounts × 0.9) and then the sample itself, so that the indicators have something
    to compare with (the importer commits; an error is reported, not raised)."""
    import io

    from client_portal_rp.fec.importer import import_fec, import_path

    if db.session.scalar(select(FecImport.id).where(FecImport.company_id == company.id)):
        return
    previous = import_fec(
        company,
        io.BytesIO(previous_exercice_of(FEC_SAMPLE.read_bytes())),
        filename="exercice précédent (démonstration).txt",
        actor_label=DEMO_ACTOR,
    )
    if previous.ok and previous.fec_import is not None:
        done.append(
            f"exercice précédent de démonstration importé ({company.name}, exercice "
            f"{previous.fec_import.exercice}, tiré de {FEC_SAMPLE.name} : dates − 1 an, "
            "montants × 0,9)"
        )
    else:
        db.session.rollback()
    report = import_path(company, FEC_SAMPLE, actor_label=DEMO_ACTOR)
    if report.ok and report.fec_import is not None:
        done.append(
            f"FEC {FEC_SAMPLE.name} importé ({company.name}, exercice "
            f"{report.fec_import.exercice}, {report.line_count} lignes)"
        )
    else:
        db.session.rollback()
        done.append(f"FEC {FEC_SAMPLE.name} non importé : " + "; ".join(map(str, report.errors)))


def previous_exercice_of(sample: bytes, numerator: int = 9, denominator: int = 10) -> bytes:
    """A demonstration FEC for the exercice before `sample`'s: every date a year earlier, every
    amount × numerator/denominator (half up), each entry kept balanced by giving its rounding
    gap to its largest line. Not accounting data: only the demo's « exercice précédent »."""
    lines = sample.decode("utf-8-sig").replace("\r", "").split("\n")
    header = lines[0].split("\t")
    at = {name.lower(): i for i, name in enumerate(header)}
    dates = [at[n] for n in ("ecrituredate", "piecedate", "datelet", "validdate") if n in at]
    debit, credit = at["debit"], at["credit"]
    entry = (at["journalcode"], at["ecriturenum"])

    def cents(text: str) -> int:
        whole, _, part = text.strip().replace(".", ",").partition(",")
        return int(whole or "0") * 100 + int((part + "00")[:2])

    def scaled(value: int) -> int:
        return (value * numerator * 2 + denominator) // (denominator * 2)

    def earlier(day: str) -> str:
        if len(day) != 8:
            return day
        month_day = "0228" if day[4:] == "0229" else day[4:]
        return f"{int(day[:4]) - 1:04d}{month_day}"

    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    amounts = [[scaled(cents(r[debit])), scaled(cents(r[credit]))] for r in rows]
    entries: dict[tuple[str, str], list[int]] = {}
    for index, row in enumerate(rows):
        entries.setdefault((row[entry[0]], row[entry[1]]), []).append(index)
    for members in entries.values():
        gap = sum(amounts[i][0] - amounts[i][1] for i in members)
        if gap:
            largest = max(members, key=lambda i: max(amounts[i]))
            if amounts[largest][0] >= amounts[largest][1]:
                amounts[largest][0] -= gap
            else:
                amounts[largest][1] += gap
    out = [lines[0]]
    for row, (d, c) in zip(rows, amounts, strict=True):
        for i in dates:
            row[i] = earlier(row[i])
        row[debit] = f"{d // 100},{d % 100:02d}"
        row[credit] = f"{c // 100},{c % 100:02d}"
        out.append("\t".join(row))
    return ("\n".join(out) + "\n").encode("utf-8")


# The Factur-X's due date: not PieceDate + 30 days (the default terms), so the échéancier's
# « facture » source is visible. 45 days from the invoice stays within L441-10's 60.
FACTURX_TERMS = timedelta(days=45)
# A made-up seller SIREN (valid key): the sample's suppliers carry none.
FACTURX_SELLER_SIREN = "987654324"


def deposit_sample_invoices(company: Company, uploaded_by: PortalUser | None = None) -> list[str]:
    """Deposit, as a client would, two purchase invoices of the company's latest FEC import
    (once: a deposit already carrying the piece reference is left as it is):

    - a Factur-X numbered as the largest open supplier item (its due date, PieceDate + 45 days,
      feeds the échéancier with the source « facture »);
    - a plain PDF with the piece reference of the largest open item of the supplier with the
      most charges (a third party with an auxiliary account, not a 40x account), found from
      « Charges par fournisseur » → the supplier → the piece.

    Without `uploaded_by` the deposits come through the company's deposit address (source
    « email »), as the demo's people have no account before their first login. Commits.
    Returns what was done, in French."""
    fec_import = db.session.scalar(
        select(FecImport)
        .where(FecImport.company_id == company.id)
        .order_by(FecImport.exercice.desc())
        .limit(1)
    )
    if fec_import is None:
        return []
    done: list[str] = []
    invoice_item = db.session.scalar(
        select(FecOpenItem)
        .where(
            FecOpenItem.import_id == fec_import.id,
            FecOpenItem.side == "fournisseur",
            FecOpenItem.piece_key != "",
        )
        .order_by(FecOpenItem.amount.desc(), FecOpenItem.id)
        .limit(1)
    )
    if invoice_item is not None and not _deposited(company, invoice_item.piece_key):
        seller = db.session.get(FecParty, (fec_import.id, invoice_item.party))
        from client_portal_rp.einvoices import demo_facturx_pdf

        content = demo_facturx_pdf(
            number=invoice_item.piece_ref,
            seller=seller.label if seller is not None else invoice_item.party,
            siren=FACTURX_SELLER_SIREN,
            buyer=company.name,
            issued=invoice_item.piece_date,
            due=invoice_item.piece_date + FACTURX_TERMS,
            # The item is what is owed (TTC); at 20 % the HT is 5/6 of it, to the cent.
            total_ht_cents=round(invoice_item.amount * 5 / 6),
        )
        name = f"Facture {invoice_item.piece_ref} (Factur-X).pdf"
        _deposit(company, content, name, "", uploaded_by)
        done.append(f"facture électronique « {name} » déposée ({company.name})")
    piece_item = _top_supplier_piece(fec_import)
    if piece_item is not None and not _deposited(company, piece_item.piece_key):
        supplier = db.session.get(FecParty, (fec_import.id, piece_item.party))
        label = supplier.label if supplier is not None else piece_item.party
        content = _plain_invoice_pdf(label, piece_item.piece_ref, piece_item.piece_date)
        name = f"Facture {label} {piece_item.piece_ref}.pdf"
        _deposit(company, content, name, piece_item.piece_ref, uploaded_by)
        done.append(f"pièce « {name} » déposée ({company.name})")
    db.session.commit()
    return done


def _top_supplier_piece(fec_import: FecImport) -> FecOpenItem | None:
    """The largest open item of the supplier with the most charges (an auxiliary account: a
    party that is a 40x account number, such as 4081 « factures non parvenues », is passed)."""
    suppliers = db.session.scalars(
        select(FecParty.party)
        .where(FecParty.import_id == fec_import.id, FecParty.role == "fournisseur")
        .order_by(FecParty.charges.desc(), FecParty.party)
        .limit(20)
    ).all()
    for party in (p for p in suppliers if not p.isdigit()):
        item = db.session.scalar(
            select(FecOpenItem)
            .where(
                FecOpenItem.import_id == fec_import.id,
                FecOpenItem.side == "fournisseur",
                FecOpenItem.party == party,
                FecOpenItem.piece_key != "",
            )
            .order_by(FecOpenItem.amount.desc(), FecOpenItem.id)
            .limit(1)
        )
        if item is not None:
            return item
    return None


def _deposited(company: Company, key: str) -> bool:
    return (
        db.session.scalar(
            select(Deposit.id).where(Deposit.company_id == company.id, Deposit.piece_key == key)
        )
        is not None
    )


def _deposit(
    company: Company, content: bytes, name: str, piece_ref: str, uploaded_by: PortalUser | None
) -> None:
    from client_portal_rp.deposits.services import deposit_file, deposit_type_of

    deposit_type = deposit_type_of(company, "achats")
    if deposit_type is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "invoice.pdf"
        path.write_bytes(content)
        deposit_file(
            company,
            deposit_type,
            path=path,
            filename=name,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            uploaded_by=uploaded_by,
            source="web" if uploaded_by is not None else "email",
            piece_ref=piece_ref,
        )


def _plain_invoice_pdf(supplier: str, piece_ref: str, issued: date) -> bytes:
    """A one-page scanned-looking invoice (Pillow), no e-invoice inside."""
    import io

    from PIL import Image, ImageDraw

    page = Image.new("RGB", (595, 842), "white")
    draw = ImageDraw.Draw(page)
    plain = unicodedata.normalize("NFKD", supplier).encode("ascii", "ignore").decode()
    for y, text in (
        (60, plain),
        (90, f"Facture {piece_ref}"),
        (110, f"Date : {issued:%d/%m/%Y}"),
    ):
        draw.text((50, y), text, fill="black")
    out = io.BytesIO()
    page.save(out, "PDF", resolution=72)
    return out.getvalue()


DEMO_ARCHIVES = (
    (ArchiveFolder.COMPTABLES, 2025, "Bilan et compte de résultat 2025.pdf"),
    (ArchiveFolder.FISCAUX, 2025, "Liasse fiscale 2025.pdf"),
    (ArchiveFolder.JURIDIQUES, 2024, "Procès-verbal d'assemblée générale 2024.pdf"),
)


def sample_pdf(title: str) -> bytes:
    """A one-page PDF showing `title` (ASCII letters only in the drawn text)."""
    plain = unicodedata.normalize("NFKD", title)
    text = "".join(c for c in plain if c.isascii() and c not in "()\\")
    stream = f"BT /F1 14 Tf 40 760 Td ({text}) Tj ET".encode()
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R"
        b"/Resources<</Font<</F1 5 0 R>>>>>>",
        b"<</Length " + str(len(stream)).encode() + b">>stream\n" + stream + b"\nendstream",
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj".encode() + body + b"endobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer<</Size {len(objects) + 1}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _publish_sample(company: Company, folder: ArchiveFolder, exercice: int, name: str) -> None:
    from client_portal_rp.archives.services import publish_document

    content = sample_pdf(name.removesuffix(".pdf"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sample.pdf"
        path.write_bytes(content)
        publish_document(
            company,
            folder=folder,
            exercice=exercice,
            path=path,
            filename=name,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            published_by=None,
        )


@demo_cli.command("load")
def load_command() -> None:
    """Load the demonstration data (idempotent)."""
    if current_app.config.get("PORTAL_ENV") == "production":
        raise click.ClickException("Les données de démonstration sont refusées en production.")
    for line in load():
        click.echo(f"portail : {line}")
