"""Missing-piece requests: staff ask a company for a document (row, audit, email to the members
with the deposit module), list and close them; the monthly reminder is sent once per month
whatever the number of runs; every URL is 404 for another firm's staff and for clients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from client_portal_rp.deposits.requests import (
    RequestRefused,
    create_request,
    remind_command,
    send_reminders,
)
from client_portal_rp.extensions import db
from client_portal_rp.models import AuditEvent, Company, Module, PieceRequest, PortalUser
from tests.client_portal_rp.conftest import (
    make_company,
    make_firm,
    make_member,
    make_staff,
    make_user,
    sign_in,
)
from tests.client_portal_rp.test_inbox import csrf
from tests.helpers import Inbox


def requests_url(firm_public_id: str, company_public_id: str) -> str:
    return f"/cabinet/{firm_public_id}/entreprises/{company_public_id}/demandes"


def actions(company: Company) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.company_id == company.id)
            .order_by(AuditEvent.id)
        )
    )


def test_staff_ask_for_a_piece_the_depositors_get_an_email_with_the_link(
    portal_app: Flask, portal_client: FlaskClient, portal_smtp: Inbox
) -> None:
    firm = make_firm()
    company = make_company(firm, "Boulangerie Martin")
    depositor = make_member(company, make_user(email="Claire@Client.test"))
    make_member(company, make_user(email="compta-only@client.test"), modules={Module.COMPTA})
    make_member(make_company(firm, "Autre client"), make_user(email="other@client.test"))
    staff = make_staff(firm)
    sign_in(portal_client, portal_app, staff)
    url = requests_url(firm.public_id, company.public_id)
    token = csrf(portal_client, url)

    response = portal_client.post(
        url, data={"csrf_token": token, "message": "Le relevé bancaire de mars <2024>"}
    )

    assert response.status_code == 303
    piece_request = db.session.scalars(select(PieceRequest)).one()
    assert piece_request.company_id == company.id
    assert piece_request.asked_by_id == staff.id
    assert piece_request.message == "Le relevé bancaire de mars <2024>"
    assert "request.created" in actions(company)
    assert [str(m["To"]) for m in portal_smtp.messages] == ["claire@client.test"]
    message = portal_smtp.messages[0]
    assert firm.name in str(message["Subject"])
    text = portal_smtp.text_of(message)
    assert "Le relevé bancaire de mars <2024>" in text
    assert f"http://portal.test/entreprises/{company.public_id}/depots" in text
    html = message.get_body(("html",))
    assert html is not None and "&lt;2024&gt;" in str(html.get_content())
    page = portal_client.get(url).get_data(as_text=True)
    assert "envoyée à 1 personne(s)" in page
    assert "Le relevé bancaire de mars &lt;2024&gt;" in page
    assert "En attente" in page
    assert depositor.email.lower() in page  # recipients are named on the form


@pytest.mark.parametrize(
    ("message", "error"),
    [("   ", "Décrivez la pièce demandée."), ("x" * 2001, "2000 caractères au plus")],
)
def test_an_empty_or_too_long_request_is_refused_in_french(
    portal_app: Flask, portal_client: FlaskClient, portal_smtp: Inbox, message: str, error: str
) -> None:
    firm = make_firm()
    company = make_company(firm)
    make_member(company)
    sign_in(portal_client, portal_app, make_staff(firm))
    url = requests_url(firm.public_id, company.public_id)
    token = csrf(portal_client, url)
    response = portal_client.post(url, data={"csrf_token": token, "message": message})
    assert response.status_code == 422
    assert error in response.get_data(as_text=True)
    assert db.session.scalars(select(PieceRequest)).all() == []
    assert portal_smtp.messages == []


def test_a_request_to_a_company_without_depositors_warns_and_sends_nothing(
    portal_app: Flask, portal_client: FlaskClient, portal_smtp: Inbox
) -> None:
    firm = make_firm()
    company = make_company(firm)
    make_member(company, modules={Module.ARCHIVES})
    sign_in(portal_client, portal_app, make_staff(firm))
    url = requests_url(firm.public_id, company.public_id)
    page = portal_client.get(url).get_data(as_text=True)
    assert "ne partira pas par e-mail" in page
    token = csrf(portal_client, url)
    response = portal_client.post(
        url, data={"csrf_token": token, "message": "Le bail"}, follow_redirects=True
    )
    assert "elle ne part pas par e-mail" in response.get_data(as_text=True)
    assert db.session.scalars(select(PieceRequest)).one().message == "Le bail"
    assert portal_smtp.messages == []


def test_close_a_request_and_answered_ones_show_as_such(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    company = make_company(firm)
    staff = make_staff(firm)
    open_one = PieceRequest(company_id=company.id, asked_by_id=staff.id, message="Facture EDF")
    answered = PieceRequest(
        company_id=company.id,
        asked_by_id=staff.id,
        message="Contrat de prêt",
        answered_at=datetime.now(UTC),
    )
    db.session.add_all([open_one, answered])
    db.session.commit()
    sign_in(portal_client, portal_app, staff)
    url = requests_url(firm.public_id, company.public_id)
    page = portal_client.get(url).get_data(as_text=True)
    assert "Répondue le" in page and "En attente" in page
    token = csrf(portal_client, url)

    response = portal_client.post(
        f"{url}/{open_one.public_id}/clore", data={"csrf_token": token}, follow_redirects=True
    )
    text = response.get_data(as_text=True)
    assert "La demande est close" in text
    assert "Close le" in text
    db.session.refresh(open_one)
    assert open_one.closed_at is not None
    assert "request.closed" in actions(company)
    again = portal_client.post(
        f"{url}/{open_one.public_id}/clore", data={"csrf_token": token}, follow_redirects=True
    )
    assert "déjà close" in again.get_data(as_text=True)
    assert actions(company).count("request.closed") == 1


def test_the_firms_company_page_shows_the_deposit_address(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    company = make_company(firm)
    sign_in(portal_client, portal_app, make_staff(firm))
    page = portal_client.get(requests_url(firm.public_id, company.public_id))
    domain = portal_app.config["PORTAL_MAILBOX_DOMAIN"]
    assert f"{company.mailbox_token}@{domain}" in page.get_data(as_text=True)


# --- the monthly reminder ---------------------------------------------------------------------


def _request(
    company: Company, staff: PortalUser, *, days_ago: int, **fields: object
) -> PieceRequest:
    piece_request = PieceRequest(
        company_id=company.id,
        asked_by_id=staff.id,
        message=f"Pièce d'il y a {days_ago} jours",
        created_at=datetime.now(UTC) - timedelta(days=days_ago),
        **fields,
    )
    db.session.add(piece_request)
    db.session.commit()
    return piece_request


def test_reminder_goes_once_a_month_to_open_requests_only(
    portal_app: Flask, portal_smtp: Inbox
) -> None:
    firm = make_firm()
    company = make_company(firm)
    make_member(company, make_user(email="claire@client.test"))
    make_member(company, make_user(email="paul@client.test"))
    staff = make_staff(firm)
    due = _request(company, staff, days_ago=31)
    _request(company, staff, days_ago=10)  # too recent
    _request(company, staff, days_ago=40, answered_at=datetime.now(UTC))
    _request(company, staff, days_ago=40, closed_at=datetime.now(UTC))
    _request(company, staff, days_ago=90, last_reminded_at=datetime.now(UTC) - timedelta(days=5))

    assert send_reminders() == 1
    assert sorted(str(m["To"]) for m in portal_smtp.messages) == [
        "claire@client.test",
        "paul@client.test",
    ]
    message = portal_smtp.messages[0]
    assert str(message["Subject"]).startswith("Rappel")
    text = portal_smtp.text_of(message)
    assert "Pièce d'il y a 31 jours" in text
    assert f"http://portal.test/entreprises/{company.public_id}/depots" in text
    db.session.refresh(due)
    assert due.last_reminded_at is not None

    # A second run the same day, or a week later, sends nothing more.
    assert send_reminders() == 0
    assert send_reminders(now=datetime.now(UTC) + timedelta(days=7)) == 0
    assert len(portal_smtp.messages) == 2
    # A month after the reminder, the next one goes; by then the 10-day-old request is 40 days
    # old and the one reminded 5 days ago was reminded 35 days ago: three requests, six emails.
    assert send_reminders(now=datetime.now(UTC) + timedelta(days=30, minutes=1)) == 3
    assert len(portal_smtp.messages) == 8


def test_the_remind_command_prints_how_many(portal_app: Flask, portal_smtp: Inbox) -> None:
    firm = make_firm()
    company = make_company(firm)
    make_member(company, make_user(email="claire@client.test"))
    _request(company, make_staff(firm), days_ago=45)
    runner = portal_app.test_cli_runner()
    result = runner.invoke(remind_command)
    assert result.exit_code == 0, result.output
    assert "1 demande(s) relancée(s)" in result.output
    assert len(portal_smtp.messages) == 1
    result = runner.invoke(remind_command)
    assert "0 demande(s) relancée(s)" in result.output
    assert len(portal_smtp.messages) == 1
    assert isinstance(runner, CliRunner)


def test_create_request_refuses_blank_text(portal_app: Flask) -> None:
    firm = make_firm()
    with pytest.raises(RequestRefused, match="Décrivez"):
        create_request(make_company(firm), " \n ", make_staff(firm))


# --- isolation ------------------------------------------------------------------------------


def _urls(
    firm_public_id: str, company_public_id: str, request_public_id: str
) -> list[tuple[str, str]]:
    base = requests_url(firm_public_id, company_public_id)
    return [("GET", base), ("POST", base), ("POST", f"{base}/{request_public_id}/clore")]


def test_staff_of_another_firm_get_404_on_every_request_url(
    portal_app: Flask, portal_client: FlaskClient, portal_smtp: Inbox
) -> None:
    firm, other_firm = make_firm(), make_firm("Cabinet Autre")
    company = make_company(firm)
    make_member(company)
    piece_request = _request(company, make_staff(firm), days_ago=1)
    sign_in(portal_client, portal_app, make_staff(other_firm))
    other_company = make_company(other_firm, "Leur client")
    token = csrf(portal_client, requests_url(other_firm.public_id, other_company.public_id))
    data = {"csrf_token": token, "message": "Donnez-moi tout"}
    for method, url in _urls(firm.public_id, company.public_id, piece_request.public_id):
        assert portal_client.open(url, method=method, data=data).status_code == 404, url
    # Their own firm in the URL, our company: still 404.
    for method, url in _urls(other_firm.public_id, company.public_id, piece_request.public_id):
        assert portal_client.open(url, method=method, data=data).status_code == 404, url
    # Their own company in the URL, our request: 404.
    theirs = requests_url(other_firm.public_id, other_company.public_id)
    close = f"{theirs}/{piece_request.public_id}/clore"
    assert portal_client.post(close, data=data).status_code == 404
    db.session.refresh(piece_request)
    assert piece_request.closed_at is None
    assert db.session.scalars(select(PieceRequest)).all() == [piece_request]
    assert portal_smtp.messages == []


def test_a_company_member_gets_404_on_every_request_url(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    company = make_company(firm)
    member = make_member(company)
    piece_request = _request(company, make_staff(firm), days_ago=1)
    sign_in(portal_client, portal_app, member)
    token = csrf(portal_client, f"/entreprises/{company.public_id}/")
    data = {"csrf_token": token, "message": "x"}
    for method, url in _urls(firm.public_id, company.public_id, piece_request.public_id):
        assert portal_client.open(url, method=method, data=data).status_code == 404, url


def test_a_request_answered_by_a_deposit_shows_answered_and_is_not_reminded(
    portal_app: Flask, portal_client: FlaskClient, portal_smtp: Inbox, tmp_path: Path
) -> None:
    import hashlib

    from client_portal_rp.deposits.services import deposit_file, deposit_type_of

    firm = make_firm()
    company = make_company(firm)
    member = make_member(company, make_user(email="claire@client.test"))
    staff = make_staff(firm)
    piece_request = _request(company, staff, days_ago=45)
    pdf = tmp_path / "releve.pdf"
    pdf.write_bytes(b"%PDF-1.4\nreleve de mars\n")
    deposit_type = deposit_type_of(company, "divers")
    assert deposit_type is not None
    deposit_file(
        company,
        deposit_type,
        path=pdf,
        filename="releve.pdf",
        size=pdf.stat().st_size,
        sha256=hashlib.sha256(pdf.read_bytes()).hexdigest(),
        uploaded_by=member,
        piece_request=piece_request,
    )
    db.session.commit()

    assert send_reminders() == 0
    assert portal_smtp.messages == []
    sign_in(portal_client, portal_app, staff)
    page = portal_client.get(requests_url(firm.public_id, company.public_id))
    assert "Répondue le" in page.get_data(as_text=True)
