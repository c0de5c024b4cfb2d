"""`portal demo load`: the portal's demonstration data for `make run` (development only).

A firm and two client companies, and invitations for the IdP's demo accounts (idp/demo.py),
accepted at their first login through Sésame (their verified email is the invited one):

- demo.expert (Hélène Rousseau, expert-comptable): staff of the firm « Rousseau Audit »;
- demo.collaborateur (Camille Martin): admin of « Boulangerie Martin », every module;
- demo.salarie (Lucas Moreau): user of « Boulangerie Martin », deposits only;
- demo.garage (Nadia Leroy): admin of « Garage Leroy », every module;
- demo.collaborateur is also admin of « Société Exemple » (SIREN 123456789), every module, whose
  FEC is imported from ../shared/data/fec/123456789FEC20500930.txt beside the project when that
  sample is there (else the company is left out): its indicators show on `make run`.

Idempotent: an existing firm or company is left as it is. Refused in production.
"""

from __future__ import annotations

import hashlib
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
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
    FecImport,
    Firm,
    Invitation,
    Module,
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
FEC_SAMPLE = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "fec" / "123456789FEC20500930.txt"
)
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
    """Import the sample FEC once (the importer commits; an error is reported, not raised)."""
    from client_portal_rp.fec.importer import import_path

    if db.session.scalar(select(FecImport.id).where(FecImport.company_id == company.id)):
        return
    report = import_path(company, FEC_SAMPLE, actor_label=DEMO_ACTOR)
    if report.ok and report.fec_import is not None:
        done.append(
            f"FEC {FEC_SAMPLE.name} importé ({company.name}, exercice "
            f"{report.fec_import.exercice}, {report.line_count} lignes)"
        )
    else:
        db.session.rollback()
        done.append(f"FEC {FEC_SAMPLE.name} non importé : " + "; ".join(map(str, report.errors)))


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
