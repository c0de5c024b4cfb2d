"""`/api/v1/companies/{id}/users` and `/invitations`: « Administrez vos accès » as JSON, through
the page's services: the same rules (the last admin can neither remove nor demote themself), the
same audit lines, the invitation's email through the outbox; the page's rights (scope
`portal.accesses`, admins and the firm's staff only, tenancy)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from client_portal_rp import invitations
from client_portal_rp.extensions import db
from client_portal_rp.models import (
    AuditEvent,
    Company,
    Invitation,
    Membership,
    Module,
    OutboxMessage,
    PortalUser,
    Role,
)
from tests.client_portal_rp.api.support import bearer, token_for
from tests.client_portal_rp.conftest import make_company, make_firm, make_member, make_staff
from tests.helpers import Inbox


@pytest.fixture
def company(portal_app: Flask) -> Company:
    return make_company(make_firm())


@pytest.fixture
def admin(company: Company) -> PortalUser:
    from tests.client_portal_rp.conftest import make_user

    return make_member(
        company, make_user("alice@martin.test", "Alice Admin"), role=Role.ADMIN, modules=set()
    )


@pytest.fixture
def worker(company: Company) -> PortalUser:
    from tests.client_portal_rp.conftest import make_user

    return make_member(
        company, make_user("bob@martin.test", "Bob Martin"), modules={Module.DEPOSIT}
    )


def call(
    client: FlaskClient, user: PortalUser, method: str, path: str, body: Any = None, **token: Any
) -> Any:
    headers = bearer(token_for(user, **token))
    if body is None:
        return client.open(path, method=method, headers=headers)
    return client.open(path, method=method, headers=headers, json=body)


def users_url(company: Company, user: PortalUser | None = None) -> str:
    base = f"/api/v1/companies/{company.public_id}/users"
    return f"{base}/{user.public_id}" if user else base


def invitations_url(company: Company, invitation_id: str = "") -> str:
    base = f"/api/v1/companies/{company.public_id}/invitations"
    return f"{base}/{invitation_id}" if invitation_id else base


def problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    body: dict[str, Any] = answer.get_json()
    return body


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


def invite(company: Company, by: PortalUser, email: str = "denise@martin.test") -> Invitation:
    new = invitations.invite(
        firm=company.firm,
        company=company,
        email=email,
        name="Denise",
        role=Role.USER,
        modules={Module.ARCHIVES},
        invited_by=by,
    )
    db.session.commit()
    return new.invitation


# --- the list ----------------------------------------------------------------------------


def test_list_shows_members_with_role_and_rights_and_pending_invitations(
    api_client: FlaskClient, company: Company, admin: PortalUser, worker: PortalUser
) -> None:
    pending = invite(company, admin)
    answer = call(api_client, admin, "GET", users_url(company))
    assert answer.status_code == 200
    members = {item["email"]: item for item in answer.json["items"]}
    assert set(members) == {"alice@martin.test", "bob@martin.test"}
    bob = members["bob@martin.test"]
    assert bob["id"] == worker.public_id
    assert (bob["name"], bob["role"], bob["role_label"]) == ("Bob Martin", "user", "Utilisateur")
    assert bob["modules"] == {"depot": True, "compta": False, "archives": False}
    assert bob["is_self"] is False and members["alice@martin.test"]["is_self"] is True
    [invitation] = answer.json["invitations"]
    assert invitation["id"] == pending.public_id
    assert (invitation["email"], invitation["role"], invitation["expired"]) == (
        "denise@martin.test",
        "user",
        False,
    )
    assert invitation["modules"] == {"depot": False, "compta": False, "archives": True}
    assert "token" not in str(invitation) and "link" not in invitation


# --- PATCH a member ----------------------------------------------------------------------


def test_patch_changes_role_and_rights_with_an_audit_line_before_after(
    api_client: FlaskClient, company: Company, admin: PortalUser, worker: PortalUser
) -> None:
    answer = call(
        api_client,
        admin,
        "PATCH",
        users_url(company, worker),
        {"role": "admin", "modules": {"compta": True, "depot": False}},
    )
    assert answer.status_code == 200
    assert answer.json["role"] == "admin"
    assert answer.json["modules"] == {"depot": False, "compta": True, "archives": False}
    changed = membership(company, worker)
    assert changed is not None
    assert (changed.role, changed.modules()) == ("admin", {Module.COMPTA})
    [line] = audit_lines(company, "access.updated")
    assert line.actor_id == admin.id
    assert line.details["before"] == {"role": "user", "modules": ["depot"]}
    assert line.details["after"] == {"role": "admin", "modules": ["compta"]}


def test_patch_leaves_absent_fields_alone_and_writes_no_line_when_nothing_changes(
    api_client: FlaskClient, company: Company, admin: PortalUser, worker: PortalUser
) -> None:
    answer = call(
        api_client, admin, "PATCH", users_url(company, worker), {"modules": {"archives": True}}
    )
    assert answer.status_code == 200
    assert (answer.json["role"], answer.json["modules"]) == (
        "user",
        {"depot": True, "compta": False, "archives": True},
    )
    again = call(api_client, admin, "PATCH", users_url(company, worker), {})
    assert again.status_code == 200
    assert len(audit_lines(company, "access.updated")) == 1


def test_the_last_admin_cannot_demote_themself_409_with_the_pages_message(
    api_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    answer = call(api_client, admin, "PATCH", users_url(company, admin), {"role": "user"})
    body = problem(answer, 409)
    assert body["code"] == "access_refused"
    assert body["detail"].startswith("Vous êtes le dernier administrateur de Boulangerie Martin")
    assert "retirer ce rôle" in body["detail"]
    found = membership(company, admin)
    assert found is not None and found.role == "admin"
    assert audit_lines(company, "access.updated") == []


def test_an_admin_may_change_their_own_modules_and_step_down_when_another_admin_exists(
    api_client: FlaskClient, company: Company, admin: PortalUser, worker: PortalUser
) -> None:
    call(api_client, admin, "PATCH", users_url(company, worker), {"role": "admin"})
    answer = call(api_client, admin, "PATCH", users_url(company, admin), {"role": "user"})
    assert answer.status_code == 200 and answer.json["is_self"] is True
    found = membership(company, admin)
    assert found is not None and found.role == "user"


ROLE_ERROR = "Choisissez le rôle : utilisateur ou administrateur."
MODULES_ERROR = '« modules » est un objet : {"depot": true, "compta": false, …}.'


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"role": "owner"}, "role", ROLE_ERROR),
        ({"role": None}, "role", ROLE_ERROR),
        ({"modules": {"depot": "peut-être"}}, "modules.depot", "Indiquez true ou false."),
        ({"modules": ["depot"]}, "modules", MODULES_ERROR),
        ({"modules": None}, "modules", MODULES_ERROR),
        ({"modules": {"paie": True}}, "modules.paie", "Champ inconnu."),
        ({"rights": "all"}, "rights", "Champ inconnu."),
    ],
)
def test_patch_refuses_wrong_data_with_a_french_422(
    api_client: FlaskClient,
    company: Company,
    admin: PortalUser,
    worker: PortalUser,
    body: dict[str, Any],
    field: str,
    message: str,
) -> None:
    answer = call(api_client, admin, "PATCH", users_url(company, worker), body)
    refused = problem(answer, 422)
    assert refused["title"] == "Données refusées"
    assert refused["errors"] == {field: [message]}
    found = membership(company, worker)
    assert found is not None and (found.role, found.modules()) == ("user", {Module.DEPOSIT})


def test_a_json_array_body_is_a_422(
    api_client: FlaskClient, company: Company, admin: PortalUser, worker: PortalUser
) -> None:
    answer = call(api_client, admin, "PATCH", users_url(company, worker), ["admin"])
    refused = problem(answer, 422)
    assert refused["errors"] == {"_schema": ["Le corps de la requête doit être un objet JSON."]}


# --- DELETE a member ---------------------------------------------------------------------


def test_delete_removes_the_membership_with_an_audit_line(
    api_client: FlaskClient, company: Company, admin: PortalUser, worker: PortalUser
) -> None:
    answer = call(api_client, admin, "DELETE", users_url(company, worker))
    assert answer.status_code == 204 and answer.data == b""
    assert membership(company, worker) is None
    [line] = audit_lines(company, "access.removed")
    assert line.details["email"] == "bob@martin.test" and line.actor_id == admin.id
    # Gone: a second delete is a 404.
    problem(call(api_client, admin, "DELETE", users_url(company, worker)), 404)


def test_the_last_admin_cannot_remove_themself(
    api_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    body = problem(call(api_client, admin, "DELETE", users_url(company, admin)), 409)
    assert "supprimer votre propre accès" in body["detail"]
    assert membership(company, admin) is not None
    assert audit_lines(company, "access.removed") == []


def test_the_firms_staff_may_remove_the_last_admin(
    api_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    staff = make_staff(company.firm)
    answer = call(api_client, staff, "DELETE", users_url(company, admin))
    assert answer.status_code == 204
    assert membership(company, admin) is None


# --- invitations -------------------------------------------------------------------------


def test_invite_creates_the_invitation_and_sends_one_email_through_the_outbox(
    api_client: FlaskClient, company: Company, admin: PortalUser, portal_smtp: Inbox
) -> None:
    answer = call(
        api_client,
        admin,
        "POST",
        invitations_url(company),
        {
            "email": " Denise@Martin.TEST ",
            "name": "Denise Durand",
            "role": "admin",
            "modules": {"depot": True, "compta": True},
        },
    )
    assert answer.status_code == 201, answer.json
    assert answer.json["email"] == "denise@martin.test"
    assert answer.json["modules"] == {"depot": True, "compta": True, "archives": False}
    invitation = db.session.scalar(select(Invitation).where(Invitation.company_id == company.id))
    assert invitation is not None and invitation.public_id == answer.json["id"]
    assert (invitation.role, invitation.module_set()) == ("admin", {Module.DEPOSIT, Module.COMPTA})
    [outbox] = db.session.scalars(select(OutboxMessage)).all()
    assert outbox.recipient == "denise@martin.test"
    [message] = portal_smtp.messages
    assert message["To"] == "denise@martin.test"
    assert "Alice Admin vous invite" in portal_smtp.text_of(message)
    [line] = audit_lines(company, "access.invited")
    assert line.actor_id == admin.id


def test_inviting_a_member_again_is_409_and_sends_nothing(
    api_client: FlaskClient, company: Company, admin: PortalUser, worker: PortalUser
) -> None:
    answer = call(
        api_client,
        admin,
        "POST",
        invitations_url(company),
        {"email": "BOB@martin.test", "role": "user"},
    )
    assert "a déjà accès à Boulangerie Martin" in problem(answer, 409)["detail"]
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0
    assert db.session.scalar(select(func.count(Invitation.id))) == 0


@pytest.mark.parametrize(
    ("body", "fields", "message"),
    [
        ({"role": "user"}, ["email"], "Ce champ est obligatoire."),
        ({"email": "denise.martin.test", "role": "user"}, ["email"], "un seul « @ »"),
        ({"email": "denise@martin.test"}, ["role"], "Ce champ est obligatoire."),
        ({"email": "denise@martin.test", "role": "chef"}, ["role"], "Choisissez le rôle"),
        ({"email": 12, "role": "user", "name": "x" * 301}, ["email", "name"], "texte"),
    ],
)
def test_invite_refuses_wrong_data_in_french(
    api_client: FlaskClient,
    company: Company,
    admin: PortalUser,
    body: dict[str, Any],
    fields: list[str],
    message: str,
) -> None:
    refused = problem(call(api_client, admin, "POST", invitations_url(company), body), 422)
    assert sorted(refused["errors"]) == fields
    assert message in refused["errors"][fields[0]][0]
    assert db.session.scalar(select(func.count(Invitation.id))) == 0


def test_cancel_an_invitation_then_cancelling_again_is_409(
    api_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    pending = invite(company, admin)
    answer = call(api_client, admin, "DELETE", invitations_url(company, pending.public_id))
    assert answer.status_code == 204
    db.session.expire_all()
    assert pending.revoked_at is not None
    assert len(audit_lines(company, "access.invitation_revoked")) == 1
    again = call(api_client, admin, "DELETE", invitations_url(company, pending.public_id))
    assert problem(again, 409)["detail"] == "Cette invitation a déjà été annulée."
    listed = call(api_client, admin, "GET", users_url(company)).json
    assert listed["invitations"] == []


# --- rights ------------------------------------------------------------------------------


def every_operation(
    company: Company, user: PortalUser, invitation_id: str
) -> list[tuple[str, str, Any]]:
    return [
        ("GET", users_url(company), None),
        ("PATCH", users_url(company, user), {"role": "user"}),
        ("DELETE", users_url(company, user), None),
        ("POST", invitations_url(company), {"email": "x@martin.test", "role": "user"}),
        ("DELETE", invitations_url(company, invitation_id), None),
    ]


def test_a_plain_user_gets_403_on_every_operation(
    api_client: FlaskClient, company: Company, admin: PortalUser, worker: PortalUser
) -> None:
    pending = invite(company, admin)
    for method, path, body in every_operation(company, admin, pending.public_id):
        refused = problem(call(api_client, worker, method, path, body), 403)
        assert refused["code"] == "manage_refused", (method, path)
    assert membership(company, admin) is not None


def test_without_the_accesses_scope_it_is_403_insufficient_scope(
    api_client: FlaskClient, company: Company, admin: PortalUser, worker: PortalUser
) -> None:
    pending = invite(company, admin)
    scopes = ("portal.deposits", "portal.accounting", "portal.archives")
    for method, path, body in every_operation(company, worker, pending.public_id):
        refused = problem(call(api_client, admin, method, path, body, scopes=scopes), 403)
        assert refused["code"] == "insufficient_scope", (method, path)


def test_another_companys_people_and_invitations_are_404(
    api_client: FlaskClient, company: Company, admin: PortalUser
) -> None:
    theirs = make_company(make_firm("Autre cabinet"), name="Pas la sienne")
    their_admin = make_member(theirs, role=Role.ADMIN)
    their_invitation = invite(theirs, their_admin)
    # Their company: 404 as if it did not exist.
    for method, path, body in every_operation(theirs, their_admin, their_invitation.public_id):
        problem(call(api_client, admin, method, path, body), 404)
    # Their person and their invitation under my company: 404 too, nothing changed.
    for method, path, body in every_operation(company, their_admin, their_invitation.public_id):
        if "users/" in path or "invitations/" in path:
            problem(call(api_client, admin, method, path, body), 404)
    assert membership(theirs, their_admin) is not None
    db.session.expire_all()
    assert their_invitation.revoked_at is None


def test_no_token_is_401_before_the_body_is_read(api_client: FlaskClient, company: Company) -> None:
    answer = api_client.post(invitations_url(company), json={"role": "chef"})
    assert problem(answer, 401)["code"] == "unauthorized"


def test_the_document_lists_the_access_operations(api_client: FlaskClient) -> None:
    spec: dict[str, Any] = api_client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    one = paths["/api/v1/companies/{company_id}/users/{user_id}"]
    assert set(one) >= {"patch", "delete"}
    assert one["patch"]["tags"] == ["Accès"]
    assert list(one["patch"]["responses"]["409"]["content"]) == ["application/problem+json"]
    assert "204" in one["delete"]["responses"]
    created = paths["/api/v1/companies/{company_id}/invitations"]["post"]
    assert "201" in created["responses"] and "422" in created["responses"]
    assert "delete" in paths["/api/v1/companies/{company_id}/invitations/{invitation_id}"]
