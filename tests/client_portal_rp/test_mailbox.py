"""The company's deposit address: real MIME messages (email.message.EmailMessage) given to
receive_message and to `portal mailbox receive` on stdin, as a mail server's pipe would; the
attachments become deposits (source email) only from a member with the deposit module, the
sender gets one confirmation, strangers and unknown addresses get nothing (no backscatter)."""

from __future__ import annotations

import secrets
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from client_portal_rp.deposits.mailbox import (
    Outcome,
    attachments,
    mailbox_address,
    parse,
    receive_command,
    receive_message,
)
from client_portal_rp.extensions import db
from client_portal_rp.models import AuditEvent, Company, Deposit, Module, PortalUser
from tests.client_portal_rp.conftest import (
    make_company,
    make_firm,
    make_member,
    make_staff,
    make_user,
    sign_in,
)
from tests.helpers import Inbox


def a_pdf() -> bytes:
    return b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n% " + secrets.token_hex(8).encode()


def a_message(
    to: str,
    sender: str = "claire@client.test",
    subject: str = "Facture EDF mars",
    files: list[tuple[str, bytes, str]] | None = None,
    **headers: str,
) -> bytes:
    message = EmailMessage()
    message["From"] = f"Claire Martin <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Bonjour, voici la facture.\n")
    message.add_alternative("<p>Bonjour, voici la <b>facture</b>.</p>", subtype="html")
    for filename, data, mime in (
        [("facture.pdf", a_pdf(), "application/pdf")] if files is None else files
    ):
        maintype, subtype = mime.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def depositor_company(email: str = "claire@client.test") -> tuple[Company, PortalUser]:
    company = make_company(make_firm())
    user = make_member(company, make_user(email=email), modules={Module.DEPOSIT})
    return company, user


def deposits_of(company: Company) -> list[Deposit]:
    return list(
        db.session.scalars(
            select(Deposit).where(Deposit.company_id == company.id).order_by(Deposit.id)
        )
    )


def test_a_pdf_mailed_to_the_address_becomes_an_email_deposit_and_is_confirmed(
    portal_app: Flask, portal_smtp: Inbox
) -> None:
    company, user = depositor_company()
    raw = a_message(f"Dépôt <{mailbox_address(company)}>", sender="Claire@Client.TEST")

    result = receive_message(raw)

    assert result.outcome is Outcome.ACCEPTED and result.exit_code == 0
    [deposit] = deposits_of(company)
    assert deposit.source == "email"
    assert deposit.filename == "facture.pdf"
    assert deposit.kind == "pdf"
    assert deposit.uploaded_by_id == user.id
    assert deposit.deposit_type.code == "achats"
    assert deposit.comment == "Facture EDF mars"
    audit = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "deposit.created")
    ).one()
    assert audit.details["source"] == "email"
    [confirmation] = portal_smtp.messages
    assert str(confirmation["To"]) == "claire@client.test"
    text = portal_smtp.text_of(confirmation)
    assert "« facture.pdf » est déposé." in text
    assert f"http://portal.test/entreprises/{company.public_id}/depots" in text


def test_the_pdf_is_stored_byte_for_byte_and_staff_open_it_from_the_inbox(
    portal_app: Flask, portal_client: FlaskClient, portal_smtp: Inbox
) -> None:
    company, _ = depositor_company()
    pdf = a_pdf()
    receive_message(a_message(mailbox_address(company), files=[("f.pdf", pdf, "application/pdf")]))
    sign_in(portal_client, portal_app, make_staff(company.firm))
    page = portal_client.get(f"/cabinet/{company.firm.public_id}/depots").get_data(as_text=True)
    assert "par e-mail" in page
    [deposit] = deposits_of(company)
    link = f"/entreprises/{company.public_id}/depots/{deposit.public_id}/fichier"
    assert f'href="{link}"' in page
    assert portal_client.get(link).data == pdf


def test_a_type_named_in_the_subject_is_used(portal_app: Flask, portal_smtp: Inbox) -> None:
    company, _ = depositor_company()
    receive_message(a_message(mailbox_address(company), subject="[Ventes] facture client 12"))
    [deposit] = deposits_of(company)
    assert deposit.deposit_type.code == "ventes"
    assert deposit.comment == "[Ventes] facture client 12"


def test_an_unknown_address_is_ex_nouser_and_nothing_is_sent(
    portal_app: Flask, portal_smtp: Inbox
) -> None:
    company, _ = depositor_company()
    domain = portal_app.config["PORTAL_MAILBOX_DOMAIN"]
    result = receive_message(a_message(f"0000000000000000@{domain}"))
    assert result.outcome is Outcome.UNKNOWN_ADDRESS and result.exit_code == 67
    # The right token at another domain is not our address either.
    result = receive_message(a_message(f"{company.mailbox_token}@evil.example"))
    assert result.exit_code == 67
    assert deposits_of(company) == []
    assert portal_smtp.messages == []


@pytest.mark.parametrize(
    "who",
    ["stranger", "member_without_deposit", "member_of_another_company", "firm_staff"],
)
def test_a_sender_not_allowed_is_ex_noperm_without_reply(
    portal_app: Flask, portal_smtp: Inbox, who: str
) -> None:
    company, _ = depositor_company()
    email = "intrus@ailleurs.test"
    if who == "member_without_deposit":
        make_member(company, make_user(email=email), modules={Module.COMPTA, Module.ARCHIVES})
    elif who == "member_of_another_company":
        make_member(make_company(company.firm, "Autre"), make_user(email=email))
    elif who == "firm_staff":
        make_staff(company.firm, make_user(email=email))
    result = receive_message(a_message(mailbox_address(company), sender=email))
    assert result.outcome is Outcome.SENDER_REFUSED and result.exit_code == 77
    assert deposits_of(company) == []
    assert portal_smtp.messages == []  # no bounce to a possibly forged sender


def test_hostile_attachment_names_are_stored_safely(portal_app: Flask, portal_smtp: Inbox) -> None:
    company, _ = depositor_company()
    files = [
        ("../../etc/passwd.pdf", a_pdf(), "application/pdf"),
        ("fact\u202eurefdp.exe\x00.pdf", a_pdf(), "application/pdf"),
        ("a" * 400 + ".pdf", a_pdf(), "application/pdf"),
    ]
    result = receive_message(a_message(mailbox_address(company), files=files))
    assert result.exit_code == 0
    names = [deposit.filename for deposit in deposits_of(company)]
    assert names[0] == "passwd.pdf"
    assert "\u202e" not in names[1] and "\x00" not in names[1] and "/" not in names[1]
    assert len(names[2]) <= 150 and names[2].endswith(".pdf")


def test_refused_attachments_are_listed_in_the_confirmation(
    portal_app: Flask, portal_smtp: Inbox
) -> None:
    company, _ = depositor_company()
    portal_app.config["PORTAL_MAX_UPLOAD_BYTES"], old = (
        2000,
        portal_app.config["PORTAL_MAX_UPLOAD_BYTES"],
    )
    try:
        files = [
            ("bon.pdf", a_pdf(), "application/pdf"),
            ("page.html", b"<!doctype html><script>alert(1)</script>", "text/html"),
            ("enorme.pdf", b"%PDF-1.4\n" + b"0" * 3000, "application/pdf"),
        ]
        result = receive_message(a_message(mailbox_address(company), files=files))
    finally:
        portal_app.config["PORTAL_MAX_UPLOAD_BYTES"] = old
    assert result.exit_code == 0
    assert [d.filename for d in deposits_of(company)] == ["bon.pdf"]
    assert len(result.refused) == 2
    text = portal_smtp.text_of(portal_smtp.messages[0])
    assert "« bon.pdf » est déposé." in text
    assert "« page.html » n'est pas un fichier accepté" in text
    assert "« enorme.pdf » dépasse la taille autorisée" in text


def test_a_message_without_attachment_is_answered_so(portal_app: Flask, portal_smtp: Inbox) -> None:
    company, _ = depositor_company()
    result = receive_message(a_message(mailbox_address(company), files=[]))
    assert result.exit_code == 0 and deposits_of(company) == []
    assert "aucune pièce jointe" in portal_smtp.text_of(portal_smtp.messages[0])


def test_the_envelope_recipient_wins_over_the_to_header(
    portal_app: Flask, portal_smtp: Inbox
) -> None:
    company, _ = depositor_company()
    result = receive_message(
        a_message("undisclosed-recipients:;"), recipient=mailbox_address(company).upper()
    )
    assert result.exit_code == 0
    assert len(deposits_of(company)) == 1


def test_an_auto_reply_is_dropped_without_answer(portal_app: Flask, portal_smtp: Inbox) -> None:
    company, _ = depositor_company()
    result = receive_message(a_message(mailbox_address(company), Auto_Submitted="auto-replied"))
    assert result.outcome is Outcome.IGNORED and result.exit_code == 0
    assert deposits_of(company) == [] and portal_smtp.messages == []


def test_dmarc_is_required_when_an_authentication_server_is_named(
    portal_app: Flask, portal_smtp: Inbox
) -> None:
    company, _ = depositor_company()
    portal_app.config["PORTAL_MAILBOX_AUTHSERV_ID"] = "mx.cabinet.test"
    try:
        forged = a_message(
            mailbox_address(company),
            Authentication_Results="mx.evil.test; dmarc=pass header.from=client.test",
        )
        assert receive_message(forged).exit_code == 77
        failed = a_message(
            mailbox_address(company),
            Authentication_Results="mx.cabinet.test; dmarc=fail header.from=client.test",
        )
        assert receive_message(failed).exit_code == 77
        passed = a_message(
            mailbox_address(company),
            Authentication_Results="mx.cabinet.test; spf=pass; dmarc=pass header.from=client.test",
        )
        assert receive_message(passed).exit_code == 0
    finally:
        del portal_app.config["PORTAL_MAILBOX_AUTHSERV_ID"]
    assert len(deposits_of(company)) == 1


@pytest.mark.parametrize("raw", [b"", b"   \n", b"\x00\xff garbage without headers"])
def test_an_unreadable_message_is_ex_dataerr(portal_app: Flask, raw: bytes) -> None:
    assert receive_message(raw).exit_code == 65


def test_an_image_embedded_in_the_html_body_is_not_an_attachment(portal_app: Flask) -> None:
    message = EmailMessage()
    message["From"] = "claire@client.test"
    message.set_content("texte")
    message.add_alternative('<p><img src="cid:logo"></p>', subtype="html")
    html = message.get_payload()[1]  # type: ignore[index]
    assert isinstance(html, EmailMessage)
    html.add_related(b"\x89PNG\r\n\x1a\n", maintype="image", subtype="png", cid="<logo>")
    message.add_attachment(a_pdf(), maintype="application", subtype="pdf", filename="f.pdf")
    parsed = parse(message.as_bytes())
    assert parsed is not None
    assert [name for name, _ in attachments(parsed)] == ["f.pdf"]


# --- the command, as a mail server's pipe runs it ---------------------------------------------


def test_portal_mailbox_receive_reads_stdin_and_exits_like_sysexits(
    portal_app: Flask, portal_smtp: Inbox
) -> None:
    company, _ = depositor_company()
    runner = portal_app.test_cli_runner()
    taken = runner.invoke(receive_command, input=a_message(mailbox_address(company)))
    assert taken.exit_code == 0, taken.output
    assert "1 document(s) déposé(s)" in taken.output
    assert len(deposits_of(company)) == 1
    domain = portal_app.config["PORTAL_MAILBOX_DOMAIN"]
    assert runner.invoke(receive_command, input=a_message(f"nobody@{domain}")).exit_code == 67
    stranger = a_message(mailbox_address(company), sender="x@evil.test")
    assert runner.invoke(receive_command, input=stranger).exit_code == 77
    assert runner.invoke(receive_command, input=b"").exit_code == 65
    with_envelope = runner.invoke(
        receive_command,
        ["--recipient", mailbox_address(company)],
        input=a_message("someone@else.test"),
    )
    assert with_envelope.exit_code == 0
    assert len(deposits_of(company)) == 2
