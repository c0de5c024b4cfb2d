"""The firm's home (`/cabinet/<firm_id>/`): its companies with their users, « Ajouter une
entreprise » (companies.add_company's messages on the form), a company's admin invited from
there, the firm's staff and their invitations; nobody but the firm's staff reaches any of it."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from client_portal_rp.extensions import db
from client_portal_rp.models import AuditEvent, Company, Firm, Invitation, Module, PortalUser, Role
from tests.client_portal_rp.conftest import (
    make_company,
    make_firm,
    make_member,
    make_staff,
    make_user,
    sign_in,
    valid_siren,
)
from tests.client_portal_rp.test_access import csrf_token, text
from tests.helpers import Inbox


@pytest.fixture
def firm(portal_app: Flask) -> Firm:
    return make_firm("Cabinet Lefèvre")


@pytest.fixture
def staff(firm: Firm) -> PortalUser:
    return make_staff(firm, make_user("paul@lefevre.test", "Paul Comptable"))


@pytest.fixture
def staff_client(portal_app: Flask, portal_client: FlaskClient, staff: PortalUser) -> FlaskClient:
    sign_in(portal_client, portal_app, staff)
    return portal_client


def home(firm: Firm, tail: str = "") -> str:
    return f"/cabinet/{firm.public_id}/{tail}"


def test_firm_home_lists_companies_with_their_users_and_links(
    staff_client: FlaskClient, firm: Firm
) -> None:
    bakery = make_company(firm, "Boulangerie Martin")
    make_company(firm, "Atelier Zèbre")
    make_member(bakery)
    make_member(bakery)
    other_firm_company = make_company(make_firm("Autre cabinet"), "Pas à nous")
    response = staff_client.get(home(firm))
    assert response.status_code == 200
    body = text(response)
    assert body.index("Atelier Zèbre") < body.index("Boulangerie Martin")
    assert "Pas à nous" not in body and other_firm_company.public_id not in body
    row = body[body.index("Boulangerie Martin") : body.index("</tr>", body.index("Boulangerie"))]
    assert bakery.siren in row and 'data-label="Utilisateurs">2<' in row
    for link in (
        f"/entreprises/{bakery.public_id}/acces",
        f"/entreprises/{bakery.public_id}/journal",
        f"/entreprises/{bakery.public_id}/parametres",
        f"/cabinet/{firm.public_id}/entreprises/{bakery.public_id}/administrateur",
    ):
        assert f'href="{link}"' in row
    assert f'href="/cabinet/{firm.public_id}/depots"' in body
    assert "Paul Comptable" in body and "paul@lefevre.test" in body


def test_add_company_creates_it_audited_and_invites_its_first_admin(
    staff_client: FlaskClient, firm: Firm, staff: PortalUser, portal_smtp: Inbox
) -> None:
    siren = valid_siren()
    response = staff_client.post(
        home(firm, "entreprises"),
        data={
            "csrf_token": csrf_token(staff_client, home(firm)),
            "siren": f"{siren[:3]} {siren[3:6]} {siren[6:]}",
            "name": "  Menuiserie   Roux ",
            "exercice_start": "2025-04-01",
            "exercice_end": "2026-03-31",
            "admin_email": "Roux@Menuiserie.test",
            "admin_name": "Jean Roux",
        },
    )
    assert response.status_code == 303
    company = db.session.scalar(select(Company).where(Company.siren == siren))
    assert company is not None and company.name == "Menuiserie Roux"
    assert company.firm_id == firm.id and str(company.exercice_end) == "2026-03-31"
    created = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.company_id == company.id, AuditEvent.action == "company.created"
        )
    )
    assert created is not None and created.actor_id == staff.id
    invitation = db.session.scalar(select(Invitation).where(Invitation.company_id == company.id))
    assert invitation is not None and invitation.email == "roux@menuiserie.test"
    assert invitation.role == Role.ADMIN.value and invitation.module_set() == set(Module)
    assert portal_smtp.links(to="roux@menuiserie.test")
    assert "Menuiserie Roux est ajoutée" in text(staff_client.get(home(firm)))


@pytest.mark.parametrize(
    ("siren", "name", "admin_email", "expected"),
    [
        ("123456789", "Roux", "", "Le SIREN « 123456789 » n'est pas valable"),
        ("12345", "Roux", "", "il faut 9 chiffres"),
        (None, "", "", "La raison sociale est obligatoire"),
        (None, "Roux", "roux-at-x.fr", "doit contenir un seul « @ »"),
    ],
)
def test_add_company_shows_the_rules_message_on_the_form(
    staff_client: FlaskClient,
    firm: Firm,
    siren: str | None,
    name: str,
    admin_email: str,
    expected: str,
) -> None:
    response = staff_client.post(
        home(firm, "entreprises"),
        data={
            "csrf_token": csrf_token(staff_client, home(firm)),
            "siren": siren or valid_siren(),
            "name": name,
            "admin_email": admin_email,
        },
    )
    assert response.status_code == 422
    assert expected in text(response)
    assert db.session.scalar(select(func.count(Company.id))) == 0
    assert db.session.scalar(select(func.count(Invitation.id))) == 0


def test_add_company_refuses_a_siren_already_known(staff_client: FlaskClient, firm: Firm) -> None:
    existing = make_company(make_firm("Autre"), "Déjà là")
    response = staff_client.post(
        home(firm, "entreprises"),
        data={
            "csrf_token": csrf_token(staff_client, home(firm)),
            "siren": existing.siren,
            "name": "Doublon",
        },
    )
    assert response.status_code == 422
    assert f"Une entreprise de SIREN {existing.siren} existe déjà" in text(response)
    assert db.session.scalar(select(func.count(Company.id))) == 1


def test_invite_a_companys_admin_from_the_firm_side(
    staff_client: FlaskClient, firm: Firm, portal_smtp: Inbox
) -> None:
    company = make_company(firm, "Garage Dupont")
    url = home(firm, f"entreprises/{company.public_id}/administrateur")
    assert staff_client.get(url).status_code == 200
    response = staff_client.post(
        url,
        data={
            "csrf_token": csrf_token(staff_client, url),
            "email": "chef@dupont.test",
            "name": "Chef",
        },
    )
    assert response.status_code == 303
    invitation = db.session.scalar(select(Invitation).where(Invitation.company_id == company.id))
    assert invitation is not None and invitation.role == "admin"
    assert invitation.module_set() == set(Module)
    bad = staff_client.post(
        url, data={"csrf_token": csrf_token(staff_client, url), "email": "chef"}
    )
    assert bad.status_code == 422 and "un seul « @ »" in text(bad)


def test_invite_a_collaborator_then_cancel(
    staff_client: FlaskClient, firm: Firm, staff: PortalUser, portal_smtp: Inbox
) -> None:
    response = staff_client.post(
        home(firm, "collaborateurs"),
        data={
            "csrf_token": csrf_token(staff_client, home(firm)),
            "staff-email": "Julie@Lefevre.test",
            "staff-name": "Julie",
        },
    )
    assert response.status_code == 303
    invitation = db.session.scalar(select(Invitation).where(Invitation.firm_id == firm.id))
    assert invitation is not None and invitation.company_id is None
    assert invitation.email == "julie@lefevre.test"
    body = portal_smtp.text_of(portal_smtp.messages[0])
    assert "rejoindre le cabinet Cabinet Lefèvre" in body
    assert "julie@lefevre.test" in text(staff_client.get(home(firm)))

    already = staff_client.post(
        home(firm, "collaborateurs"),
        data={"csrf_token": csrf_token(staff_client, home(firm)), "staff-email": staff.email},
    )
    assert already.status_code == 409 and "fait déjà partie du cabinet" in text(already)

    cancel = home(firm, f"collaborateurs/invitations/{invitation.public_id}/annuler")
    response = staff_client.post(cancel, data={"csrf_token": csrf_token(staff_client, home(firm))})
    assert response.status_code == 303
    db.session.expire_all()
    assert invitation.revoked_at is not None


def every_firm_url(firm: Firm, company: Company, invitation_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", home(firm)),
        ("POST", home(firm, "entreprises")),
        ("GET", home(firm, f"entreprises/{company.public_id}/administrateur")),
        ("POST", home(firm, f"entreprises/{company.public_id}/administrateur")),
        ("POST", home(firm, "collaborateurs")),
        ("POST", home(firm, f"collaborateurs/invitations/{invitation_id}/annuler")),
    ]


def _staff_invitation(firm: Firm) -> str:
    from client_portal_rp.invitations import invite

    new = invite(
        firm=firm,
        company=None,
        email="x@lefevre.test",
        name="X",
        role=Role.USER,
        modules=set(),
        invited_by=None,
    )
    db.session.commit()
    return new.invitation.public_id


@pytest.mark.parametrize("who", ["company_admin", "other_firm_staff"])
def test_only_the_firms_staff_reach_its_pages_everyone_else_gets_404(
    portal_app: Flask, portal_client: FlaskClient, firm: Firm, who: str
) -> None:
    company = make_company(firm, "Garage Dupont")
    invitation_id = _staff_invitation(firm)
    if who == "company_admin":
        person = make_member(company, role=Role.ADMIN)
        page = f"/entreprises/{company.public_id}/"
    else:
        other = make_firm("Concurrent")
        person = make_staff(other)
        page = home(other)
    sign_in(portal_client, portal_app, person, advanced=True)
    token = csrf_token(portal_client, page)
    data = {"csrf_token": token, "siren": valid_siren(), "name": "Intrus", "email": "i@x.test"}
    for method, url in every_firm_url(firm, company, invitation_id):
        assert portal_client.open(url, method=method, data=data).status_code == 404, url
    assert db.session.scalar(select(func.count(Company.id))) == 1
    db.session.expire_all()
    revoked = db.session.scalar(select(Invitation.revoked_at))
    assert revoked is None


def test_another_firms_company_under_my_firm_is_404(staff_client: FlaskClient, firm: Firm) -> None:
    theirs = make_company(make_firm("Autre"), "Pas à nous")
    url = home(firm, f"entreprises/{theirs.public_id}/administrateur")
    assert staff_client.get(url).status_code == 404
    other_invitation = _staff_invitation(theirs.firm)
    cancel = home(firm, f"collaborateurs/invitations/{other_invitation}/annuler")
    token = csrf_token(staff_client, home(firm))
    assert staff_client.post(cancel, data={"csrf_token": token}).status_code == 404
