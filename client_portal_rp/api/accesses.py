"""« Administrez vos accès » as JSON: the company's members with their role and module rights,
the pending invitations, changing and removing a member, inviting and cancelling an invitation.

Rights are the page's (`api_company(manage=True)`: scope `portal.accesses`, and the company's
admins or the firm's staff; a plain user gets 403). A member or an invitation named in the URL is
looked up inside the URL's company, so another company's ids are 404. Every change goes through
access/services.py, as the page's do: the same rules (the last admin can neither remove nor
demote themself), the same audit lines (before/after), the invitation's email queued in the
portal's outbox in the same transaction. A refusal of those rules is a 409 problem carrying the
service's French message; refused data, a 422 problem naming the fields.
"""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, DateTime, List, Nested, String
from apiflask.validators import Length, OneOf
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError

from client_portal_rp.access import services
from client_portal_rp.access.services import AccessError
from client_portal_rp.api import bp
from client_portal_rp.api.auth import api_company
from client_portal_rp.api.problems import Problem
from client_portal_rp.extensions import db
from client_portal_rp.models import Invitation, Membership, Module, Role, utcnow
from client_portal_rp.tenancy import Access, one_of_company

TAGS = ["Accès"]
ROLES = [role.value for role in Role]
ROLE_ERROR = _l("Choisissez le rôle : utilisateur ou administrateur.")
REQUIRED = _l("Ce champ est obligatoire.")
EMAIL_TEXT = _l("L'adresse e-mail est un texte, par exemple prenom.nom@entreprise.fr.")


class FrenchSchema(Schema):
    """Refused JSON explained in French (marshmallow's own messages are English)."""

    error_messages = {  # noqa: RUF012 - marshmallow reads the class attribute
        "type": _l("Le corps de la requête doit être un objet JSON."),
        "unknown": _l("Champ inconnu."),
    }


def _boolean(description: str) -> Boolean:
    return Boolean(
        error_messages={
            "invalid": _l("Indiquez true ou false."),
            "null": _l("Indiquez true ou false."),
        },
        metadata={"description": description},
    )


MODULES_OBJECT = _l('« modules » est un objet : {"depot": true, "compta": false, …}.')


class ModuleRights(FrenchSchema):
    """One boolean per module, named by the module's code."""

    error_messages = {"type": MODULES_OBJECT}  # noqa: RUF012 - read by marshmallow

    depot = _boolean("Déposez vos documents")
    compta = _boolean("Consultez votre compta en ligne")
    archives = _boolean("Accédez à vos archives")


class ModuleRightsOut(Schema):
    depot = Boolean(required=True)
    compta = Boolean(required=True)
    archives = Boolean(required=True)


def _role(*, required: bool) -> String:
    return String(
        required=required,
        validate=OneOf(ROLES, error=ROLE_ERROR),
        error_messages={"required": REQUIRED, "null": ROLE_ERROR, "invalid": ROLE_ERROR},
        metadata={"description": "admin ou user", "enum": ROLES},
    )


def _modules() -> Nested:
    return Nested(
        ModuleRights,
        error_messages={"type": MODULES_OBJECT, "null": MODULES_OBJECT},
        metadata={"description": "Droits par module ; un module absent ne change pas"},
    )


class MemberChange(FrenchSchema):
    role = _role(required=False)
    modules = _modules()


def _check_email(value: str) -> None:
    message = services.email_error(value)
    if message:
        raise ValidationError(message)


class InvitationIn(FrenchSchema):
    email = String(
        required=True,
        validate=_check_email,
        error_messages={"required": REQUIRED, "null": REQUIRED, "invalid": EMAIL_TEXT},
        metadata={"description": "L'adresse de la personne : son identifiant de connexion"},
    )
    name = String(
        load_default="",
        validate=Length(max=300, error=_l("Le nom fait 300 caractères au plus.")),
        error_messages={"invalid": _l("Le nom est un texte.")},
    )
    role = _role(required=True)
    modules = _modules()


class MemberOut(Schema):
    id = String(required=True, metadata={"description": "Identifiant public de la personne"})
    name = String(required=True)
    email = String(required=True)
    role = String(required=True, metadata={"enum": ROLES})
    role_label = String(required=True)
    modules = Nested(ModuleRightsOut, required=True)
    is_self = Boolean(required=True, metadata={"description": "La personne du jeton"})
    member_since = DateTime(required=True)


class MemberDetailOut(MemberOut):
    """One member (a class of its own: APIFlask registers a schema nested elsewhere twice)."""


class InvitationOut(Schema):
    id = String(required=True, metadata={"description": "Identifiant public de l'invitation"})
    email = String(required=True)
    name = String(required=True)
    role = String(required=True, metadata={"enum": ROLES})
    modules = Nested(ModuleRightsOut, required=True)
    created_at = DateTime(required=True)
    expires_at = DateTime(required=True)
    expired = Boolean(required=True, metadata={"description": "Le lien ne fonctionne plus"})


class InvitationCreatedOut(InvitationOut):
    """The new invitation (its link goes by email to the person only)."""


class AccessesOut(Schema):
    items = List(Nested(MemberOut), required=True)
    invitations = List(
        Nested(InvitationOut),
        required=True,
        metadata={"description": "Invitations ni acceptées ni annulées (expirées comprises)"},
    )


def _rights(modules: set[Module]) -> dict[str, bool]:
    return {module.value: module in modules for module in Module}


def member_out(access: Access, membership: Membership) -> dict[str, Any]:
    user = membership.user
    return {
        "id": user.public_id,
        "name": user.name,
        "email": user.email,
        "role": membership.role,
        "role_label": services.role_label(membership.role),
        "modules": _rights(membership.modules()),
        "is_self": membership.user_id == access.user.id,
        "member_since": membership.created_at,
    }


def invitation_out(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.public_id,
        "email": invitation.email,
        "name": invitation.name,
        "role": invitation.role,
        "modules": _rights(invitation.module_set()),
        "created_at": invitation.created_at,
        "expires_at": invitation.expires_at,
        "expired": invitation.expires_at <= utcnow(),
    }


def _chosen(current: set[Module], wanted: dict[str, bool] | None) -> set[Module]:
    """`current` with the modules `wanted` names set or cleared (the others unchanged)."""
    chosen = set(current)
    for module in Module:
        if wanted and module.value in wanted:
            if wanted[module.value]:
                chosen.add(module)
            else:
                chosen.discard(module)
    return chosen


def _member_or_404(access: Access, user_id: str) -> Membership:
    membership = services.member_of(access.company, user_id)
    if membership is None:
        raise Problem(
            404,
            _("Ressource introuvable"),
            _("Cette personne n'a pas accès à cette entreprise."),
            code="not_found",
        )
    return membership


def _refused(error: AccessError) -> Problem:
    db.session.rollback()
    return Problem(409, _("Modification refusée"), error.message, code="access_refused")


@bp.get("/companies/<company_id>/users")
@bp.doc(
    summary="Les utilisateurs de l'entreprise et les invitations en attente",
    tags=TAGS,
    responses=[404],
)
@api_company(manage=True)
@bp.output(AccessesOut)
def access_users(access: Access) -> dict[str, Any]:
    return {
        "items": [member_out(access, m) for m in services.members(access.company)],
        "invitations": [invitation_out(i) for i in services.pending_invitations(access.company)],
    }


@bp.patch("/companies/<company_id>/users/<user_id>")
@bp.doc(
    summary="Modifier le rôle ou les droits d'un utilisateur",
    description=(
        "Les champs absents ne changent pas. Le dernier administrateur de l'entreprise ne peut "
        "pas se retirer ce rôle (409)."
    ),
    tags=TAGS,
    responses=[404, 409],
)
@api_company(manage=True)
@bp.input(MemberChange, location="json")
@bp.output(MemberDetailOut)
def access_update_user(access: Access, user_id: str, json_data: dict[str, Any]) -> dict[str, Any]:
    membership = _member_or_404(access, user_id)
    role = Role(json_data.get("role") or membership.role)
    modules = _chosen(membership.modules(), json_data.get("modules"))
    try:
        services.update_member(access, membership, role=role, modules=modules)
    except AccessError as error:
        raise _refused(error) from None
    db.session.commit()
    return member_out(access, membership)


@bp.delete("/companies/<company_id>/users/<user_id>")
@bp.doc(
    summary="Supprimer l'accès d'un utilisateur",
    description=(
        "Ses documents déposés restent. Le dernier administrateur de l'entreprise ne peut pas "
        "supprimer son propre accès (409)."
    ),
    tags=TAGS,
    responses=[404, 409],
)
@api_company(manage=True)
@bp.output({}, status_code=204)
def access_remove_user(access: Access, user_id: str) -> tuple[str, int]:
    membership = _member_or_404(access, user_id)
    try:
        services.remove_member(access, membership)
    except AccessError as error:
        raise _refused(error) from None
    db.session.commit()
    return "", 204


@bp.post("/companies/<company_id>/invitations")
@bp.doc(
    summary="Inviter un utilisateur",
    description=(
        "La personne reçoit par e-mail un lien valable 14 jours ; elle se connecte (ou crée son "
        "compte Sésame) avec cette adresse pour rejoindre l'entreprise avec ce rôle et ces "
        "droits."
    ),
    tags=TAGS,
    responses=[404, 409],
)
@api_company(manage=True)
@bp.input(InvitationIn, location="json")
@bp.output(InvitationCreatedOut, status_code=201)
def access_invite(access: Access, json_data: dict[str, Any]) -> dict[str, Any]:
    try:
        new = services.invite_member(
            access,
            email=json_data["email"],
            name=json_data.get("name") or "",
            role=Role(json_data["role"]),
            modules=_chosen(set(), json_data.get("modules")),
        )
    except AccessError as error:
        raise _refused(error) from None
    db.session.commit()
    return invitation_out(new.invitation)


@bp.delete("/companies/<company_id>/invitations/<invitation_id>")
@bp.doc(
    summary="Annuler une invitation",
    description="Son lien cesse de fonctionner aussitôt.",
    tags=TAGS,
    responses=[404, 409],
)
@api_company(manage=True)
@bp.output({}, status_code=204)
def access_revoke_invitation(access: Access, invitation_id: str) -> tuple[str, int]:
    invitation = one_of_company(Invitation, access.company, invitation_id)
    try:
        services.revoke_invitation(access, invitation)
    except AccessError as error:
        raise _refused(error) from None
    db.session.commit()
    return "", 204
