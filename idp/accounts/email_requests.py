"""Email requests made by anonymous visitors ("Mot de passe oublié", "Identifiant oublié",
activation resend, a signup with an email that already has an account).

The page's answer must not depend on whether an account exists (docs/security.md 9): looking
the accounts up, rendering and queueing their emails took measurably longer when one did
(medians 33.8 vs 19.7 ms). So the request only records what was asked (one row, the same work
whatever the identifier) and answers; the row is then processed right after the response is
sent (`process_after_response`) and, should the process die first, by the outbox worker
(`idp mail deliver`, which calls `process_pending`). A row is claimed by a compare-and-set
update, so it is processed once.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime

from flask import Flask, current_app
from flask_babel import force_locale, get_locale
from sqlalchemy import String, select, update
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.wrappers import Response

from idp.accounts import services
from idp.accounts.models import User, UserStatus
from idp.audit.models import AuditEventType
from idp.audit.services import ANONYMOUS, record
from idp.database import DbSession, UTCDateTime, utcnow
from idp.extensions import db
from idp.throttling import TooManyAttempts, email_sends_per_account, email_sends_per_ip
from idp.urls import external_url

log = logging.getLogger("idp.accounts")


class EmailRequestKind(enum.StrEnum):
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a kind, not a secret
    ACTIVATION_RESEND = "activation_resend"
    USERNAME_REMINDER = "username_reminder"
    SIGNUP_EMAIL_TAKEN = "signup_email_taken"


class EmailRequest(db.Model):  # type: ignore[name-defined]
    __tablename__ = "account_email_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    identifier: Mapped[str] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(8), default="fr")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


def request_email(
    session: DbSession, kind: EmailRequestKind, identifier: str, *, ip: str
) -> EmailRequest:
    """A visitor's request (throttled per IP): recorded; the caller commits and answers the
    same whatever it was."""
    email_sends_per_ip.acquire(ip)
    return queue_request(session, kind, identifier)


def queue_request(session: DbSession, kind: EmailRequestKind, identifier: str) -> EmailRequest:
    """Record what was asked, to be processed after the answer."""
    request_row = EmailRequest(
        kind=kind.value, identifier=identifier.strip()[:254], locale=str(get_locale() or "fr")
    )
    session.add(request_row)
    return request_row


def process_after_response(response: Response, request_id: int | None = None) -> None:
    """Process one request (or the pending ones) once the response has been sent."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            try:
                if request_id is None:
                    process_pending(db.session, limit=10)
                else:
                    process(db.session, request_id)
                db.session.commit()
            except Exception:  # the worker will process it: log and go on
                log.exception("email request %s left for the worker", request_id)
                db.session.rollback()
            finally:
                db.session.remove()

    response.call_on_close(run)


def process_pending(session: DbSession, *, limit: int = 100) -> int:
    """Process the requests nobody processed yet (the worker's share); return how many."""
    ids = list(
        session.scalars(
            select(EmailRequest.id)
            .where(EmailRequest.processed_at.is_(None))
            .order_by(EmailRequest.id)
            .limit(limit)
        )
    )
    done = 0
    for request_id in ids:
        done += process(session, request_id)
        session.commit()
    return done


def process(session: DbSession, request_id: int) -> bool:
    """Claim the request and queue the emails it calls for; False when already claimed."""
    claimed = session.execute(
        update(EmailRequest)
        .where(EmailRequest.id == request_id, EmailRequest.processed_at.is_(None))
        .values(processed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if int(getattr(claimed, "rowcount", 0) or 0) != 1:
        return False
    row = session.get(EmailRequest, request_id)
    assert row is not None
    users = services.find_users_by_identifier(session, row.identifier)
    with force_locale(row.locale):
        _HANDLERS[EmailRequestKind(row.kind)](session, users, row.identifier)
    return True


def _may_send_email(user: User) -> bool:
    """Per-account email throttle: past it, nothing is sent (the page said the same anyway)."""
    try:
        email_sends_per_account.consume(user.subject)
    except TooManyAttempts:
        return False
    return True


def _password_reset(session: DbSession, users: list[User], identifier: str) -> None:
    for user in users:
        if user.status != UserStatus.DISABLED and _may_send_email(user):
            services.queue_password_reset_email(session, user)


def _activation_resend(session: DbSession, users: list[User], identifier: str) -> None:
    for user in users:
        if user.is_pending and _may_send_email(user):
            services.queue_activation_email(session, user)


def _username_reminder(session: DbSession, users: list[User], identifier: str) -> None:
    """One email per address, listing every account of that address."""
    if "@" not in identifier:
        return
    accounts = [u for u in users if u.status != UserStatus.DISABLED]
    if accounts and _may_send_email(accounts[0]):
        _queue_usernames_email(session, accounts, template="username_reminder")
        for user in accounts:
            record(session, AuditEventType.USERNAME_REMINDER_SENT, subject=user, actor=ANONYMOUS)


def _signup_email_taken(session: DbSession, users: list[User], identifier: str) -> None:
    accounts = [u for u in users if u.status != UserStatus.DISABLED]
    if accounts and _may_send_email(accounts[0]):
        _queue_usernames_email(session, accounts, template="signup_email_taken")
        for user in accounts:
            record(session, AuditEventType.SIGNUP_EMAIL_ALREADY_USED, subject=user, actor=ANONYMOUS)


def _queue_usernames_email(session: DbSession, accounts: list[User], *, template: str) -> None:
    services.email_user(
        session,
        accounts[0],
        template,
        accounts=accounts,
        login_link=external_url("accounts.login"),
        forgot_link=external_url("accounts.forgot_password"),
    )


_HANDLERS = {
    EmailRequestKind.PASSWORD_RESET: _password_reset,
    EmailRequestKind.ACTIVATION_RESEND: _activation_resend,
    EmailRequestKind.USERNAME_REMINDER: _username_reminder,
    EmailRequestKind.SIGNUP_EMAIL_TAKEN: _signup_email_taken,
}
