"""The company's deposit address: `<company.mailbox_token>@<PORTAL_MAILBOX_DOMAIN>`. A client
mails an invoice to it and each attachment becomes a deposit (source « email »).

The mail server hands one message to `portal mailbox receive` on stdin (Postfix's `pipe`
transport, for instance) and reads the exit status as sysexits.h says: 0 taken, 67
(EX_NOUSER) no such address, 77 (EX_NOPERM) sender not allowed, 65 (EX_DATAERR) unreadable.

Who may deposit: the From address (lower-cased) must be the email of a member of that company
who has the deposit module. A From header is only what the sender wrote, so a deployment
should let its mail server check it (SPF/DKIM/DMARC) and name that server in
`PORTAL_MAILBOX_AUTHSERV_ID`: then only a message whose `Authentication-Results` from that
server says `dmarc=pass` is taken. A refused message gets no reply (a reply to a forged
sender is backscatter): the reason is logged and the exit status tells the mail server. An
accepted sender gets one confirmation listing the files taken and refused.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
import sys
import tempfile
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from client_portal_rp import mail
from client_portal_rp.deposits import jobs
from client_portal_rp.deposits.requests import mail_context, portal_url
from client_portal_rp.deposits.services import (
    MAX_COMMENT,
    DepositRefused,
    deposit_file,
    upload_tmp_dir,
)
from client_portal_rp.extensions import db
from client_portal_rp.files import safe_display_name
from client_portal_rp.models import Company, DepositType, Membership, PortalUser
from client_portal_rp.uploads import megabytes

log = logging.getLogger("client_portal_rp.deposits.mailbox")

DEFAULT_TYPE_CODE = "achats"
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "To", "Cc")
SUBJECT_TAG = re.compile(r"\[([^\[\]]{1,40})\]")
MAX_ATTACHMENTS = 20


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    IGNORED = "ignored"  # an automatic message (auto-reply, bounce): dropped, no answer
    UNREADABLE = "unreadable"
    UNKNOWN_ADDRESS = "unknown_address"
    SENDER_REFUSED = "sender_refused"

    @property
    def exit_code(self) -> int:
        """sysexits.h, as a mail server's pipe transport reads it."""
        return {
            Outcome.ACCEPTED: 0,
            Outcome.IGNORED: 0,
            Outcome.UNREADABLE: 65,  # EX_DATAERR
            Outcome.UNKNOWN_ADDRESS: 67,  # EX_NOUSER
            Outcome.SENDER_REFUSED: 77,  # EX_NOPERM
        }[self]


@dataclass
class MailboxResult:
    outcome: Outcome
    reason: str = ""
    company: Company | None = None
    sender: str = ""
    accepted: list[str] = field(default_factory=list)  # French sentences, one per file
    refused: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code


def mailbox_address(company: Company) -> str:
    """The company's deposit address."""
    return f"{company.mailbox_token}@{current_app.config['PORTAL_MAILBOX_DOMAIN']}"


def max_message_bytes() -> int:
    """The largest message read: ten attachments of the upload limit, base64-encoded (4/3),
    plus 1 MiB of text and headers (the mail server has its own limit, usually lower)."""
    return int(current_app.config["PORTAL_MAX_UPLOAD_BYTES"]) * 10 * 4 // 3 + 1024 * 1024


def _refuse(outcome: Outcome, reason: str, **fields: object) -> MailboxResult:
    log.warning("mailbox: message refused (%s): %s", outcome.value, reason)
    return MailboxResult(outcome, reason, **fields)  # type: ignore[arg-type]


def _addresses(message: EmailMessage, name: str) -> list[str]:
    values = [str(value) for value in message.get_all(name, [])]
    return [address.strip().lower() for _, address in getaddresses(values) if address]


def find_company(message: EmailMessage, recipient: str | None) -> Company | None:
    """The company whose deposit address the message was sent to: the envelope recipient the
    mail server gives first, else the headers it added (Delivered-To, X-Original-To), else
    To and Cc."""
    domain = str(current_app.config["PORTAL_MAILBOX_DOMAIN"]).lower()
    candidates = [recipient.strip().lower()] if recipient else []
    for header in RECIPIENT_HEADERS:
        candidates += _addresses(message, header)
    for address in candidates:
        local, at, host = address.rpartition("@")
        if not at or host != domain:
            continue
        token = local.split("+", 1)[0]
        if not token or len(token) > 40:
            continue
        company = db.session.scalar(select(Company).where(Company.mailbox_token == token))
        if company is not None:
            return company
    return None


def depositor(company: Company, sender: str) -> PortalUser | None:
    """The member of the company with this email who has the deposit module, or None."""
    return db.session.scalar(
        select(PortalUser)
        .join(Membership, Membership.user_id == PortalUser.id)
        .where(
            Membership.company_id == company.id,
            Membership.can_deposit.is_(True),
            func.lower(PortalUser.email) == sender,
            PortalUser.email_verified.is_(True),
        )
        .order_by(PortalUser.id)
        .limit(1)
    )


def sender_authenticated(message: EmailMessage) -> bool:
    """True when no authenticating server is configured, or when that server's
    Authentication-Results header says dmarc=pass (RFC 8601; other servers' headers, which a
    sender can forge, are not read)."""
    authserv_id = str(current_app.config.get("PORTAL_MAILBOX_AUTHSERV_ID") or "").lower()
    if not authserv_id:
        return True
    for value in message.get_all("Authentication-Results", []):
        server, _, results = str(value).lower().partition(";")
        if server.split()[:1] != [authserv_id]:
            continue
        # The first (topmost) header of our server is the one it added on receipt.
        return re.search(r"(^|[;\s])dmarc=pass\b", results) is not None
    return False


def deposit_type_for(company: Company, subject: str) -> DepositType | None:
    """The type named in the subject between brackets (« [ventes] », by code or label), else
    the firm's « achats », else its first document type."""
    types = list(
        db.session.scalars(
            select(DepositType)
            .where(DepositType.firm_id == company.firm_id)
            .order_by(DepositType.position, DepositType.id)
        )
    )
    for tag in SUBJECT_TAG.findall(subject):
        wanted = tag.strip().lower()
        for deposit_type in types:
            if wanted in (deposit_type.code.lower(), deposit_type.label.lower()):
                return deposit_type
    for deposit_type in types:
        if deposit_type.code == DEFAULT_TYPE_CODE:
            return deposit_type
    return next((t for t in types if not t.data), None)


def attachments(message: EmailMessage) -> list[tuple[str, EmailMessage]]:
    """The files of the message: parts given as attachments, or carrying a file name; not the
    body, not the images an HTML body embeds (inline with a Content-ID), not the parts of a
    forwarded message."""
    found: list[tuple[str, EmailMessage]] = []
    parts = [message] if not message.is_multipart() else list(_leaves(message))
    for part in parts:
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if disposition != "attachment" and not filename:
            continue  # the text or HTML body
        if disposition == "inline" and part.get("Content-ID"):
            continue  # an image the HTML body shows (a logo in a signature)
        found.append((safe_display_name(filename or ""), part))
    return found


def _leaves(message: EmailMessage) -> list[EmailMessage]:
    """The non-multipart parts, not descending into an attached message (message/rfc822)."""
    leaves: list[EmailMessage] = []
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        if part.get_content_maintype() == "multipart":
            leaves += _leaves(part)
        elif part.get_content_type() != "message/rfc822":
            leaves.append(part)
    return leaves


def _deposit_part(
    company: Company,
    deposit_type: DepositType,
    user: PortalUser,
    name: str,
    part: EmailMessage,
    comment: str,
) -> tuple[str, int | None]:
    """Deposit one attachment; (sentence for the sender, id of a deposit whose photo job must
    run). Raises DepositRefused."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    limit = int(current_app.config["PORTAL_MAX_UPLOAD_BYTES"])
    if len(data) > limit:
        raise DepositRefused(
            f"« {name} » dépasse la taille autorisée ({megabytes(limit)} par fichier)."
        )
    with tempfile.NamedTemporaryFile(dir=upload_tmp_dir(), prefix="mail-", delete=False) as out:
        out.write(data)
        path = Path(out.name)
    try:
        result = deposit_file(
            company,
            deposit_type,
            path=path,
            filename=name,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            uploaded_by=user,
            source="email",
            comment=comment,
        )
        db.session.commit()
    except DepositRefused:
        db.session.rollback()
        raise
    finally:
        path.unlink(missing_ok=True)
    return result.message, result.deposit.id if result.needs_processing else None


def parse(raw: bytes) -> EmailMessage | None:
    if not raw or not raw.strip():
        return None
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception:  # the parser is lenient; anything it still cannot read is unreadable
        log.exception("mailbox: message not parsed")
        return None
    assert isinstance(message, EmailMessage)
    return message


def receive_message(raw: bytes, *, recipient: str | None = None) -> MailboxResult:
    """Take one RFC 5322 message sent to a deposit address (`recipient`: the envelope's, when
    the mail server gives it). See the module's docstring for who may deposit."""
    if len(raw) > max_message_bytes():
        return _refuse(Outcome.UNREADABLE, f"message of {len(raw)} bytes, too large")
    message = parse(raw)
    if message is None:
        return _refuse(Outcome.UNREADABLE, "empty or unreadable message")
    try:
        senders = _addresses(message, "From")
        auto = str(message.get("Auto-Submitted", "no")).strip().lower()
        subject = " ".join(str(message.get("Subject", "")).split())
        company = find_company(message, recipient)
    except Exception:  # a header the policy cannot read
        log.exception("mailbox: headers unreadable")
        return _refuse(Outcome.UNREADABLE, "headers unreadable")
    if len(senders) != 1:
        return _refuse(Outcome.UNREADABLE, f"{len(senders)} From addresses")
    sender = senders[0]
    if company is None:
        return _refuse(
            Outcome.UNKNOWN_ADDRESS, "no company has this deposit address", sender=sender
        )
    if not auto.startswith("no"):
        log.info("mailbox: automatic message (%s) for %s dropped", auto, company.public_id)
        return MailboxResult(Outcome.IGNORED, f"Auto-Submitted: {auto}", company, sender)
    user = depositor(company, sender)
    if user is None:
        return _refuse(
            Outcome.SENDER_REFUSED,
            f"{sender} is not a member of {company.public_id} with the deposit module",
            company=company,
            sender=sender,
        )
    if not sender_authenticated(message):
        return _refuse(
            Outcome.SENDER_REFUSED,
            f"{sender}: no dmarc=pass from the configured authentication server",
            company=company,
            sender=sender,
        )
    return _deposit_all(message, company, user, sender, subject)


def _deposit_all(
    message: EmailMessage, company: Company, user: PortalUser, sender: str, subject: str
) -> MailboxResult:
    result = MailboxResult(Outcome.ACCEPTED, "", company, sender)
    deposit_type = deposit_type_for(company, subject)
    files = attachments(message)
    to_process: list[int] = []
    for index, (name, part) in enumerate(files):
        if index >= MAX_ATTACHMENTS:
            result.refused.append(
                f"« {name} » n'est pas déposé : {MAX_ATTACHMENTS} pièces jointes au plus par "
                "message."
            )
            continue
        if deposit_type is None:
            result.refused.append(f"« {name} » n'est pas déposé : le cabinet n'a aucun type.")
            continue
        try:
            sentence, pending = _deposit_part(
                company, deposit_type, user, name, part, subject[:MAX_COMMENT]
            )
        except DepositRefused as refused:
            result.refused.append(refused.message)
            continue
        result.accepted.append(sentence)
        if pending is not None:
            to_process.append(pending)
    log.info(
        "mailbox: %s for %s: %d deposited, %d refused",
        sender,
        company.public_id,
        len(result.accepted),
        len(result.refused),
    )
    if result.accepted:
        summary = f"{len(result.accepted)} document(s) déposé(s)"
    else:
        summary = "aucun document déposé"
    with mail_context() as outside_a_request:
        mail.queue(
            sender,
            f"Votre envoi à {company.name} : {summary}",
            "deposit_confirmation",
            company=company,
            user=user,
            deposit_type=deposit_type,
            subject_sent=subject,
            accepted=result.accepted,
            refused=result.refused,
            no_attachment=not files,
            link=portal_url("deposits.index", company_id=company.public_id),
        )
        db.session.commit()
        if outside_a_request:
            for deposit_id in to_process:  # the pipe waits: no location left on a photo
                jobs.process_deposit(deposit_id)
            mail.deliver_pending(limit=10)
        else:
            jobs.schedule(to_process)
    return result


@click.group("mailbox")
def mailbox_cli() -> None:
    """The companies' deposit addresses."""


@mailbox_cli.command("receive")
@click.option(
    "--recipient",
    default=None,
    help="Envelope recipient, as the mail server gives it (Postfix pipe: ${recipient}).",
)
@with_appcontext
@click.pass_context
def receive_command(context: click.Context, recipient: str | None) -> None:
    """Read one message on stdin and deposit its attachments (exit 0 taken, 65 unreadable,
    67 unknown address, 77 sender not allowed)."""
    raw = sys.stdin.buffer.read(max_message_bytes() + 1)
    result = receive_message(raw, recipient=recipient)
    if result.outcome is Outcome.ACCEPTED:
        click.echo(f"{len(result.accepted)} document(s) déposé(s), {len(result.refused)} refusé(s)")
    else:
        click.echo(f"{result.outcome.value}: {result.reason}", err=True)
    context.exit(result.exit_code)
