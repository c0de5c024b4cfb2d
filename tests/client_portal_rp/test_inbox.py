"""The firm's inbox (/cabinet/<firm_id>/depots): deposits across the firm's companies, filters,
pagination, and take / mark processed / annotate, each audited; staff of another firm and the
firm's clients get 404 on every URL (SECURITY.md 46)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from client_portal_rp.extensions import db
from client_portal_rp.models import (
    AuditEvent,
    Company,
    Deposit,
    DepositStatus,
    DepositType,
    PortalUser,
)
from tests.client_portal_rp.conftest import (
    make_company,
    make_firm,
    make_member,
    make_staff,
    make_user,
    sign_in,
)


def make_deposit(
    company: Company,
    filename: str = "facture.pdf",
    *,
    code: str = "achats",
    uploader: PortalUser | None = None,
    created_at: datetime | None = None,
    **fields: object,
) -> Deposit:
    deposit_type = db.session.scalar(
        select(DepositType).where(DepositType.firm_id == company.firm_id, DepositType.code == code)
    )
    assert deposit_type is not None
    deposit = Deposit(
        company_id=company.id,
        deposit_type_id=deposit_type.id,
        uploaded_by_id=uploader.id if uploader else None,
        filename=filename,
        kind="pdf",
        size=12_345,
        sha256="a" * 64,
        blob_sha256="a" * 64,
        created_at=created_at or datetime.now(UTC),
        **fields,
    )
    db.session.add(deposit)
    db.session.commit()
    return deposit


def csrf(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def inbox_url(firm_public_id: str) -> str:
    return f"/cabinet/{firm_public_id}/depots"


def test_inbox_lists_the_firms_deposits_newest_first_and_no_other_firms(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm, other_firm = make_firm(), make_firm("Cabinet Autre")
    bakery, garage = make_company(firm, "Boulangerie"), make_company(firm, "Garage")
    elsewhere = make_company(other_firm, "Ailleurs")
    client = make_member(bakery, make_user(name="Claire Client"))
    now = datetime.now(UTC)
    make_deposit(bakery, "ancien.pdf", created_at=now - timedelta(days=2), uploader=client)
    make_deposit(
        garage,
        "recent.pdf",
        created_at=now,
        comment="Facture du garage",
        code="ventes",
    )
    make_deposit(elsewhere, "secret-autre-cabinet.pdf")
    sign_in(portal_client, portal_app, make_staff(firm))

    page = portal_client.get(inbox_url(firm.public_id))

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "secret-autre-cabinet.pdf" not in text
    assert text.index("recent.pdf") < text.index("ancien.pdf")
    assert "Boulangerie" in text and "Garage" in text
    assert "Facture du garage" in text
    assert "Claire Client" in text
    assert "Factures ventes" in text
    assert "12,3\u00a0ko" in text


def test_inbox_filters_by_company_type_status_and_dates(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    bakery, garage = make_company(firm, "Boulangerie"), make_company(firm, "Garage")
    now = datetime.now(UTC)
    make_deposit(bakery, "achat-boulangerie.pdf", created_at=now - timedelta(days=40))
    make_deposit(bakery, "vente-boulangerie.pdf", code="ventes", created_at=now)
    make_deposit(garage, "achat-garage.pdf", status=DepositStatus.PROCESSED.value)
    sign_in(portal_client, portal_app, make_staff(firm))
    url = inbox_url(firm.public_id)

    def names(query: str) -> set[str]:
        text = portal_client.get(f"{url}?{query}").get_data(as_text=True)
        return set(re.findall(r"[a-z]+-[a-z]+\.pdf", text))

    assert names(f"entreprise={bakery.public_id}") == {
        "achat-boulangerie.pdf",
        "vente-boulangerie.pdf",
    }
    assert names("type=ventes") == {"vente-boulangerie.pdf"}
    assert names("statut=traite") == {"achat-garage.pdf"}
    assert names("statut=depose&type=achats") == {"achat-boulangerie.pdf"}
    since = (now - timedelta(days=10)).date().isoformat()
    assert names(f"du={since}") == {"vente-boulangerie.pdf", "achat-garage.pdf"}
    until = (now - timedelta(days=30)).date().isoformat()
    assert names(f"au={until}") == {"achat-boulangerie.pdf"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("du=31-12-2024", "n&#39;est pas une date valable"),
        ("statut=perdu", "Ce statut n&#39;existe pas"),
        ("type=inconnu", "Ce type de document n&#39;existe pas"),
        ("du=2025-02-01&au=2025-01-01", "la période est vide"),
    ],
)
def test_inbox_explains_a_wrong_filter_in_french(
    portal_app: Flask, portal_client: FlaskClient, query: str, message: str
) -> None:
    firm = make_firm()
    sign_in(portal_client, portal_app, make_staff(firm))
    page = portal_client.get(f"{inbox_url(firm.public_id)}?{query}")
    assert page.status_code == 400
    assert message in page.get_data(as_text=True)


def test_inbox_filter_on_another_firms_company_shows_nothing_of_it(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm, other_firm = make_firm(), make_firm("Cabinet Autre")
    make_deposit(make_company(firm, "Mine"), "mine.pdf")
    elsewhere = make_company(other_firm, "Ailleurs")
    make_deposit(elsewhere, "theirs.pdf")
    sign_in(portal_client, portal_app, make_staff(firm))
    page = portal_client.get(f"{inbox_url(firm.public_id)}?entreprise={elsewhere.public_id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "theirs.pdf" not in text
    assert "n&#39;est pas un client du cabinet" in text


def test_inbox_pages_by_fifty_keeping_the_filter(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    company = make_company(firm)
    now = datetime.now(UTC)
    for n in range(55):
        make_deposit(company, f"piece-{n:03d}.pdf", created_at=now - timedelta(minutes=n))
    sign_in(portal_client, portal_app, make_staff(firm))
    url = f"{inbox_url(firm.public_id)}?type=achats"

    first = portal_client.get(url).get_data(as_text=True)
    assert len(re.findall(r'id="depot-', first)) == 50
    assert "piece-000.pdf" in first and "piece-054.pdf" not in first
    assert "Page 1 sur 2" in first
    next_link = re.search(r'rel="next" href="([^"]+)"', first)
    assert next_link
    second_url = next_link.group(1).replace("&amp;", "&")
    assert "type=achats" in second_url and "page=2" in second_url
    second = portal_client.get(second_url).get_data(as_text=True)
    assert len(re.findall(r'id="depot-', second)) == 5
    assert "piece-054.pdf" in second


def test_duplicate_badge(portal_app: Flask, portal_client: FlaskClient) -> None:
    firm = make_firm()
    company = make_company(firm)
    first = make_deposit(company, "original.pdf")
    make_deposit(company, "copie.pdf", duplicate_of_id=first.id)
    sign_in(portal_client, portal_app, make_staff(firm))
    text = portal_client.get(inbox_url(firm.public_id)).get_data(as_text=True)
    assert text.count("Doublon probable") == 1
    row = text[text.index("copie.pdf") - 600 : text.index("copie.pdf") + 600]
    assert "Doublon probable" in row


def audit_actions(company: Company) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.company_id == company.id)
            .order_by(AuditEvent.id)
        )
    )


def test_take_then_mark_processed_changes_status_and_audits(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    company = make_company(firm)
    deposit = make_deposit(company)
    staff = make_staff(firm)
    sign_in(portal_client, portal_app, staff)
    url = inbox_url(firm.public_id)
    token = csrf(portal_client, url)
    before = datetime.now(UTC)

    response = portal_client.post(
        f"{url}/{deposit.public_id}/prendre",
        data={"csrf_token": token, "next": f"{url}?statut=depose"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"{url}?statut=depose"
    db.session.refresh(deposit)
    assert deposit.status == DepositStatus.TAKEN.value
    assert deposit.taken_by_id == staff.id
    assert deposit.status_changed_at is not None and deposit.status_changed_at >= before
    page = portal_client.get(url).get_data(as_text=True)
    assert "est pris en charge" in page
    assert "Paul Comptable" in page

    response = portal_client.post(f"{url}/{deposit.public_id}/traiter", data={"csrf_token": token})
    assert response.status_code == 303
    db.session.refresh(deposit)
    assert deposit.status == DepositStatus.PROCESSED.value
    assert audit_actions(company)[-2:] == ["deposit.taken", "deposit.processed"]
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "deposit.processed")
    ).one()
    assert event.actor_id == staff.id and event.details["deposit"] == deposit.public_id


def test_taking_a_deposit_already_taken_says_by_whom_and_changes_nothing(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    company = make_company(firm)
    colleague = make_staff(firm, make_user(name="Anne Collègue"))
    deposit = make_deposit(company, status=DepositStatus.TAKEN.value, taken_by_id=colleague.id)
    sign_in(portal_client, portal_app, make_staff(firm))
    url = inbox_url(firm.public_id)
    token = csrf(portal_client, url)

    response = portal_client.post(
        f"{url}/{deposit.public_id}/prendre", data={"csrf_token": token}, follow_redirects=True
    )
    assert "déjà pris en charge par Anne Collègue" in response.get_data(as_text=True)
    db.session.refresh(deposit)
    assert deposit.taken_by_id == colleague.id
    assert "deposit.taken" not in audit_actions(company)


def test_processing_twice_is_refused_once_audited(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    company = make_company(firm)
    deposit = make_deposit(company)
    sign_in(portal_client, portal_app, make_staff(firm))
    url = inbox_url(firm.public_id)
    token = csrf(portal_client, url)
    portal_client.post(f"{url}/{deposit.public_id}/traiter", data={"csrf_token": token})
    again = portal_client.post(
        f"{url}/{deposit.public_id}/traiter", data={"csrf_token": token}, follow_redirects=True
    )
    assert "est déjà traité" in again.get_data(as_text=True)
    assert audit_actions(company).count("deposit.processed") == 1


def test_annotate_stores_the_note_the_form_says_the_client_sees_it(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    company = make_company(firm)
    deposit = make_deposit(company)
    sign_in(portal_client, portal_app, make_staff(firm))
    url = inbox_url(firm.public_id)
    page = portal_client.get(url).get_data(as_text=True)
    assert "Le client voit cette note" in page
    token = csrf(portal_client, url)

    response = portal_client.post(
        f"{url}/{deposit.public_id}/note",
        data={"csrf_token": token, "note": "  Il manque la page 2 <b>svp</b>  "},
    )
    assert response.status_code == 303
    db.session.refresh(deposit)
    assert deposit.firm_note == "Il manque la page 2 <b>svp</b>"
    assert "deposit.annotated" in audit_actions(company)
    shown = portal_client.get(url).get_data(as_text=True)
    assert "Il manque la page 2 &lt;b&gt;svp&lt;/b&gt;" in shown


def test_a_note_too_long_is_refused_with_the_text_kept(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    company = make_company(firm)
    deposit = make_deposit(company)
    sign_in(portal_client, portal_app, make_staff(firm))
    url = inbox_url(firm.public_id)
    token = csrf(portal_client, url)
    long_note = "x" * 2001
    response = portal_client.post(
        f"{url}/{deposit.public_id}/note",
        data={"csrf_token": token, "note": long_note, "next": f"{url}?type=achats"},
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "2000 caractères au plus" in text
    assert long_note in text
    db.session.refresh(deposit)
    assert deposit.firm_note == ""
    assert "deposit.annotated" not in audit_actions(company)


def test_actions_need_the_csrf_token(portal_app: Flask, portal_client: FlaskClient) -> None:
    firm = make_firm()
    deposit = make_deposit(make_company(firm))
    sign_in(portal_client, portal_app, make_staff(firm))
    url = inbox_url(firm.public_id)
    for action in ("prendre", "traiter", "note"):
        response = portal_client.post(f"{url}/{deposit.public_id}/{action}", data={"note": "x"})
        assert response.status_code == 400
    db.session.refresh(deposit)
    assert deposit.status == DepositStatus.DEPOSITED.value and deposit.firm_note == ""


def test_a_foreign_next_is_not_followed(portal_app: Flask, portal_client: FlaskClient) -> None:
    firm = make_firm()
    deposit = make_deposit(make_company(firm))
    sign_in(portal_client, portal_app, make_staff(firm))
    url = inbox_url(firm.public_id)
    token = csrf(portal_client, url)
    response = portal_client.post(
        f"{url}/{deposit.public_id}/prendre",
        data={"csrf_token": token, "next": "//evil.example/"},
    )
    assert response.headers["Location"] == url


# --- isolation: every URL, two firms, a client of the firm ----------------------------------


def _urls(firm_public_id: str, deposit_public_id: str) -> list[tuple[str, str]]:
    base = inbox_url(firm_public_id)
    return [
        ("GET", base),
        ("POST", f"{base}/{deposit_public_id}/prendre"),
        ("POST", f"{base}/{deposit_public_id}/traiter"),
        ("POST", f"{base}/{deposit_public_id}/note"),
    ]


def test_staff_of_another_firm_gets_404_on_every_inbox_url(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm, other_firm = make_firm(), make_firm("Cabinet Autre")
    deposit = make_deposit(make_company(firm))
    other_staff = make_staff(other_firm)
    sign_in(portal_client, portal_app, other_staff)
    token = csrf(portal_client, inbox_url(other_firm.public_id))
    for method, url in _urls(firm.public_id, deposit.public_id):
        response = portal_client.open(url, method=method, data={"csrf_token": token, "note": "x"})
        assert response.status_code == 404, url
    # Through their own firm's URL, the other firm's deposit is not found either.
    for method, url in _urls(other_firm.public_id, deposit.public_id)[1:]:
        response = portal_client.open(url, method=method, data={"csrf_token": token, "note": "x"})
        assert response.status_code == 404, url
    db.session.refresh(deposit)
    assert deposit.status == DepositStatus.DEPOSITED.value and deposit.firm_note == ""


def test_a_client_of_the_firm_gets_404_on_every_inbox_url(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    company = make_company(firm)
    deposit = make_deposit(company)
    member = make_member(company)
    sign_in(portal_client, portal_app, member)
    token = csrf(portal_client, f"/entreprises/{company.public_id}/")
    for method, url in _urls(firm.public_id, deposit.public_id):
        response = portal_client.open(url, method=method, data={"csrf_token": token, "note": "x"})
        assert response.status_code == 404, url


def test_unknown_firm_or_deposit_is_404(portal_app: Flask, portal_client: FlaskClient) -> None:
    firm = make_firm()
    sign_in(portal_client, portal_app, make_staff(firm))
    token = csrf(portal_client, inbox_url(firm.public_id))
    assert portal_client.get(inbox_url("nope")).status_code == 404
    response = portal_client.post(
        f"{inbox_url(firm.public_id)}/{'x' * 100}/prendre", data={"csrf_token": token}
    )
    assert response.status_code == 404


def test_the_inbox_needs_a_login(portal_app: Flask, portal_client: FlaskClient) -> None:
    firm = make_firm()
    response = portal_client.get(inbox_url(firm.public_id))
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=")
