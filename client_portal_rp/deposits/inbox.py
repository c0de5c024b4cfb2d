"""The firm's inbox: every deposit of the firm's companies, newest first, and what staff do
with one (take it, mark it processed, annotate it).

A deposit is always found by its public id AND the firm's companies (`firm_deposit`), so a
deposit of another firm is a 404 like one that does not exist (SECURITY.md 46). A status
change is one conditional UPDATE: two staff clicking « Prendre en charge » at the same
instant get one winner and one precise message, never two audit lines for one change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import abort
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import joinedload

from client_portal_rp import audit
from client_portal_rp.extensions import db
from client_portal_rp.models import (
    Company,
    Deposit,
    DepositStatus,
    DepositType,
    Firm,
    PortalUser,
    utcnow,
)

PAGE_SIZE = 50
MAX_NOTE = 2000


class InboxError(Exception):
    """An action staff can correct or understand; `message` is shown as is (French)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class InboxFilter:
    """What the inbox shows (from the query string, every value checked)."""

    company: Company | None = None
    deposit_type: DepositType | None = None
    status: DepositStatus | None = None
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    errors: list[str] = field(default_factory=list)

    def query_args(self, **override: Any) -> dict[str, Any]:
        """The filter as query arguments (the pagination links keep it)."""
        args: dict[str, Any] = {
            "entreprise": self.company.public_id if self.company else None,
            "type": self.deposit_type.code if self.deposit_type else None,
            "statut": self.status.value if self.status else None,
            "du": self.date_from.isoformat() if self.date_from else None,
            "au": self.date_to.isoformat() if self.date_to else None,
            "page": self.page if self.page > 1 else None,
        }
        args.update(override)
        return {key: value for key, value in args.items() if value}


@dataclass
class InboxPage:
    deposits: list[Deposit]
    total: int
    page: int
    pages: int


def firm_companies(firm: Firm) -> list[Company]:
    return list(
        db.session.scalars(
            select(Company).where(Company.firm_id == firm.id).order_by(Company.name, Company.id)
        )
    )


def firm_company(firm: Firm, public_id: str) -> Company:
    """A company of this firm by public id, else 404 (another firm's company included)."""
    if not public_id or len(public_id) > 64:
        abort(404)
    company = db.session.scalar(
        select(Company).where(Company.public_id == public_id, Company.firm_id == firm.id)
    )
    if company is None:
        abort(404)
    return company


def _parse_date(raw: str, label: str, errors: list[str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(f"La date « {label} » n'est pas une date valable (format AAAA-MM-JJ).")
        return None


def parse_filter(firm: Firm, args: Mapping[str, str]) -> InboxFilter:
    """The filter from the query string; a wrong value is dropped with a French message."""
    found = InboxFilter()
    errors = found.errors
    company_id = (args.get("entreprise") or "").strip()
    if company_id:
        found.company = db.session.scalar(
            select(Company).where(Company.public_id == company_id, Company.firm_id == firm.id)
        )
        if found.company is None:
            errors.append("Cette entreprise n'est pas un client du cabinet.")
    type_code = (args.get("type") or "").strip()
    if type_code:
        found.deposit_type = db.session.scalar(
            select(DepositType).where(DepositType.firm_id == firm.id, DepositType.code == type_code)
        )
        if found.deposit_type is None:
            errors.append("Ce type de document n'existe pas pour le cabinet.")
    status = (args.get("statut") or "").strip()
    if status:
        if status in DepositStatus._value2member_map_:
            found.status = DepositStatus(status)
        else:
            errors.append("Ce statut n'existe pas (déposé, pris en charge ou traité).")
    found.date_from = _parse_date((args.get("du") or "").strip(), "du", errors)
    found.date_to = _parse_date((args.get("au") or "").strip(), "au", errors)
    if found.date_from and found.date_to and found.date_from > found.date_to:
        errors.append("La date « du » est après la date « au » : la période est vide.")
    page = (args.get("page") or "1").strip()
    found.page = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
    return found


def _filtered(firm: Firm, wanted: InboxFilter) -> Select[Any]:
    statement = (
        select(Deposit)
        .join(Company, Deposit.company_id == Company.id)
        .where(Company.firm_id == firm.id)
    )
    if wanted.company is not None:
        statement = statement.where(Deposit.company_id == wanted.company.id)
    if wanted.deposit_type is not None:
        statement = statement.where(Deposit.deposit_type_id == wanted.deposit_type.id)
    if wanted.status is not None:
        statement = statement.where(Deposit.status == wanted.status.value)
    if wanted.date_from is not None:
        start = datetime.combine(wanted.date_from, time.min, tzinfo=UTC)
        statement = statement.where(Deposit.created_at >= start)
    if wanted.date_to is not None:
        end = datetime.combine(wanted.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        statement = statement.where(Deposit.created_at < end)
    return statement


def inbox_page(firm: Firm, wanted: InboxFilter) -> InboxPage:
    """One page (50) of the firm's deposits matching the filter, newest first."""
    statement = _filtered(firm, wanted)
    total = db.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(wanted.page, pages)
    deposits = db.session.scalars(
        statement.options(
            joinedload(Deposit.company),
            joinedload(Deposit.deposit_type),
            joinedload(Deposit.uploaded_by),
            joinedload(Deposit.taken_by),
        )
        .order_by(Deposit.created_at.desc(), Deposit.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return InboxPage(list(deposits), total, page, pages)


def firm_deposit(firm: Firm, public_id: str) -> Deposit:
    """A deposit of one of the firm's companies by public id, else 404."""
    if not public_id or len(public_id) > 64:
        abort(404)
    deposit = db.session.scalar(
        select(Deposit)
        .join(Company, Deposit.company_id == Company.id)
        .where(Deposit.public_id == public_id, Company.firm_id == firm.id)
    )
    if deposit is None:
        abort(404)
    return deposit


def _change_status(
    deposit: Deposit, target: DepositStatus, allowed_from: tuple[DepositStatus, ...], **values: Any
) -> bool:
    """Move the deposit to `target` if it is still in one of `allowed_from` (one UPDATE)."""
    now = utcnow()
    result = db.session.execute(
        update(Deposit)
        .where(
            Deposit.id == deposit.id,
            Deposit.status.in_([status.value for status in allowed_from]),
        )
        .values(status=target.value, status_changed_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    changed = bool(result.rowcount)  # type: ignore[attr-defined]
    db.session.refresh(deposit)
    return changed


def take(deposit: Deposit, user: PortalUser) -> None:
    """« Prendre en charge »: the deposit is this staff member's (audit `deposit.taken`)."""
    if not _change_status(
        deposit, DepositStatus.TAKEN, (DepositStatus.DEPOSITED,), taken_by_id=user.id
    ):
        if deposit.status == DepositStatus.TAKEN.value:
            who = deposit.taken_by.name or deposit.taken_by.email if deposit.taken_by else ""
            raise InboxError(
                f"« {deposit.filename} » est déjà pris en charge" + (f" par {who}." if who else ".")
            )
        raise InboxError(f"« {deposit.filename} » est déjà traité.")
    audit.record(
        "deposit.taken",
        company=deposit.company,
        actor=user,
        deposit=deposit.public_id,
        filename=deposit.filename,
    )


def mark_processed(deposit: Deposit, user: PortalUser) -> None:
    """« Marquer traité » (audit `deposit.processed`); a deposit nobody took becomes the
    person's who processed it."""
    taken_by_id = deposit.taken_by_id or user.id
    if not _change_status(
        deposit,
        DepositStatus.PROCESSED,
        (DepositStatus.DEPOSITED, DepositStatus.TAKEN),
        taken_by_id=taken_by_id,
    ):
        raise InboxError(f"« {deposit.filename} » est déjà traité.")
    audit.record(
        "deposit.processed",
        company=deposit.company,
        actor=user,
        deposit=deposit.public_id,
        filename=deposit.filename,
    )


def annotate(deposit: Deposit, user: PortalUser, note: str) -> None:
    """The firm's note on a deposit, which the client sees too (audit `deposit.annotated`)."""
    note = note.replace("\r\n", "\n").strip()
    if len(note) > MAX_NOTE:
        raise InboxError(f"La note fait {len(note)} caractères : {MAX_NOTE} au plus.")
    if note == deposit.firm_note:
        raise InboxError("La note n'a pas changé.")
    deposit.firm_note = note
    audit.record(
        "deposit.annotated",
        company=deposit.company,
        actor=user,
        deposit=deposit.public_id,
        filename=deposit.filename,
        note=note[:200],
    )
