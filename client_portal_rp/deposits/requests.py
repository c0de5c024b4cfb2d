"""Missing-piece requests: the firm asks a client company for a document it lacks. The request
shows on the company's deposit page, goes by email to the company's members who have the
deposit module, and is reminded once a month until a deposit answers it (`answered_at`, set by
`deposit_file`) or the firm closes it.

The reminder is claimed by one conditional UPDATE of `last_reminded_at` (still open, last
reminder or creation 30 days old or more), committed with its emails in the outbox: two runs
at the same time, or the same day, send one reminder, never two.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import click
from flask import current_app, has_request_context, url_for
from flask.cli import with_appcontext
from sqlalchemy import func, or_, select, update

from client_portal_rp import audit, mail
from client_portal_rp.extensions import db
from client_portal_rp.models import (
    Company,
    Membership,
    PieceRequest,
    PortalUser,
    utcnow,
)

log = logging.getLogger("client_portal_rp.deposits.requests")

MAX_MESSAGE = 2000
REMINDER_INTERVAL = timedelta(days=30)


class RequestRefused(Exception):
    """A request the firm can correct; `message` is shown as is (French)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def portal_url(endpoint: str, **values: Any) -> str:
    """An absolute link for an email: the portal's configured base URL, whatever the host the
    request came in by (or no request at all: the reminder command)."""
    base = str(current_app.config["PORTAL_BASE_URL"]).rstrip("/")
    return base + url_for(endpoint, **values)


@contextmanager
def mail_context() -> Iterator[bool]:
    """A request context for `mail.queue` (templates, `url_for`) outside a request; yields
    True when the caller must deliver the outbox itself (no request to do it after)."""
    if has_request_context():
        yield False
        return
    with current_app.test_request_context(base_url=current_app.config["PORTAL_BASE_URL"]):
        yield True


def recipients(company: Company) -> list[str]:
    """The emails of the company's members who have the deposit module (lower-cased, once)."""
    emails = db.session.scalars(
        select(func.lower(PortalUser.email))
        .join(Membership, Membership.user_id == PortalUser.id)
        .where(
            Membership.company_id == company.id,
            Membership.can_deposit.is_(True),
            PortalUser.email != "",
        )
        .order_by(PortalUser.email)
    )
    return list(dict.fromkeys(emails))


def open_requests(company: Company) -> list[PieceRequest]:
    """Not answered, not closed: what the client still has to send (oldest first)."""
    return list(
        db.session.scalars(
            select(PieceRequest)
            .where(
                PieceRequest.company_id == company.id,
                PieceRequest.answered_at.is_(None),
                PieceRequest.closed_at.is_(None),
            )
            .order_by(PieceRequest.created_at, PieceRequest.id)
        )
    )


def company_requests(company: Company, limit: int = 100) -> list[PieceRequest]:
    """Every request of the company, open ones first, then the most recent."""
    return list(
        db.session.scalars(
            select(PieceRequest)
            .where(PieceRequest.company_id == company.id)
            .order_by(
                (PieceRequest.closed_at.is_(None) & PieceRequest.answered_at.is_(None)).desc(),
                PieceRequest.created_at.desc(),
                PieceRequest.id.desc(),
            )
            .limit(limit)
        )
    )


def _send(piece_request: PieceRequest, template: str, subject: str) -> int:
    company = piece_request.company
    link = portal_url("deposits.index", company_id=company.public_id)
    sent = 0
    for email in recipients(company):
        mail.queue(
            email,
            subject,
            template,
            company=company,
            firm=company.firm,
            piece_request=piece_request,
            link=link,
        )
        sent += 1
    return sent


def create_request(company: Company, message: str, asked_by: PortalUser) -> PieceRequest:
    """Ask the company for a missing piece: the row, its audit line, its emails (the caller
    commits)."""
    message = message.replace("\r\n", "\n").strip()
    if not message:
        raise RequestRefused("Décrivez la pièce demandée.")
    if len(message) > MAX_MESSAGE:
        raise RequestRefused(f"La demande fait {len(message)} caractères : {MAX_MESSAGE} au plus.")
    piece_request = PieceRequest(company_id=company.id, asked_by_id=asked_by.id, message=message)
    db.session.add(piece_request)
    db.session.flush()
    piece_request.company = company
    audit.record(
        "request.created",
        company=company,
        actor=asked_by,
        request=piece_request.public_id,
        message=message[:200],
    )
    _send(piece_request, "piece_request", f"{company.firm.name} vous demande une pièce")
    return piece_request


def close_request(piece_request: PieceRequest, user: PortalUser) -> None:
    """« Clore »: no more reminders, no longer shown to the client (audit `request.closed`)."""
    if piece_request.closed_at is not None:
        raise RequestRefused("Cette demande est déjà close.")
    piece_request.closed_at = utcnow()
    audit.record(
        "request.closed",
        company=piece_request.company,
        actor=user,
        request=piece_request.public_id,
    )


def _claim_reminder(request_id: int, now: datetime) -> bool:
    """Set `last_reminded_at` if the request is still open and due (one UPDATE)."""
    due_before = now - REMINDER_INTERVAL
    result = db.session.execute(
        update(PieceRequest)
        .where(
            PieceRequest.id == request_id,
            PieceRequest.answered_at.is_(None),
            PieceRequest.closed_at.is_(None),
            or_(
                PieceRequest.last_reminded_at <= due_before,
                PieceRequest.last_reminded_at.is_(None) & (PieceRequest.created_at <= due_before),
            ),
        )
        .values(last_reminded_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def send_reminders(now: datetime | None = None) -> int:
    """Remind every open request last reminded (or created) 30 days ago or more; return how
    many requests were reminded. Each reminder and its emails are one transaction."""
    now = now or utcnow()
    due_before = now - REMINDER_INTERVAL
    due = db.session.scalars(
        select(PieceRequest.id)
        .where(
            PieceRequest.answered_at.is_(None),
            PieceRequest.closed_at.is_(None),
            func.coalesce(PieceRequest.last_reminded_at, PieceRequest.created_at) <= due_before,
        )
        .order_by(PieceRequest.id)
    ).all()
    db.session.rollback()
    reminded = 0
    with mail_context() as deliver_ourselves:
        for request_id in due:
            if not _claim_reminder(request_id, now):
                db.session.rollback()  # reminded meanwhile by another run, or answered
                continue
            piece_request = db.session.get(PieceRequest, request_id)
            assert piece_request is not None
            db.session.refresh(piece_request)
            count = _send(
                piece_request,
                "piece_request_reminder",
                f"Rappel : {piece_request.company.firm.name} attend une pièce",
            )
            db.session.commit()
            log.info("piece request %s reminded (%d emails)", piece_request.public_id, count)
            reminded += 1
    if deliver_ourselves and reminded:
        mail.deliver_pending(limit=1000)
    return reminded


@click.group("requests")
def requests_cli() -> None:
    """Missing-piece requests."""


@requests_cli.command("remind")
@with_appcontext
def remind_command() -> None:
    """Send the monthly reminder of the open missing-piece requests (run it daily)."""
    click.echo(f"{send_reminders()} demande(s) relancée(s)")
