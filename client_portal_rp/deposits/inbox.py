"""The firm's inbox: every deposit of the firm's companies, newest first, and what staff do
with one (take it, mark it processed, annotate it).

A deposit is always found by its public id AND the firm's companies (`firm_deposit`), so a
deposit of another firm is a 404 like one that does not exist (SECURITY.md 46). A status
change is one conditional UPDATE: two staff clicking « Prendre en charge » at the same
instant get one winner and one precise message, never two audit lines for one change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import abort
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from client_portal_rp import audit
from client_portal_rp.deposits.services import DepositFilter, DepositPage, page_of
from client_portal_rp.deposits.services import parse_filter as parse_filter_of_firm
from client_portal_rp.extensions import db
from client_portal_rp.models import (
    Company,
    Deposit,
    DepositStatus,
    Firm,
    PortalUser,
    utcnow,
)

MAX_NOTE = 2000


class InboxError(Exception):
    """An action staff can correct or understand; `message` is shown as is (French)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


def parse_filter(firm: Firm, args: Mapping[str, str]) -> DepositFilter:
    """The deposit list's filter, plus one of the firm's companies (`entreprise`)."""
    found = parse_filter_of_firm(firm.id, args)
    company_id = (args.get("entreprise") or "").strip()
    if company_id:
        found.company = db.session.scalar(
            select(Company).where(Company.public_id == company_id, Company.firm_id == firm.id)
        )
        if found.company is None:
            found.errors.insert(0, "Cette entreprise n'est pas un client du cabinet.")
    return found


def inbox_page(firm: Firm, wanted: DepositFilter) -> DepositPage:
    """One page (50) of the firm's deposits matching the filter, newest first."""
    return page_of(
        select(Deposit)
        .join(Company, Deposit.company_id == Company.id)
        .where(Company.firm_id == firm.id),
        wanted,
        joinedload(Deposit.company),
        joinedload(Deposit.deposit_type),
        joinedload(Deposit.uploaded_by),
        joinedload(Deposit.taken_by),
        joinedload(Deposit.invoice),  # the e-invoice read from the file (DepositInvoice)
    )


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
