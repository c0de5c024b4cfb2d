"""The firm's home (`/cabinet/<firm_id>/`): its client companies (with their number of users
and links to their pages), « Ajouter une entreprise » (with its first admin's invitation), an
admin's invitation for an existing company, and the firm's staff with « Inviter un
collaborateur du cabinet ».

Every route goes through `firm_view` (the firm's staff only, 404 for anyone else); a company
named in the URL is looked up among the firm's own (404 otherwise).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from client_portal_rp import companies
from client_portal_rp.access import services
from client_portal_rp.access.forms import ActionForm, parse_date
from client_portal_rp.access.services import AccessError
from client_portal_rp.extensions import db
from client_portal_rp.firm.forms import CompanyForm, PersonInviteForm
from client_portal_rp.models import Company, FirmStaff, Invitation, Membership, PortalUser, Role
from client_portal_rp.tenancy import ALL_MODULES, Access, FirmAccess, firm_view

bp = Blueprint("firm", __name__)

Page = str | tuple[str, int] | Response


def _home_url(firm_access: FirmAccess) -> str:
    return url_for("firm.index", firm_id=firm_access.firm.public_id)


def _endpoint_url(endpoint: str, **values: Any) -> str | None:
    """A link to another module's page, when that module offers it."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


def _firm_companies(firm_access: FirmAccess) -> list[tuple[Company, int]]:
    counts = dict(
        db.session.execute(
            select(Membership.company_id, func.count(Membership.id))
            .join(Company, Company.id == Membership.company_id)
            .where(Company.firm_id == firm_access.firm.id)
            .group_by(Membership.company_id)
        ).all()
    )
    rows = db.session.scalars(
        select(Company)
        .where(Company.firm_id == firm_access.firm.id)
        .order_by(func.lower(Company.name))
    )
    return [(company, int(counts.get(company.id, 0))) for company in rows]


def _staff(firm_access: FirmAccess) -> list[PortalUser]:
    return list(
        db.session.scalars(
            select(PortalUser)
            .join(FirmStaff, FirmStaff.user_id == PortalUser.id)
            .where(FirmStaff.firm_id == firm_access.firm.id)
            .order_by(func.lower(PortalUser.name), func.lower(PortalUser.email))
        )
    )


def _render_home(
    firm_access: FirmAccess,
    *,
    company_form: CompanyForm | None = None,
    staff_form: PersonInviteForm | None = None,
    company_error: str | None = None,
    staff_error: str | None = None,
    status: int = 200,
) -> Page:
    firm = firm_access.firm
    return render_template(
        "firm/index.html",
        firm=firm,
        companies=_firm_companies(firm_access),
        staff=_staff(firm_access),
        pending_staff=services.pending_staff_invitations(firm),
        company_form=company_form or CompanyForm(formdata=None),
        staff_form=staff_form or PersonInviteForm(formdata=None, prefix="staff"),
        company_error=company_error,
        staff_error=staff_error,
        inbox_url=_endpoint_url("deposits.inbox", firm_id=firm.public_id)
        or f"/cabinet/{firm.public_id}/depots",
        requests_url=lambda company: _endpoint_url(
            "deposits.requests", firm_id=firm.public_id, company_id=company.public_id
        ),
        me=firm_access.user,
    ), status


def company_of_firm(firm_access: FirmAccess, company_id: str) -> Company:
    if not company_id or len(company_id) > 64:
        abort(404)
    company = db.session.scalar(
        select(Company).where(
            Company.public_id == company_id, Company.firm_id == firm_access.firm.id
        )
    )
    if company is None:
        abort(404)
    return company


def _as_staff(firm_access: FirmAccess, company: Company) -> Access:
    return Access(firm_access.user, company, "staff", ALL_MODULES, None)


def _invite_admin(firm_access: FirmAccess, company: Company, email: str, name: str) -> str:
    new = services.invite_member(
        _as_staff(firm_access, company),
        email=email,
        name=name,
        role=Role.ADMIN,
        modules=set(ALL_MODULES),
    )
    return new.invitation.email


@bp.get("/cabinet/<firm_id>/")
@firm_view
def index(firm_access: FirmAccess) -> Page:
    return _render_home(firm_access)


@bp.post("/cabinet/<firm_id>/entreprises")
@firm_view
def add_company(firm_access: FirmAccess) -> Page:
    form = CompanyForm()
    if not form.validate_on_submit():
        return _render_home(firm_access, company_form=form, status=422)
    try:
        company = companies.add_company(
            firm_access.firm,
            siren=form.siren.data or "",
            name=form.name.data or "",
            exercice_start=parse_date(form.exercice_start.data),
            exercice_end=parse_date(form.exercice_end.data),
            actor=firm_access.user,
        )
        admin_email = (form.admin_email.data or "").strip()
        invited = (
            _invite_admin(firm_access, company, admin_email, form.admin_name.data or "")
            if admin_email
            else None
        )
    except (companies.CompanyError, AccessError) as error:
        db.session.rollback()
        return _render_home(firm_access, company_form=form, company_error=error.message, status=422)
    db.session.commit()
    if invited:
        flash(
            _(
                "L'entreprise %(company)s est ajoutée ; une invitation d'administrateur est "
                "envoyée à %(email)s.",
                company=company.name,
                email=invited,
            ),
            "success",
        )
    else:
        flash(_("L'entreprise %(company)s est ajoutée.", company=company.name), "success")
    return redirect(_home_url(firm_access), code=303)


def _render_admin(
    firm_access: FirmAccess,
    company: Company,
    form: PersonInviteForm,
    *,
    error: str | None = None,
    status: int = 200,
) -> Page:
    return render_template(
        "firm/invite_admin.html",
        firm=firm_access.firm,
        company=company,
        form=form,
        error=error,
        admins=[m for m in services.members(company) if m.role == Role.ADMIN.value],
    ), status


@bp.get("/cabinet/<firm_id>/entreprises/<company_id>/administrateur")
@firm_view
def invite_admin_form(firm_access: FirmAccess, company_id: str) -> Page:
    company = company_of_firm(firm_access, company_id)
    return _render_admin(firm_access, company, PersonInviteForm(formdata=None))


@bp.post("/cabinet/<firm_id>/entreprises/<company_id>/administrateur")
@firm_view
def invite_admin(firm_access: FirmAccess, company_id: str) -> Page:
    company = company_of_firm(firm_access, company_id)
    form = PersonInviteForm()
    if not form.validate_on_submit():
        return _render_admin(firm_access, company, form, status=422)
    try:
        email = _invite_admin(firm_access, company, form.email.data or "", form.name.data or "")
    except AccessError as error:
        db.session.rollback()
        return _render_admin(firm_access, company, form, error=error.message, status=409)
    db.session.commit()
    flash(
        _(
            "Invitation d'administrateur de %(company)s envoyée à %(email)s.",
            company=company.name,
            email=email,
        ),
        "success",
    )
    return redirect(_home_url(firm_access), code=303)


@bp.post("/cabinet/<firm_id>/collaborateurs")
@firm_view
def invite_staff(firm_access: FirmAccess) -> Page:
    form = PersonInviteForm(prefix="staff")
    if not form.validate_on_submit():
        return _render_home(firm_access, staff_form=form, status=422)
    try:
        new = services.invite_staff(
            firm_access.firm,
            firm_access.user,
            email=form.email.data or "",
            name=form.name.data or "",
        )
    except AccessError as error:
        db.session.rollback()
        return _render_home(firm_access, staff_form=form, staff_error=error.message, status=409)
    db.session.commit()
    flash(_("Invitation au cabinet envoyée à %(email)s.", email=new.invitation.email), "success")
    return redirect(_home_url(firm_access), code=303)


@bp.post("/cabinet/<firm_id>/collaborateurs/invitations/<invitation_id>/annuler")
@firm_view
def revoke_staff_invitation(firm_access: FirmAccess, invitation_id: str) -> Page:
    if not invitation_id or len(invitation_id) > 64:
        abort(404)
    invitation = db.session.scalar(
        select(Invitation).where(
            Invitation.public_id == invitation_id,
            Invitation.firm_id == firm_access.firm.id,
            Invitation.company_id.is_(None),
        )
    )
    if invitation is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        return _render_home(
            firm_access,
            staff_error=_("Le formulaire a expiré : rechargez la page et recommencez."),
            status=400,
        )
    if invitation.accepted_at is None and invitation.revoked_at is None:
        services.revoke_staff_invitation(firm_access.firm, firm_access.user, invitation)
        db.session.commit()
    flash(_("L'invitation de %(email)s est annulée.", email=invitation.email), "success")
    return redirect(_home_url(firm_access), code=303)
