"""« Administrez vos accès »: the company's users and invitations, « Nouvel utilisateur »,
« Modifier », « Supprimer », the password-reset link, the company's audit list and settings;
and the invitation link's page (`/invitations/<token>`, no login needed).

Every company page goes through `company_view(manage=True)`: 404 for another company's people,
403 for the company's plain users. A member or an invitation named in the URL is looked up
inside the URL's company (`services.member_of`, `one_of_company`), so another company's ids are
404 too. The settings are the firm's (403 for the company's own admins).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from client_portal_rp import accounts, invitations
from client_portal_rp.access import services
from client_portal_rp.access.forms import (
    ActionForm,
    InviteForm,
    MemberForm,
    SettingsForm,
    parse_date,
)
from client_portal_rp.access.services import AccessError
from client_portal_rp.accounts import current_user
from client_portal_rp.extensions import db
from client_portal_rp.models import Invitation, Membership, Module, Role, utcnow
from client_portal_rp.tenancy import Access, company_view, forbidden, one_of_company
from relying_party import current_login

bp = Blueprint("access", __name__)

Page = str | tuple[str, int] | Response


def _index_url(access: Access) -> str:
    return url_for("access.index", company_id=access.company.public_id)


def _render_index(access: Access, *, error: str | None = None, status: int = 200) -> Page:
    return render_template(
        "access/index.html",
        access=access,
        company=access.company,
        members=services.members(access.company),
        pending=services.pending_invitations(access.company),
        role_label=services.role_label,
        modules=list(Module),
        action_form=ActionForm(),
        error=error,
        now=utcnow(),
    ), status


def _member_or_404(access: Access, user_id: str) -> Membership:
    membership = services.member_of(access.company, user_id)
    if membership is None:
        abort(404)
    return membership


# --- the list ----------------------------------------------------------------------------


@bp.get("/entreprises/<company_id>/acces")
@company_view(manage=True)
def index(access: Access) -> Page:
    return _render_index(access)


# --- « Nouvel utilisateur » --------------------------------------------------------------


def _render_new(
    access: Access, form: InviteForm, *, error: str | None = None, status: int = 200
) -> Page:
    return render_template(
        "access/new.html", access=access, company=access.company, form=form, error=error
    ), status


@bp.get("/entreprises/<company_id>/acces/nouveau")
@company_view(manage=True)
def new(access: Access) -> Page:
    form = InviteForm(formdata=None)
    if request.args.get("role") == Role.ADMIN.value:  # the firm's « Inviter l'administrateur »
        form.role.data = Role.ADMIN.value
        form.show_modules(set(Module))
    else:
        form.role.data = Role.USER.value
        form.show_modules({Module.DEPOSIT})
    return _render_new(access, form)


@bp.post("/entreprises/<company_id>/acces/nouveau")
@company_view(manage=True)
def create(access: Access) -> Page:
    form = InviteForm()
    if not form.validate_on_submit():
        return _render_new(access, form, status=422)
    try:
        services.invite_member(
            access,
            email=form.email.data or "",
            name=form.name.data or "",
            role=Role(form.role.data),
            modules=form.chosen_modules(),
        )
    except AccessError as error:
        return _render_new(access, form, error=error.message, status=409)
    db.session.commit()
    flash(
        _(
            "Invitation envoyée : le lien est valable %(days)s jours.",
            days=invitations.INVITATION_DAYS,
        ),
        "success",
    )
    return redirect(_index_url(access), code=303)


# --- one member: « Modifier », « Supprimer », password-reset link ------------------------


def _render_member(
    access: Access,
    membership: Membership,
    form: MemberForm | None = None,
    *,
    error: str | None = None,
    status: int = 200,
) -> Page:
    if form is None:
        form = MemberForm(formdata=None)
        form.role.data = membership.role
        form.show_modules(membership.modules())
    return render_template(
        "access/member.html",
        access=access,
        company=access.company,
        membership=membership,
        member=membership.user,
        form=form,
        action_form=ActionForm(),
        error=error,
        is_self=membership.user_id == access.user.id,
    ), status


@bp.get("/entreprises/<company_id>/acces/utilisateurs/<user_id>")
@company_view(manage=True)
def member(access: Access, user_id: str) -> Page:
    return _render_member(access, _member_or_404(access, user_id))


@bp.post("/entreprises/<company_id>/acces/utilisateurs/<user_id>")
@company_view(manage=True)
def update(access: Access, user_id: str) -> Page:
    membership = _member_or_404(access, user_id)
    form = MemberForm()
    if not form.validate_on_submit():
        return _render_member(access, membership, form, status=422)
    try:
        changed = services.update_member(
            access, membership, role=Role(form.role.data), modules=form.chosen_modules()
        )
    except AccessError as error:
        db.session.rollback()
        return _render_member(access, membership, form, error=error.message, status=409)
    db.session.commit()
    who = membership.user.name or membership.user.email
    if changed:
        flash(_("Les droits de %(name)s sont modifiés.", name=who), "success")
    else:
        flash(_("Aucun changement pour %(name)s.", name=who), "success")
    return redirect(_index_url(access), code=303)


@bp.post("/entreprises/<company_id>/acces/utilisateurs/<user_id>/supprimer")
@company_view(manage=True)
def remove(access: Access, user_id: str) -> Page:
    membership = _member_or_404(access, user_id)
    if not ActionForm().validate_on_submit():
        return _render_member(access, membership, error=_csrf_message(), status=400)
    who = membership.user.name or membership.user.email
    removed_self = membership.user_id == access.user.id
    try:
        services.remove_member(access, membership)
    except AccessError as error:
        db.session.rollback()
        return _render_member(access, membership, error=error.message, status=409)
    db.session.commit()
    flash(
        _(
            "L'accès de %(name)s à %(company)s est supprimé. Ses documents déposés restent.",
            name=who,
            company=access.company.name,
        ),
        "success",
    )
    if removed_self:
        return redirect(url_for("main.index"), code=303)
    return redirect(_index_url(access), code=303)


@bp.post("/entreprises/<company_id>/acces/utilisateurs/<user_id>/lien-mot-de-passe")
@company_view(manage=True)
def reset_link(access: Access, user_id: str) -> Page:
    membership = _member_or_404(access, user_id)
    if not ActionForm().validate_on_submit():
        return _render_member(access, membership, error=_csrf_message(), status=400)
    try:
        services.send_reset_link(access, membership)
    except AccessError as error:
        db.session.rollback()
        return _render_member(access, membership, error=error.message, status=429)
    db.session.commit()
    flash(
        _(
            "Un e-mail est envoyé à %(email)s avec un lien pour choisir un nouveau mot de passe "
            "sur Sésame.",
            email=membership.user.email,
        ),
        "success",
    )
    return redirect(_index_url(access), code=303)


def _csrf_message() -> str:
    return _("Le formulaire a expiré : rechargez la page et recommencez.")


# --- pending invitations -----------------------------------------------------------------


def _pending_or_404(access: Access, invitation_id: str) -> Invitation:
    invitation = one_of_company(Invitation, access.company, invitation_id)
    return invitation


@bp.post("/entreprises/<company_id>/acces/invitations/<invitation_id>/annuler")
@company_view(manage=True)
def revoke(access: Access, invitation_id: str) -> Page:
    invitation = _pending_or_404(access, invitation_id)
    if not ActionForm().validate_on_submit():
        return _render_index(access, error=_csrf_message(), status=400)
    try:
        services.revoke_invitation(access, invitation)
    except AccessError as error:
        return _render_index(access, error=error.message, status=409)
    db.session.commit()
    flash(_("L'invitation de %(email)s est annulée.", email=invitation.email), "success")
    return redirect(_index_url(access), code=303)


@bp.post("/entreprises/<company_id>/acces/invitations/<invitation_id>/renvoyer")
@company_view(manage=True)
def resend(access: Access, invitation_id: str) -> Page:
    invitation = _pending_or_404(access, invitation_id)
    if not ActionForm().validate_on_submit():
        return _render_index(access, error=_csrf_message(), status=400)
    try:
        services.resend_invitation(access, invitation)
    except AccessError as error:
        return _render_index(access, error=error.message, status=409)
    db.session.commit()
    flash(
        _(
            "Une nouvelle invitation est envoyée à %(email)s ; l'ancien lien ne fonctionne plus.",
            email=invitation.email,
        ),
        "success",
    )
    return redirect(_index_url(access), code=303)


# --- the company's audit list ------------------------------------------------------------


@bp.get("/entreprises/<company_id>/journal")
@company_view(manage=True)
def journal(access: Access) -> Page:
    raw = request.args.get("page", "1")
    page_number = int(raw) if raw.isdigit() and len(raw) < 7 else 1
    page = services.audit_page(access.company, page_number)
    return render_template(
        "access/journal.html",
        access=access,
        company=access.company,
        page=page,
        action_label=services.action_label,
        describe=services.describe,
    )


# --- the company's settings (the firm's staff) -------------------------------------------


def _render_settings(
    access: Access, form: SettingsForm, *, error: str | None = None, status: int = 200
) -> Page:
    return render_template(
        "access/settings.html",
        access=access,
        company=access.company,
        form=form,
        error=error,
    ), status


def _staff_only(access: Access) -> tuple[str, int] | None:
    if access.is_staff:
        return None
    return forbidden(
        _("Seul le cabinet modifie les paramètres de %(company)s.", company=access.company.name)
    )


@bp.get("/entreprises/<company_id>/parametres")
@company_view(manage=True)
def settings(access: Access) -> Page:
    refused = _staff_only(access)
    if refused:
        return refused
    form = SettingsForm(formdata=None)
    advanced = access.company.advanced()
    for module, field in form.advanced_fields():
        field.data = module in advanced
    start, end = access.company.exercice_start, access.company.exercice_end
    form.exercice_start.data = start.isoformat() if start else ""
    form.exercice_end.data = end.isoformat() if end else ""
    return _render_settings(access, form)


@bp.post("/entreprises/<company_id>/parametres")
@company_view(manage=True)
def save_settings(access: Access) -> Page:
    refused = _staff_only(access)
    if refused:
        return refused
    form = SettingsForm()
    if not form.validate_on_submit():
        return _render_settings(access, form, status=422)
    try:
        written = services.update_settings(
            access,
            advanced=form.chosen_advanced(),
            exercice_start=parse_date(form.exercice_start.data),
            exercice_end=parse_date(form.exercice_end.data),
        )
    except AccessError as error:
        db.session.rollback()
        return _render_settings(access, form, error=error.message, status=422)
    db.session.commit()
    flash(
        _("Les paramètres de %(company)s sont enregistrés.", company=access.company.name)
        if written
        else _("Aucun changement."),
        "success",
    )
    return redirect(url_for("access.settings", company_id=access.company.public_id), code=303)


# --- the invitation link -----------------------------------------------------------------


def _destination(invitation: Invitation) -> str:
    if invitation.company is not None:
        return url_for("main.company", company_id=invitation.company.public_id)
    return url_for("firm.index", firm_id=invitation.firm.public_id)


def _place(invitation: Invitation) -> str:
    return invitation.company.name if invitation.company else invitation.firm.name


def _welcome(invitation: Invitation) -> Response:
    flash(_("Bienvenue sur le portail de %(place)s.", place=_place(invitation)), "success")
    return redirect(_destination(invitation), code=303)


def _invitation_page(invitation: Invitation | None, status: int, **context: Any) -> Page:
    return render_template(
        "access/invitation.html",
        invitation=invitation,
        place=_place(invitation) if invitation else "",
        **context,
    ), status


@bp.get("/invitations/<token>")
def invitation(token: str) -> Page:
    """The email's link. Not logged in: keep the token in the session (the login callback
    carries it and accepts the invitation) and offer to log in or to create a Sésame account
    with the invited address. Logged in: accept at once when the login's verified email is the
    invited one, else say whose login this is."""
    found = invitations.find_by_token(token)
    if found is None:
        return _invitation_page(
            None,
            404,
            problem=_(
                "Ce lien d'invitation n'existe pas. Vérifiez que vous avez copié le lien entier "
                "depuis l'e-mail reçu."
            ),
        )
    user = current_user()
    login = current_login()
    if user is not None and found.accepted_at is not None and found.accepted_by_id == user.id:
        return _welcome(found)
    try:
        invitations.check_usable(found)
    except invitations.InvitationError as error:
        return _invitation_page(found, 410, problem=_(error.message))
    if found.accepted_at is not None:
        return _invitation_page(
            found, 410, problem=_("Cette invitation a déjà été utilisée par une autre personne.")
        )
    if user is None or login is None:
        session[accounts.INVITATION_SESSION_KEY] = token
        here = url_for("access.invitation", token=token)
        return _invitation_page(
            found,
            200,
            login_url=url_for("sso.login", next=here),
            signup_url=url_for("sso.login", signup="1", login_hint=found.email, next=here),
        )
    verified = bool(login.claims.get("email_verified")) and bool(login.email)
    if verified and invitations.normalize_email(login.email) == found.email:
        try:
            accounts.accept_invitation_token(token, user, login.email)
        except invitations.InvitationError as error:
            db.session.rollback()
            return _invitation_page(found, 410, problem=_(error.message))
        db.session.commit()
        return _welcome(found)
    return _invitation_page(
        found,
        403,
        mismatch=True,
        signed_in_as=login.email or login.display_name,
        action_form=ActionForm(),
    )
