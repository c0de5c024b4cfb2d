"""« Administrez vos accès »: the company's users and invitations, « Nouvel utilisateur »,
« Modifier », « Supprimer » (SECURITY.md 51-52), the password-reset link through Sésame, the
audit list and the company's settings."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import func, select

from client_portal_rp.companies import deposit_types
from client_portal_rp.extensions import db
from client_portal_rp.models import (
    ArchiveDocument,
    AuditEvent,
    Company,
    Deposit,
    Invitation,
    Membership,
    Module,
    PortalUser,
    Role,
    utcnow,
)
from tests.client_portal_rp.conftest import (
    PORTAL_ISSUER,
    make_company,
    make_firm,
    make_member,
    make_staff,
    make_user,
    sign_in,
)
from tests.helpers import Inbox

# --- helpers (shared with the other test_access*/test_firm* modules) ---------------------


def csrf_token(client: FlaskClient, url: str) -> str:
    """The page's CSRF token. The fixtures keep one app context for the whole test, so
    Flask-WTF's per-request cache (`g.csrf_token`) would hand a second client the first
    client's token: it is dropped first (a real request has an app context of its own)."""
    g.pop("csrf_token", None)
    page = client.get(url).get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert found, "no CSRF token on " + url
    return found.group(1)


def access_url(company: Company, tail: str = "") -> str:
    return f"/entreprises/{company.public_id}/acces{tail}"


def member_url(company: Company, user: PortalUser, tail: str = "") -> str:
    return access_url(company, f"/utilisateurs/{user.public_id}{tail}")


def membership(company: Company, user: PortalUser) -> Membership | None:
    db.session.expire_all()
    found: Membership | None = db.session.scalar(
        select(Membership).where(Membership.company_id == company.id, Membership.user_id == user.id)
    )
    return found


def audit_lines(company: Company, action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.company_id == company.id, AuditEvent.action == action)
            .order_by(AuditEvent.id)
        )
    )


def text(response: object) -> str:
    """The page as read (entities decoded: « l'invitation » whether escaped or not)."""
    return html.unescape(response.get_data(as_text=True))  # type: ignore[attr-defined]


@pytest.fixture
def company(portal_app: Flask) -> Company:
    return make_company(make_firm(), "Boulangerie Martin")


@pytest.fixture
def admin(company: Company) -> PortalUser:
    return make_member(
        company, make_user("admin@martin.test", "Alice Admin"), role=Role.ADMIN, modules=set()
    )


@pytest.fixture
def admin_client(portal_app: Flask, portal_client: FlaskClient, admin: PortalUser) -> FlaskClient:
    sign_in(portal_client, portal_app, admin)
    return portal_client


# --- the list ----------------------------------------------------------------------------


def test_access_page_lists_members_with_read_only_modules_and_pending_invitations(
    admin_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    bob = make_member(company, make_user("bob@martin.test", "Bob Dépôt"), modules={Module.DEPOSIT})
    bob.last_login_at = utcnow()
    db.session.commit()
    assert (
        admin_client.post(
            access_url(company, "/nouveau"),
            data={
                "csrf_token": csrf_token(admin_client, access_url(company, "/nouveau")),
                "email": "Carla@Martin.test",
                "name": "Carla",
                "role": "user",
                "archives": "y",
            },
        ).status_code
        == 303
    )
    page = text(admin_client.get(access_url(company)))
    assert "Bob Dépôt" in page and "bob@martin.test" in page and "Alice Admin" in page
    assert "Administrateur" in page and "Utilisateur" in page
    # Bob's row: the deposit box checked, the other two not, all disabled (read-only).
    bob_row = page[page.index("Bob Dépôt") : page.index("</tr>", page.index("Bob Dépôt"))]
    boxes = re.findall(r"<input type=\"checkbox\" disabled( checked)?", bob_row)
    assert boxes == [" checked", "", ""]
    assert 'data-label="Dernière connexion"' in page and "jamais" in page
    # The pending invitation, lower-cased, with its two buttons.
    assert "carla@martin.test" in page
    assert "Annuler l'invitation" in page and "Renvoyer" in page


def test_access_pages_are_for_admins_and_staff_a_plain_user_gets_403(
    portal_app: Flask, portal_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    user = make_member(company)
    invitation_id = _pending_invitation(company, admin)
    sign_in(portal_client, portal_app, user, advanced=True)
    token = csrf_token(portal_client, f"/entreprises/{company.public_id}/")
    for method, url in every_url(company, admin, invitation_id):
        if url.endswith("/parametres"):
            continue  # the firm's: 403 too, checked below
        response = portal_client.open(url, method=method, data={"csrf_token": token})
        assert response.status_code == 403, (method, url)
    assert membership(company, admin) is not None
    settings = portal_client.get(f"/entreprises/{company.public_id}/parametres")
    assert settings.status_code == 403


def _pending_invitation(company: Company, by: PortalUser) -> str:
    from client_portal_rp.invitations import invite

    new = invite(
        firm=company.firm,
        company=company,
        email="pending@martin.test",
        name="Pending",
        role=Role.USER,
        modules={Module.DEPOSIT},
        invited_by=by,
    )
    db.session.commit()
    return new.invitation.public_id


def every_url(company: Company, member: PortalUser, invitation_id: str) -> list[tuple[str, str]]:
    """Every URL of « Administrez vos accès » naming `company` (method, path)."""
    base = f"/entreprises/{company.public_id}"
    return [
        ("GET", access_url(company)),
        ("GET", access_url(company, "/nouveau")),
        ("POST", access_url(company, "/nouveau")),
        ("GET", member_url(company, member)),
        ("POST", member_url(company, member)),
        ("POST", member_url(company, member, "/supprimer")),
        ("POST", member_url(company, member, "/lien-mot-de-passe")),
        ("POST", access_url(company, f"/invitations/{invitation_id}/annuler")),
        ("POST", access_url(company, f"/invitations/{invitation_id}/renvoyer")),
        ("GET", f"{base}/journal"),
        ("GET", f"{base}/parametres"),
        ("POST", f"{base}/parametres"),
    ]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.USER])
def test_another_companys_people_get_404_on_every_access_url(
    portal_app: Flask, portal_client: FlaskClient, company: Company, admin: PortalUser, role: Role
) -> None:
    theirs_invitation = _pending_invitation(company, admin)
    mine = make_company(company.firm, "Mine")
    me = make_member(mine, role=role)
    sign_in(portal_client, portal_app, me, advanced=True)
    token = csrf_token(portal_client, f"/entreprises/{mine.public_id}/")
    for method, url in every_url(company, admin, theirs_invitation):
        response = portal_client.open(url, method=method, data={"csrf_token": token})
        assert response.status_code == 404, (method, url)
    if role is Role.ADMIN:
        # Their member and their invitation under my company's URL: not found either.
        for method, url in every_url(mine, admin, theirs_invitation):
            if admin.public_id in url or theirs_invitation in url:
                response = portal_client.open(url, method=method, data={"csrf_token": token})
                assert response.status_code == 404, (method, url)
    db.session.expire_all()
    assert membership(company, admin) is not None
    still = db.session.scalar(select(Invitation).where(Invitation.public_id == theirs_invitation))
    assert still is not None and still.revoked_at is None
    assert audit_lines(company, "access.reset_link_sent") == []


# --- « Nouvel utilisateur » --------------------------------------------------------------


def test_new_user_sends_an_invitation_with_the_chosen_rights(
    admin_client: FlaskClient, company: Company, admin: PortalUser, portal_smtp: Inbox
) -> None:
    url = access_url(company, "/nouveau")
    response = admin_client.post(
        url,
        data={
            "csrf_token": csrf_token(admin_client, url),
            "email": " Denise@Martin.TEST ",
            "name": "Denise Durand",
            "role": "admin",
            "deposit": "y",
            "compta": "y",
        },
    )
    assert response.status_code == 303 and response.location.endswith(access_url(company))
    invitation = db.session.scalar(select(Invitation).where(Invitation.company_id == company.id))
    assert invitation is not None
    assert (invitation.email, invitation.role) == ("denise@martin.test", "admin")
    assert invitation.module_set() == {Module.DEPOSIT, Module.COMPTA}
    [line] = audit_lines(company, "access.invited")
    assert line.actor_id == admin.id and line.details["email"] == "denise@martin.test"
    [message] = portal_smtp.messages
    assert message["To"] == "denise@martin.test"
    body = portal_smtp.text_of(message)
    assert "Alice Admin vous invite" in body and "Boulangerie Martin" in body
    assert "administrateur" in body
    [link] = portal_smtp.links(to="denise@martin.test")
    assert "/invitations/" in link
    page = text(admin_client.get(access_url(company)))
    assert "Invitation envoyée : le lien est valable 14 jours." in page
    # The address shows once, in the pending list (buttons name it in their aria-label).
    assert len(re.findall(r">denise@martin.test<", page)) == 1


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("", "Indiquez l'adresse e-mail"),
        ("denise.martin.test", "doit contenir un seul « @ »"),
        ("a@b@c.fr", "doit contenir un seul « @ »"),
        ("@martin.test", "Il manque la partie avant le « @ »"),
        ("denise@martin", "il manque l'extension"),
        ("denise durand@martin.test", "ni espace ni caractère interdit"),
    ],
)
def test_new_user_refuses_a_bad_email_with_a_precise_message(
    admin_client: FlaskClient, company: Company, email: str, expected: str
) -> None:
    url = access_url(company, "/nouveau")
    response = admin_client.post(
        url, data={"csrf_token": csrf_token(admin_client, url), "email": email, "role": "user"}
    )
    assert response.status_code == 422
    assert expected in text(response)
    assert db.session.scalar(select(func.count(Invitation.id))) == 0


def test_new_user_refuses_an_unknown_role(admin_client: FlaskClient, company: Company) -> None:
    url = access_url(company, "/nouveau")
    response = admin_client.post(
        url,
        data={"csrf_token": csrf_token(admin_client, url), "email": "x@y.fr", "role": "owner"},
    )
    assert response.status_code == 422
    assert "Choisissez le rôle : utilisateur ou administrateur." in text(response)


def test_inviting_a_member_again_says_so_and_sends_nothing(
    admin_client: FlaskClient, company: Company, portal_smtp: Inbox
) -> None:
    make_member(company, make_user("bob@martin.test", "Bob"))
    url = access_url(company, "/nouveau")
    response = admin_client.post(
        url,
        data={"csrf_token": csrf_token(admin_client, url), "email": "BOB@martin.test"},
    )
    assert response.status_code == 409
    assert "bob@martin.test a déjà accès à Boulangerie Martin" in text(response)
    assert db.session.scalar(select(func.count(Invitation.id))) == 0
    assert portal_smtp.messages == []


def test_invitation_emails_escape_hostile_names(
    portal_app: Flask,
    portal_client: FlaskClient,
    portal_smtp: Inbox,
) -> None:
    firm = make_firm()
    company = make_company(firm, "<b>Evil & Co</b>")
    admin = make_member(
        company, make_user("a@evil.test", '<img src=x onerror="alert(1)">'), role=Role.ADMIN
    )
    sign_in(portal_client, portal_app, admin)
    url = access_url(company, "/nouveau")
    assert (
        portal_client.post(
            url,
            data={
                "csrf_token": csrf_token(portal_client, url),
                "email": "victim@evil.test",
                "name": "<script>alert('x')</script>",
                "role": "user",
            },
        ).status_code
        == 303
    )
    [message] = portal_smtp.messages
    html_part = message.get_body(("html",))
    assert html_part is not None
    body = str(html_part.get_content())
    assert "<script>" not in body and "<img src=x" not in body and "<b>Evil" not in body
    assert "&lt;script&gt;" in body and "&lt;img src=x" in body and "&lt;b&gt;Evil &amp; Co" in body
    page = portal_client.get(access_url(company)).get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page


# --- « Modifier » ------------------------------------------------------------------------


def test_modify_changes_role_and_modules_with_before_and_after_in_the_audit(
    admin_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    bob = make_member(company, make_user("bob@martin.test", "Bob"), modules={Module.DEPOSIT})
    page = text(admin_client.get(member_url(company, bob)))
    assert "Modifier l'accès de Bob" in page
    response = admin_client.post(
        member_url(company, bob),
        data={
            "csrf_token": csrf_token(admin_client, member_url(company, bob)),
            "role": "admin",
            "archives": "y",
        },
    )
    assert response.status_code == 303
    found = membership(company, bob)
    assert found is not None and found.role == "admin" and found.modules() == {Module.ARCHIVES}
    [line] = audit_lines(company, "access.updated")
    assert line.details["before"] == {"role": "user", "modules": ["depot"]}
    assert line.details["after"] == {"role": "admin", "modules": ["archives"]}
    assert line.details["user"] == bob.public_id and line.actor_id == admin.id


def test_a_right_removed_is_gone_on_the_members_next_request(
    portal_app: Flask, admin_client: FlaskClient, company: Company
) -> None:
    bob = make_member(company, make_user("bob@martin.test", "Bob"), modules={Module.DEPOSIT})
    bob_client = portal_app.test_client()
    sign_in(bob_client, portal_app, bob)
    assert bob_client.get(f"/entreprises/{company.public_id}/depots").status_code == 200
    admin_client.post(
        member_url(company, bob),
        data={"csrf_token": csrf_token(admin_client, member_url(company, bob)), "role": "user"},
    )
    assert bob_client.get(f"/entreprises/{company.public_id}/depots").status_code == 403


# --- « Supprimer » (SECURITY.md 51) ------------------------------------------------------


def _add_documents(company: Company, by: PortalUser) -> None:
    kind = deposit_types(company.firm_id)[0]
    db.session.add(
        Deposit(
            company_id=company.id,
            deposit_type_id=kind.id,
            uploaded_by_id=by.id,
            filename="facture.pdf",
            kind="pdf",
            size=10,
            sha256="a" * 64,
            blob_sha256="a" * 64,
        )
    )
    db.session.add(
        ArchiveDocument(
            company_id=company.id,
            folder="comptables",
            exercice=2024,
            filename="bilan.pdf",
            search_name="bilan.pdf",
            kind="pdf",
            size=10,
            blob_sha256="b" * 64,
        )
    )
    db.session.commit()


def test_remove_takes_access_away_at_once_from_open_sessions_and_keeps_documents(
    portal_app: Flask, admin_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    bob = make_member(company, make_user("bob@martin.test", "Bob Parti"))
    _add_documents(company, bob)
    bob_client = portal_app.test_client()
    sign_in(bob_client, portal_app, bob, advanced=True)
    company_page = f"/entreprises/{company.public_id}/"
    assert bob_client.get(company_page).status_code == 200

    response = admin_client.post(
        member_url(company, bob, "/supprimer"),
        data={"csrf_token": csrf_token(admin_client, member_url(company, bob))},
    )
    assert response.status_code == 303
    assert membership(company, bob) is None
    # Bob's session, opened before, loses the company on its very next request.
    for url in (
        company_page,
        f"/entreprises/{company.public_id}/depots",
        f"/entreprises/{company.public_id}/archives",
    ):
        assert bob_client.get(url).status_code == 404, url
    # The company's documents stay (10-year retention), Bob's deposit included.
    assert db.session.scalar(select(func.count(Deposit.id))) == 1
    assert db.session.scalar(select(func.count(ArchiveDocument.id))) == 1
    [line] = audit_lines(company, "access.removed")
    assert line.details["email"] == "bob@martin.test" and line.actor_id == admin.id
    assert "L'accès de Bob Parti à Boulangerie Martin est supprimé" in text(
        admin_client.get(access_url(company))
    )


def test_remove_cancels_pending_invitations_of_the_same_address(
    admin_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    from client_portal_rp.invitations import accept_for_email, invite

    bob = make_member(company, make_user("bob@martin.test", "Bob"))
    invite(
        firm=company.firm,
        company=company,
        email="bob@martin.test",
        name="Bob",
        role=Role.ADMIN,
        modules=set(Module),
        invited_by=admin,
    )
    db.session.commit()
    admin_client.post(
        member_url(company, bob, "/supprimer"),
        data={"csrf_token": csrf_token(admin_client, member_url(company, bob))},
    )
    # Bob's next login (verified email) does not bring him back.
    assert accept_for_email(bob, "bob@martin.test") == 0
    assert membership(company, bob) is None


def test_the_last_admin_can_neither_remove_nor_demote_themself(
    admin_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    url = member_url(company, admin)
    response = admin_client.post(
        url + "/supprimer", data={"csrf_token": csrf_token(admin_client, url)}
    )
    assert response.status_code == 409
    assert "Vous êtes le dernier administrateur de Boulangerie Martin" in text(response)
    assert "supprimer votre propre accès" in text(response)
    response = admin_client.post(
        url, data={"csrf_token": csrf_token(admin_client, url), "role": "user", "deposit": "y"}
    )
    assert response.status_code == 409
    assert "vous retirer ce rôle" in text(response)
    found = membership(company, admin)
    assert found is not None and found.role == "admin" and found.modules() == set()
    assert audit_lines(company, "access.removed") == []
    assert audit_lines(company, "access.updated") == []


def test_an_admin_may_leave_when_another_admin_remains(
    admin_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    make_member(company, make_user("second@martin.test", "Second"), role=Role.ADMIN)
    url = member_url(company, admin)
    response = admin_client.post(
        url + "/supprimer", data={"csrf_token": csrf_token(admin_client, url)}
    )
    assert response.status_code == 303 and response.location == "/"
    assert membership(company, admin) is None
    assert admin_client.get(access_url(company)).status_code == 404


def test_firm_staff_can_always_manage_even_the_last_admin(
    portal_app: Flask, portal_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    staff = make_staff(company.firm)
    sign_in(portal_client, portal_app, staff)
    url = member_url(company, admin)
    response = portal_client.post(
        url, data={"csrf_token": csrf_token(portal_client, url), "role": "user"}
    )
    assert response.status_code == 303
    found = membership(company, admin)
    assert found is not None and found.role == "user"
    response = portal_client.post(
        url + "/supprimer", data={"csrf_token": csrf_token(portal_client, url)}
    )
    assert response.status_code == 303
    assert membership(company, admin) is None


def test_a_form_without_csrf_changes_nothing(admin_client: FlaskClient, company: Company) -> None:
    bob = make_member(company, make_user("bob@martin.test", "Bob"))
    response = admin_client.post(member_url(company, bob, "/supprimer"), data={})
    assert response.status_code == 400
    assert membership(company, bob) is not None


# --- the password-reset link -------------------------------------------------------------


def test_reset_link_mails_sesames_forgot_page_and_never_a_password(
    admin_client: FlaskClient, company: Company, admin: PortalUser, portal_smtp: Inbox
) -> None:
    bob = make_member(company, make_user("bob+compta@martin.test", "Bob"))
    url = member_url(company, bob)
    response = admin_client.post(
        url + "/lien-mot-de-passe", data={"csrf_token": csrf_token(admin_client, url)}
    )
    assert response.status_code == 303
    [message] = portal_smtp.messages
    assert message["To"] == "bob+compta@martin.test"
    assert portal_smtp.links(to="bob+compta@martin.test") == [
        f"{PORTAL_ISSUER}/password/forgot?login_hint=bob%2Bcompta%40martin.test"
    ]
    body = portal_smtp.text_of(message)
    assert "Aucun mot de passe ne vous est envoyé" in body and "Alice Admin" in body
    [line] = audit_lines(company, "access.reset_link_sent")
    assert line.details == {"user": bob.public_id, "email": "bob+compta@martin.test"}

    # A second one within 5 minutes is refused, with a French message; nothing more is sent.
    again = admin_client.post(
        url + "/lien-mot-de-passe", data={"csrf_token": csrf_token(admin_client, url)}
    )
    assert again.status_code == 429
    assert "attendez 5 minutes" in text(again)
    assert len(portal_smtp.messages) == 1
    assert len(audit_lines(company, "access.reset_link_sent")) == 1

    # Five minutes later, it may be sent again.
    line.at = utcnow() - timedelta(minutes=6)
    db.session.commit()
    later = admin_client.post(
        url + "/lien-mot-de-passe", data={"csrf_token": csrf_token(admin_client, url)}
    )
    assert later.status_code == 303
    assert len(portal_smtp.messages) == 2


def test_reset_link_throttle_is_per_member(
    admin_client: FlaskClient, company: Company, portal_smtp: Inbox
) -> None:
    for email in ("one@martin.test", "two@martin.test"):
        user = make_member(company, make_user(email, email))
        url = member_url(company, user)
        response = admin_client.post(
            url + "/lien-mot-de-passe", data={"csrf_token": csrf_token(admin_client, url)}
        )
        assert response.status_code == 303
    assert len(portal_smtp.messages) == 2


# --- pending invitations -----------------------------------------------------------------


def test_cancel_and_resend_an_invitation(
    admin_client: FlaskClient, company: Company, admin: PortalUser, portal_smtp: Inbox
) -> None:
    from client_portal_rp.invitations import InvitationError, check_usable, find_by_token, invite

    first = invite(
        firm=company.firm,
        company=company,
        email="eve@martin.test",
        name="Eve",
        role=Role.USER,
        modules={Module.ARCHIVES},
        invited_by=admin,
    )
    db.session.commit()
    token = csrf_token(admin_client, access_url(company))
    resend = access_url(company, f"/invitations/{first.invitation.public_id}/renvoyer")
    assert admin_client.post(resend, data={"csrf_token": token}).status_code == 303
    # A new link, same rights; the old link no longer works.
    old = find_by_token(first.token)
    assert old is not None
    with pytest.raises(InvitationError):
        check_usable(old)
    [link] = portal_smtp.links(to="eve@martin.test")
    new = find_by_token(link.rsplit("/", 1)[1])
    assert new is not None and new.module_set() == {Module.ARCHIVES} and new.revoked_at is None

    cancel = access_url(company, f"/invitations/{new.public_id}/annuler")
    assert admin_client.post(cancel, data={"csrf_token": token}).status_code == 303
    db.session.expire_all()
    assert new.revoked_at is not None
    assert audit_lines(company, "access.invitation_revoked")[0].details["email"] == (
        "eve@martin.test"
    )
    assert (
        "eve@martin.test"
        not in text(admin_client.get(access_url(company))).split("Invitations en attente")[1]
    )
    # Cancelling twice says so.
    twice = admin_client.post(cancel, data={"csrf_token": token})
    assert twice.status_code == 409 and "déjà été annulée" in text(twice)


# --- the audit list ----------------------------------------------------------------------


def test_journal_lists_the_companys_changes_newest_first_in_words_50_a_page(
    admin_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    other = make_company(company.firm, "Autre")
    now = utcnow()
    for n in range(55):
        db.session.add(
            AuditEvent(
                firm_id=company.firm_id,
                company_id=company.id,
                actor_id=admin.id,
                actor_label="Alice Admin",
                action="access.updated",
                details={
                    "email": f"u{n}@martin.test",
                    "before": {"role": "user", "modules": ["depot"]},
                    "after": {"role": "admin", "modules": ["depot", "archives"]},
                },
                at=now + timedelta(seconds=n),
            )
        )
    db.session.add(
        AuditEvent(company_id=other.id, action="access.removed", details={"email": "x@autre.test"})
    )
    db.session.commit()
    url = f"/entreprises/{company.public_id}/journal"
    first = text(admin_client.get(url))
    rows = re.findall(r"u(\d+)@martin.test", first)
    assert len(rows) == 50 and rows[0] == "54" and rows[-1] == "5"
    assert "Droits modifiés" in first
    assert (
        "u54@martin.test : utilisateur, Déposez vos documents → administrateur, "
        "Déposez vos documents, Accédez à vos archives"
    ) in first
    assert "x@autre.test" not in first
    second = text(admin_client.get(url + "?page=2"))
    assert re.findall(r"u(\d+)@martin.test", second) == ["4", "3", "2", "1", "0"]
    assert "Entreprise créée" in second
    assert admin_client.get(url + "?page=abc").status_code == 200


# --- settings (the firm's) ---------------------------------------------------------------


def test_staff_set_advanced_modules_and_exercice_audited(
    portal_app: Flask, portal_client: FlaskClient, company: Company
) -> None:
    staff = make_staff(company.firm)
    sign_in(portal_client, portal_app, staff)
    url = f"/entreprises/{company.public_id}/parametres"
    response = portal_client.post(
        url,
        data={
            "csrf_token": csrf_token(portal_client, url),
            "advanced_deposit": "y",
            "advanced_archives": "y",
            "exercice_start": "2025-07-01",
            "exercice_end": "30/06/2026",
        },
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert company.advanced() == {Module.DEPOSIT, Module.ARCHIVES}
    assert str(company.exercice_start) == "2025-07-01" and str(company.exercice_end) == "2026-06-30"
    [line] = audit_lines(company, "settings.advanced_modules")
    assert line.details == {"before": ["archives", "compta"], "after": ["archives", "depot"]}
    assert audit_lines(company, "company.updated")[0].details["exercice_after"] == [
        "2025-07-01",
        "2026-06-30",
    ]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2025-13-01", "", "Date non valable : indiquez-la au format JJ/MM/AAAA"),
        ("2025-07-01", "2025-06-30", "La date de clôture de l'exercice doit suivre"),
    ],
)
def test_settings_refuse_bad_dates(
    portal_app: Flask,
    portal_client: FlaskClient,
    company: Company,
    start: str,
    end: str,
    expected: str,
) -> None:
    sign_in(portal_client, portal_app, make_staff(company.firm))
    url = f"/entreprises/{company.public_id}/parametres"
    response = portal_client.post(
        url,
        data={
            "csrf_token": csrf_token(portal_client, url),
            "exercice_start": start,
            "exercice_end": end,
        },
    )
    assert response.status_code == 422 and expected in text(response)


def test_company_admins_do_not_change_settings(admin_client: FlaskClient, company: Company) -> None:
    url = f"/entreprises/{company.public_id}/parametres"
    assert admin_client.get(url).status_code == 403
    token = csrf_token(admin_client, access_url(company))
    response = admin_client.post(url, data={"csrf_token": token, "advanced_deposit": "y"})
    assert response.status_code == 403
    db.session.expire_all()
    assert company.advanced() == {Module.COMPTA, Module.ARCHIVES}
