"""The invitation link (`/invitations/<token>`): from the email to a member with the invited
rights, through Sésame's login or signup (the login callback is played by `accounts.on_login`,
as relying_party's callback calls it); a login with another address is told so; expired,
cancelled and unknown links get a clear page."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, get_flashed_messages, session
from flask.testing import FlaskClient
from sqlalchemy import select

from client_portal_rp import accounts
from client_portal_rp.extensions import db
from client_portal_rp.invitations import NewInvitation, invite
from client_portal_rp.models import (
    Company,
    FirmStaff,
    Invitation,
    Membership,
    Module,
    PortalUser,
    Role,
    utcnow,
)
from relying_party import Login
from tests.client_portal_rp.conftest import (
    make_company,
    make_firm,
    make_member,
    make_user,
    sign_in,
)
from tests.client_portal_rp.test_access import access_url, csrf_token, text
from tests.helpers import Inbox


@pytest.fixture
def company(portal_app: Flask) -> Company:
    return make_company(make_firm(), "Garage Dupont")


@pytest.fixture
def admin(company: Company) -> PortalUser:
    return make_member(company, make_user("chef@dupont.test", "Chef Dupont"), role=Role.ADMIN)


def invitation_to(company: Company, email: str, modules: set[Module]) -> NewInvitation:
    new = invite(
        firm=company.firm,
        company=company,
        email=email,
        name="Nina",
        role=Role.USER,
        modules=modules,
        invited_by=None,
    )
    db.session.commit()
    return new


def member_modules(company: Company, email: str) -> set[Module] | None:
    db.session.expire_all()
    found = db.session.scalar(
        select(Membership)
        .join(PortalUser, PortalUser.id == Membership.user_id)
        .where(Membership.company_id == company.id, PortalUser.email == email)
    )
    return None if found is None else found.modules()


def login_of(subject: str, email: str, *, verified: bool = True) -> Login:
    claims = {"sub": subject, "email": email, "email_verified": verified, "name": "Nina Neuve"}
    return Login(subject=subject, sid=None, claims=claims, id_token="x.y.z", created_at=time.time())


def test_invitation_end_to_end_from_the_email_to_a_member_with_the_invited_modules(
    portal_app: Flask,
    portal_client: FlaskClient,
    company: Company,
    admin: PortalUser,
    portal_smtp: Inbox,
) -> None:
    # The admin invites Nina with two modules.
    admin_client = portal_app.test_client()
    sign_in(admin_client, portal_app, admin)
    url = access_url(company, "/nouveau")
    response = admin_client.post(
        url,
        data={
            "csrf_token": csrf_token(admin_client, url),
            "email": "nina@dupont.test",
            "name": "Nina",
            "role": "user",
            "deposit": "y",
            "archives": "y",
        },
    )
    assert response.status_code == 303
    [link] = portal_smtp.links(to="nina@dupont.test")
    path = urlsplit(link).path
    token = path.rsplit("/", 1)[1]

    # Nina, not logged in, opens the link: the page offers login or signup.
    page = portal_client.get(path)
    assert page.status_code == 200
    body = text(page)
    assert "Invitation au portail de Garage Dupont" in body
    assert "J'ai déjà un compte Sésame : me connecter" in body
    assert "Créer mon compte Sésame" in body
    with portal_client.session_transaction() as stored:
        assert stored[accounts.INVITATION_SESSION_KEY] == token
    hrefs = {
        parse_qs(urlsplit(href).query).get("signup", ["0"])[0]: href
        for href in _hrefs(body, "/login?")
    }
    signup = parse_qs(urlsplit(hrefs["1"]).query)
    assert signup["login_hint"] == ["nina@dupont.test"] and signup["next"] == [path]
    login = parse_qs(urlsplit(hrefs["0"]).query)
    assert login["next"] == [path] and "login_hint" not in login

    # Sésame's signup comes back to the callback, which carries the token and calls on_login.
    with portal_app.test_request_context("/callback"):
        session[accounts.INVITATION_SESSION_KEY] = token
        accounts.on_login(login_of("sub-nina", "nina@dupont.test"))
        assert accounts.INVITATION_SESSION_KEY not in session
        assert get_flashed_messages() == []
    assert member_modules(company, "nina@dupont.test") == {Module.DEPOSIT, Module.ARCHIVES}

    # Back on the link (the callback's `next`), logged in: welcome, on the company's page.
    nina = db.session.scalar(select(PortalUser).where(PortalUser.subject == "sub-nina"))
    assert nina is not None
    sign_in(portal_client, portal_app, nina)
    back = portal_client.get(path)
    assert back.status_code == 303
    assert back.location == f"/entreprises/{company.public_id}/"
    assert "Bienvenue sur le portail de Garage Dupont." in text(portal_client.get(back.location))


def _hrefs(body: str, start: str) -> list[str]:
    import html
    import re

    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', body) if h.startswith(start)]


def test_the_login_callback_refuses_an_invitation_for_another_verified_address(
    portal_app: Flask, company: Company
) -> None:
    new = invitation_to(company, "nina@dupont.test", {Module.DEPOSIT})
    with portal_app.test_request_context("/callback"):
        session[accounts.INVITATION_SESSION_KEY] = new.token
        accounts.on_login(login_of("sub-other", "other@dupont.test"))
        [message] = get_flashed_messages()
    assert "une autre adresse e-mail" in message
    assert member_modules(company, "other@dupont.test") is None


def test_an_unverified_email_does_not_accept_the_invitation(
    portal_app: Flask, company: Company
) -> None:
    new = invitation_to(company, "nina@dupont.test", {Module.DEPOSIT})
    with portal_app.test_request_context("/callback"):
        session[accounts.INVITATION_SESSION_KEY] = new.token
        accounts.on_login(login_of("sub-nina", "nina@dupont.test", verified=False))
    assert member_modules(company, "nina@dupont.test") is None


def test_a_logged_in_person_with_the_invited_address_is_attached_at_once(
    portal_app: Flask, portal_client: FlaskClient, company: Company
) -> None:
    new = invitation_to(company, "Nina@Dupont.test", {Module.COMPTA})
    nina = make_user("nina@dupont.test", "Nina")
    sign_in(portal_client, portal_app, nina)
    response = portal_client.get(f"/invitations/{new.token}")
    assert response.status_code == 303
    assert response.location == f"/entreprises/{company.public_id}/"
    assert member_modules(company, "nina@dupont.test") == {Module.COMPTA}
    db.session.expire_all()
    assert new.invitation.accepted_by_id == nina.id
    # Opening the link again changes nothing and welcomes again.
    again = portal_client.get(f"/invitations/{new.token}")
    assert again.status_code == 303 and again.location == response.location


def test_a_logged_in_person_with_another_address_is_told_whose_login_this_is(
    portal_app: Flask, portal_client: FlaskClient, company: Company
) -> None:
    new = invitation_to(company, "nina@dupont.test", {Module.DEPOSIT})
    sign_in(portal_client, portal_app, make_user("paul@ailleurs.test", "Paul"))
    response = portal_client.get(f"/invitations/{new.token}")
    assert response.status_code == 403
    body = text(response)
    assert (
        "Vous êtes connecté en tant que paul@ailleurs.test ; cette invitation est adressée à "
        "nina@dupont.test." in body
    )
    assert 'action="/logout"' in body and "Se déconnecter" in body
    assert member_modules(company, "paul@ailleurs.test") is None
    assert new.invitation.accepted_at is None


def test_unknown_expired_and_cancelled_links_get_a_clear_page(
    portal_client: FlaskClient, company: Company
) -> None:
    unknown = portal_client.get("/invitations/not-a-real-token")
    assert unknown.status_code == 404
    assert "Ce lien d'invitation n'existe pas" in text(unknown)

    expired = invitation_to(company, "old@dupont.test", {Module.DEPOSIT})
    expired.invitation.expires_at = utcnow() - timedelta(days=1)
    db.session.commit()
    response = portal_client.get(f"/invitations/{expired.token}")
    assert response.status_code == 410 and "Cette invitation a expiré" in text(response)

    first = invitation_to(company, "twice@dupont.test", {Module.DEPOSIT})
    invitation_to(company, "twice@dupont.test", {Module.DEPOSIT})  # replaces the first
    response = portal_client.get(f"/invitations/{first.token}")
    assert response.status_code == 410 and "annulée ou remplacée" in text(response)
    with portal_client.session_transaction() as stored:
        assert accounts.INVITATION_SESSION_KEY not in stored


def test_a_link_used_by_someone_else_is_refused(
    portal_app: Flask, portal_client: FlaskClient, company: Company
) -> None:
    new = invitation_to(company, "nina@dupont.test", {Module.DEPOSIT})
    nina = make_user("nina@dupont.test", "Nina")
    accounts.accept_invitation_token(new.token, nina, "nina@dupont.test")
    db.session.commit()
    response = portal_client.get(f"/invitations/{new.token}")
    assert response.status_code == 410 and "déjà été utilisée" in text(response)


def test_a_staff_invitation_makes_a_collaborator_of_the_firm(
    portal_app: Flask, portal_client: FlaskClient, company: Company
) -> None:
    new = invite(
        firm=company.firm,
        company=None,
        email="collab@cabinet.test",
        name="Collab",
        role=Role.USER,
        modules=set(),
        invited_by=None,
    )
    db.session.commit()
    collab = make_user("collab@cabinet.test", "Collab")
    sign_in(portal_client, portal_app, collab)
    response = portal_client.get(f"/invitations/{new.token}")
    assert response.status_code == 303
    assert response.location == f"/cabinet/{company.firm.public_id}/"
    assert db.session.scalar(
        select(FirmStaff).where(
            FirmStaff.firm_id == company.firm_id, FirmStaff.user_id == collab.id
        )
    )
    assert portal_client.get(response.location).status_code == 200


def test_accepting_records_the_invitation_row(company: Company) -> None:
    new = invitation_to(company, "nina@dupont.test", {Module.DEPOSIT})
    nina = make_user("nina@dupont.test", "Nina")
    accounts.accept_invitation_token(new.token, nina, "NINA@dupont.test")
    db.session.commit()
    row = db.session.get(Invitation, new.invitation.id)
    assert row is not None and row.accepted_by_id == nina.id


def test_two_acceptances_of_one_invitation_at_once_attach_one_person(
    committed_portal: Flask,
) -> None:
    """The acceptance is claimed by one conditional UPDATE: a second person who read the
    invitation before the first one accepted it is refused, not attached too."""
    from client_portal_rp.invitations import InvitationError, accept, find_by_token
    from client_portal_rp.models import Membership, Role
    from tests.client_portal_rp.conftest import make_company, make_firm, make_user

    with committed_portal.test_request_context():
        company = make_company(make_firm())
        new = invite(
            firm=company.firm,
            company=company,
            email="claire@client.test",
            name="",
            role=Role.USER,
            modules={Module.DEPOSIT},
            invited_by=None,
        )
        db.session.commit()
        first, second = make_user(), make_user()
        stale = find_by_token(new.token)  # read before anyone accepted
        assert stale is not None and stale.accepted_at is None
        ids = (company.id, first.id, second.id)
        db.session.expunge(stale)
        db.session.remove()
    with committed_portal.test_request_context():
        accept(find_by_token(new.token), db.session.get(PortalUser, ids[1]))  # type: ignore[arg-type]
        db.session.commit()
        db.session.remove()
    with committed_portal.test_request_context():
        stale = db.session.merge(stale, load=False)
        with pytest.raises(InvitationError, match="déjà été utilisée"):
            accept(stale, db.session.get(PortalUser, ids[2]))  # type: ignore[arg-type]
        db.session.rollback()
        members = db.session.scalars(
            select(Membership.user_id).where(Membership.company_id == ids[0])
        ).all()
        assert members == [ids[1]]
        db.session.remove()
