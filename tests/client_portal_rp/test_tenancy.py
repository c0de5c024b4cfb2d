"""Tenant isolation, module rights and "sécurité avancée" at the company level (SECURITY.md
46-48), on the pages that belong to no module; each module's own tests do the same for theirs."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from client_portal_rp.models import Module, Role
from tests.client_portal_rp.conftest import make_company, make_firm, make_member, sign_in


def test_a_company_page_needs_a_login(portal_app: Flask, portal_client: FlaskClient) -> None:
    company = make_company(make_firm())
    response = portal_client.get(f"/entreprises/{company.public_id}/")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=")


def test_another_companys_home_is_404(portal_app: Flask, portal_client: FlaskClient) -> None:
    firm = make_firm()
    mine, theirs = make_company(firm, "Mine"), make_company(firm, "Theirs")
    sign_in(portal_client, portal_app, make_member(mine))
    assert portal_client.get(f"/entreprises/{mine.public_id}/").status_code == 200
    assert portal_client.get(f"/entreprises/{theirs.public_id}/").status_code == 404
    assert portal_client.get("/entreprises/does-not-exist/").status_code == 404


def test_compta_without_the_right_is_refused_server_side(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = make_company(make_firm())
    sign_in(portal_client, portal_app, make_member(company, modules={Module.DEPOSIT}))
    page = portal_client.get(f"/entreprises/{company.public_id}/compta")
    assert page.status_code == 403
    assert "Consultez votre compta en ligne" in page.get_data(as_text=True)


def test_advanced_module_sends_a_password_login_to_step_up(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = make_company(make_firm())
    sign_in(portal_client, portal_app, make_member(company))
    response = portal_client.get(f"/entreprises/{company.public_id}/compta")
    assert response.status_code == 303
    assert "level=advanced" in response.headers["Location"]


def test_advanced_module_opens_with_an_mfa_login(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = make_company(make_firm())
    sign_in(portal_client, portal_app, make_member(company), advanced=True)
    assert portal_client.get(f"/entreprises/{company.public_id}/compta").status_code == 200


def test_a_right_removed_is_gone_on_the_next_request(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    from client_portal_rp.extensions import db
    from client_portal_rp.models import Membership

    company = make_company(make_firm())
    user = make_member(company, role=Role.USER)
    sign_in(portal_client, portal_app, user, advanced=True)
    assert portal_client.get(f"/entreprises/{company.public_id}/compta").status_code == 200
    membership = db.session.query(Membership).filter_by(user_id=user.id).one()
    db.session.delete(membership)
    db.session.commit()
    assert portal_client.get(f"/entreprises/{company.public_id}/compta").status_code == 404


def test_pages_of_advanced_modules_are_marked_never_to_keep_offline(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    """The installable app keeps the last lists for reading offline, except those of the
    "sécurité avancée" modules (static/js/sw.js reads the header)."""
    company = make_company(make_firm())
    user = make_member(company, role=Role.ADMIN)
    sign_in(portal_client, portal_app, user, advanced=True)
    archives = portal_client.get(f"/entreprises/{company.public_id}/archives")
    deposits = portal_client.get(f"/entreprises/{company.public_id}/depots")
    assert archives.status_code == deposits.status_code == 200
    assert archives.headers["X-Portail-Hors-Ligne"] == "non"
    assert "X-Portail-Hors-Ligne" not in deposits.headers
