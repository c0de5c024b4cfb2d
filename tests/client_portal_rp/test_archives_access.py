"""Who reaches « Accédez à vos archives », URL by URL (SECURITY.md 46-48, 51): another
company's user gets 404 on every archive URL, a user without the module 403, a password-only
login is sent to step-up, and a person's removal never removes a document."""

from __future__ import annotations

import io

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select

from client_portal_rp.extensions import db
from client_portal_rp.models import ArchiveDocument, Company, Membership, Module, Role
from tests.client_portal_rp.conftest import (
    make_company,
    make_firm,
    make_member,
    make_staff,
    sign_in,
)
from tests.client_portal_rp.test_archives import (
    archives_url,
    csrf_token,
    names_on,
    pdf_bytes,
    publish,
)


def every_url(company: Company, document: ArchiveDocument) -> list[tuple[str, str]]:
    """Every archive URL of `company` (method, path), the document's included."""
    one = f"/{document.public_id}"
    return [
        ("GET", archives_url(company)),
        ("GET", archives_url(company, "?q=bilan&dossier=fiscaux&exercice=2024")),
        ("GET", archives_url(company, "/publier")),
        ("POST", archives_url(company, "/publier")),
        ("GET", archives_url(company, one)),
        ("GET", archives_url(company, f"{one}/voir")),
        ("GET", archives_url(company, f"{one}/telecharger")),
        ("HEAD", archives_url(company, f"{one}/telecharger")),
    ]


def request(client: FlaskClient, method: str, url: str, token: str = "") -> int:
    if method == "POST":
        data = {
            "csrf_token": token,
            "folder": "comptables",
            "exercice": "2024",
            "documents": (io.BytesIO(pdf_bytes()), "intrus.pdf"),
        }
        return client.post(url, data=data, content_type="multipart/form-data").status_code
    return client.open(url, method=method).status_code


@pytest.fixture
def two_companies(portal_app: Flask) -> tuple[Company, Company, ArchiveDocument]:
    firm = make_firm()
    mine, theirs = make_company(firm, "Mine"), make_company(firm, "Theirs")
    return mine, theirs, publish(theirs, "bilan.pdf")


@pytest.mark.parametrize("role", [Role.USER, Role.ADMIN])
def test_another_companys_user_gets_404_on_every_archive_url(
    portal_app: Flask,
    portal_client: FlaskClient,
    two_companies: tuple[Company, Company, ArchiveDocument],
    role: Role,
) -> None:
    mine, theirs, document = two_companies
    sign_in(portal_client, portal_app, make_member(mine, role=role), advanced=True)
    token = csrf_token(portal_client, archives_url(mine))
    for method, url in every_url(theirs, document):
        assert request(portal_client, method, url, token) == 404, (method, url)
    # Their document under my company's URL is not found either (looked up with my company).
    mine_with_theirs = [
        (m, u.replace(theirs.public_id, mine.public_id)) for m, u in every_url(theirs, document)
    ]
    for method, url in mine_with_theirs[4:]:
        assert request(portal_client, method, url) == 404, (method, url)
    assert (
        db.session.scalar(select(ArchiveDocument).where(ArchiveDocument.company_id == mine.id))
        is None
    )


def test_another_firms_staff_gets_404_on_every_archive_url(
    portal_app: Flask,
    portal_client: FlaskClient,
    two_companies: tuple[Company, Company, ArchiveDocument],
) -> None:
    _, theirs, document = two_companies
    other_firm = make_firm("Cabinet Autre")
    own = make_company(other_firm, "Client de l'autre cabinet")
    sign_in(portal_client, portal_app, make_staff(other_firm), advanced=True)
    token = csrf_token(portal_client, archives_url(own, "/publier"))
    for method, url in every_url(theirs, document):
        assert request(portal_client, method, url, token) == 404, (method, url)
    assert len(db.session.scalars(select(ArchiveDocument)).all()) == 1


def test_without_the_archives_module_every_url_is_403(
    portal_app: Flask,
    portal_client: FlaskClient,
    two_companies: tuple[Company, Company, ArchiveDocument],
) -> None:
    _, theirs, document = two_companies
    user = make_member(theirs, role=Role.ADMIN, modules={Module.DEPOSIT, Module.COMPTA})
    sign_in(portal_client, portal_app, user, advanced=True)
    for method, url in every_url(theirs, document):
        assert request(portal_client, method, url) == 403, (method, url)
    page = portal_client.get(archives_url(theirs)).get_data(as_text=True)
    assert "Accédez à vos archives" in page


def test_a_password_only_login_is_sent_to_step_up_on_every_page(
    portal_app: Flask,
    portal_client: FlaskClient,
    two_companies: tuple[Company, Company, ArchiveDocument],
) -> None:
    _, theirs, document = two_companies
    sign_in(portal_client, portal_app, make_member(theirs), advanced=False)
    for method, url in every_url(theirs, document):
        if method == "POST":
            continue
        response = portal_client.open(url, method=method)
        assert response.status_code == 303, url
        location = response.headers["Location"]
        assert location.startswith("/login?") and "level=advanced" in location, url


def test_staff_with_a_password_only_login_cannot_publish(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    company = make_company(firm)
    sign_in(portal_client, portal_app, make_staff(firm), advanced=False)
    step_up = portal_client.get(archives_url(company, "/publier"))
    assert step_up.status_code == 303 and "level=advanced" in step_up.headers["Location"]
    token = csrf_token(portal_client, f"/entreprises/{company.public_id}/")
    assert request(portal_client, "POST", archives_url(company, "/publier"), token) == 403
    assert db.session.scalars(select(ArchiveDocument)).all() == []


def test_archives_not_marked_advanced_open_with_a_password_login(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = make_company(make_firm())
    company.advanced_modules = Module.COMPTA.value
    db.session.commit()
    document = publish(company, "bilan.pdf")
    sign_in(portal_client, portal_app, make_member(company), advanced=False)
    assert portal_client.get(archives_url(company)).status_code == 200
    assert (
        portal_client.get(archives_url(company, f"/{document.public_id}/voir")).status_code == 200
    )


def test_without_a_login_every_page_asks_to_log_in(
    portal_app: Flask,
    portal_client: FlaskClient,
    two_companies: tuple[Company, Company, ArchiveDocument],
) -> None:
    _, theirs, document = two_companies
    for method, url in every_url(theirs, document):
        if method == "POST":
            continue
        response = portal_client.open(url, method=method)
        assert response.status_code == 303, url
        assert response.headers["Location"].startswith("/login?next="), url


def test_removing_a_member_keeps_the_companys_documents(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    """SECURITY.md 51: the removed person loses access at once; the documents stay (10 years),
    for the other members and the firm."""
    firm = make_firm()
    company = make_company(firm)
    staff = make_staff(firm)
    leaving = make_member(company, role=Role.ADMIN)
    staying = make_member(company)
    document = publish(company, "bilan.pdf", by=staff)
    sign_in(portal_client, portal_app, leaving, advanced=True)
    assert names_on(portal_client, archives_url(company)) == ["bilan.pdf"]

    membership = db.session.scalars(
        select(Membership).where(Membership.user_id == leaving.id)
    ).one()
    db.session.delete(membership)
    db.session.commit()

    assert portal_client.get(archives_url(company)).status_code == 404
    voir = archives_url(company, f"/{document.public_id}/voir")
    assert portal_client.get(voir).status_code == 404
    assert db.session.get(ArchiveDocument, document.id) is not None
    other = portal_app.test_client()
    sign_in(other, portal_app, staying, advanced=True)
    # The test's app context is shared by its requests: forget the login cached in `g`.
    for cached in ("portal_user", "rp_login"):
        g.pop(cached, None)
    assert names_on(other, archives_url(company)) == ["bilan.pdf"]
    assert other.get(voir).data == pdf_bytes()


def test_neither_clients_nor_staff_have_a_delete(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    company = make_company(firm)
    document = publish(company, "bilan.pdf")
    sign_in(portal_client, portal_app, make_staff(firm), advanced=True)
    one = archives_url(company, f"/{document.public_id}")
    token = csrf_token(portal_client, one)
    for method, url in (
        ("DELETE", one),
        ("POST", one),
        ("POST", f"{one}/supprimer"),
        ("GET", f"{one}/supprimer"),
    ):
        response = portal_client.open(url, method=method, data={"csrf_token": token})
        assert response.status_code in (404, 405), (method, url)
    assert db.session.get(ArchiveDocument, document.id) is not None
    page = portal_client.get(one).get_data(as_text=True)
    assert "Supprimer" not in page
    assert "ne peuvent pas être supprimés" in page
