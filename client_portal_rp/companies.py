"""Firms and their client companies: creation rules shared by the firm's pages and the
`portal companies` / `portal firms` commands (one code path for both)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from client_portal_rp import audit
from client_portal_rp.extensions import db
from client_portal_rp.models import (
    DEFAULT_DEPOSIT_TYPES,
    Company,
    DepositType,
    Firm,
    PortalUser,
)


class CompanyError(Exception):
    """A company that cannot be created as asked; `message` is French, for the page or CLI."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def siren_is_valid(siren: str) -> bool:
    """Nine digits with the Luhn check digit (INSEE); La Poste's establishments (356000000)
    follow their own rule: the sum of the digits is a multiple of 5."""
    if len(siren) != 9 or not siren.isascii() or not siren.isdigit():
        return False
    if siren == "356000000":
        return True
    total = 0
    for index, char in enumerate(reversed(siren)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def normalize_siren(raw: str) -> str:
    """Spaces and dots people type between the digit groups are dropped."""
    return "".join(raw.split()).replace(".", "")


def create_firm(name: str) -> Firm:
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise CompanyError("Le nom du cabinet est obligatoire (200 caractères au plus).")
    firm = Firm(name=name)
    db.session.add(firm)
    db.session.flush()
    for position, (code, label, data) in enumerate(DEFAULT_DEPOSIT_TYPES):
        db.session.add(
            DepositType(firm_id=firm.id, code=code, label=label, data=data, position=position)
        )
    db.session.flush()
    return firm


def find_firm(reference: str) -> Firm | None:
    """A firm by public id, else by name (case-insensitive)."""
    firm = db.session.scalar(select(Firm).where(Firm.public_id == reference))
    if firm is None:
        firm = db.session.scalar(
            select(Firm).where(func.lower(Firm.name) == " ".join(reference.split()).lower())
        )
    return firm


def add_company(
    firm: Firm,
    *,
    siren: str,
    name: str,
    exercice_start: date | None = None,
    exercice_end: date | None = None,
    actor: PortalUser | None = None,
    actor_label: str | None = None,
) -> Company:
    """A new client company of `firm` (the caller commits)."""
    siren = normalize_siren(siren)
    name = " ".join(name.split())
    if not siren_is_valid(siren):
        raise CompanyError(
            f"Le SIREN « {siren[:20]} » n'est pas valable : il faut 9 chiffres dont le dernier "
            "est la clé de contrôle."
        )
    if not name or len(name) > 200:
        raise CompanyError("La raison sociale est obligatoire (200 caractères au plus).")
    if exercice_start and exercice_end and exercice_end <= exercice_start:
        raise CompanyError("La date de clôture de l'exercice doit suivre sa date d'ouverture.")
    existing = db.session.scalar(select(Company).where(Company.siren == siren))
    if existing is not None:
        raise CompanyError(f"Une entreprise de SIREN {siren} existe déjà ({existing.name}).")
    if exercice_start is None and exercice_end is None:
        year = date.today().year
        exercice_start, exercice_end = date(year, 1, 1), date(year, 12, 31)
    company = Company(
        firm_id=firm.id,
        siren=siren,
        name=name,
        exercice_start=exercice_start,
        exercice_end=exercice_end,
    )
    db.session.add(company)
    db.session.flush()
    audit.record(
        "company.created",
        company=company,
        actor=actor,
        actor_label=actor_label,
        siren=siren,
        name=name,
    )
    return company


def deposit_types(firm_id: int) -> list[DepositType]:
    return list(
        db.session.scalars(
            select(DepositType)
            .where(DepositType.firm_id == firm_id)
            .order_by(DepositType.position, DepositType.id)
        )
    )
