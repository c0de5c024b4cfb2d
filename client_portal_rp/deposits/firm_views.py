"""The firm's side of « Déposez vos documents »: the inbox across the firm's companies
(`/cabinet/<firm_id>/depots`), the actions on one deposit, and the missing-piece requests of a
company (`/cabinet/<firm_id>/entreprises/<company_id>/demandes`).

Every route goes through `firm_view` (the firm's staff only, 404 for anyone else), then finds
the company or the deposit among the firm's own (404 otherwise). The routes live on the
deposits blueprint; this module is imported by `client_portal_rp/deposits/__init__.py`, so
they are on it before the app registers it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from client_portal_rp.companies import deposit_types
from client_portal_rp.deposits import inbox, requests
from client_portal_rp.deposits.mailbox import mailbox_address
from client_portal_rp.deposits.views import bp
from client_portal_rp.extensions import db
from client_portal_rp.models import Company, Deposit, DepositStatus, PieceRequest, PortalUser
from client_portal_rp.tenancy import FirmAccess, firm_view, one_of_company
from relying_party.views import safe_next


class NoteForm(FlaskForm):
    note = TextAreaField(
        "Note du cabinet",
        validators=[Length(max=inbox.MAX_NOTE, message="La note fait 2000 caractères au plus.")],
    )


class PieceRequestForm(FlaskForm):
    message = TextAreaField(
        "Pièce demandée",
        validators=[
            DataRequired(message="Décrivez la pièce demandée."),
            Length(
                max=requests.MAX_MESSAGE,
                message="La demande fait 2000 caractères au plus.",
            ),
        ],
    )


def deposit_links(deposit: Deposit) -> dict[str, str]:
    """Links to open and download the file through the company's own deposit routes (staff
    have every module there). Empty while the deposits pages do not offer them."""
    links: dict[str, str] = {}
    for name, endpoint in (("open", "deposits.view_file"), ("download", "deposits.download")):
        if endpoint in current_app.view_functions:
            links[name] = url_for(
                endpoint,
                company_id=deposit.company.public_id,
                deposit_id=deposit.public_id,
            )
    return links


def _render_inbox(
    firm_access: FirmAccess,
    args: Mapping[str, str],
    *,
    status: int = 200,
    error: str | None = None,
    note_for: str | None = None,
    note_text: str = "",
) -> tuple[str, int]:
    wanted = inbox.parse_filter(firm_access.firm, args)
    page = inbox.inbox_page(firm_access.firm, wanted)
    if wanted.errors and status == 200:
        status = 400
    return render_template(
        "deposits/inbox.html",
        firm=firm_access.firm,
        wanted=wanted,
        page=page,
        companies=inbox.firm_companies(firm_access.firm),
        deposit_types=deposit_types(firm_access.firm.id),
        statuses=list(DepositStatus),
        status_label=lambda value: DepositStatus(value).label,
        error=error,
        note_for=note_for,
        note_text=note_text,
        deposit_links=deposit_links,
        here=url_for("deposits.inbox", firm_id=firm_access.firm.public_id, **wanted.query_args()),
    ), status


@bp.get("/cabinet/<firm_id>/depots", endpoint="inbox")
@firm_view
def inbox_index(firm_access: FirmAccess) -> tuple[str, int]:
    return _render_inbox(firm_access, request.args)


def _back(firm_access: FirmAccess) -> Response:
    target = safe_next(request.form.get("next"))
    inbox_path = url_for("deposits.inbox", firm_id=firm_access.firm.public_id)
    if not target or not target.startswith(inbox_path):
        target = inbox_path
    return redirect(target, code=303)


def _filter_of_next() -> dict[str, str]:
    """The filter of the inbox page the form came from (its `next`), to render it again."""
    target = safe_next(request.form.get("next")) or ""
    return dict(parse_qsl(target.partition("?")[2]))


def _action(
    firm_access: FirmAccess,
    deposit_id: str,
    action: Callable[[Deposit, PortalUser], None],
    success: Callable[[Deposit], str],
) -> Response:
    deposit = inbox.firm_deposit(firm_access.firm, deposit_id)
    try:
        action(deposit, firm_access.user)
    except inbox.InboxError as refused:
        db.session.rollback()
        flash(refused.message, "error")
        return _back(firm_access)
    db.session.commit()
    flash(success(deposit), "success")
    return _back(firm_access)


@bp.post("/cabinet/<firm_id>/depots/<deposit_id>/prendre", endpoint="inbox_take")
@firm_view
def inbox_take(firm_access: FirmAccess, deposit_id: str) -> Response:
    return _action(
        firm_access,
        deposit_id,
        inbox.take,
        lambda d: _("« %(name)s » est pris en charge.", name=d.filename),
    )


@bp.post("/cabinet/<firm_id>/depots/<deposit_id>/traiter", endpoint="inbox_process")
@firm_view
def inbox_process(firm_access: FirmAccess, deposit_id: str) -> Response:
    return _action(
        firm_access,
        deposit_id,
        inbox.mark_processed,
        lambda d: _("« %(name)s » est traité.", name=d.filename),
    )


@bp.post("/cabinet/<firm_id>/depots/<deposit_id>/note", endpoint="inbox_annotate")
@firm_view
def inbox_annotate(firm_access: FirmAccess, deposit_id: str) -> Response | tuple[str, int]:
    deposit = inbox.firm_deposit(firm_access.firm, deposit_id)
    form = NoteForm()
    typed = request.form.get("note", "")
    if not form.validate():
        message = _(next(iter(form.note.errors), "La note n'a pas été enregistrée."))
        return _render_inbox_for(firm_access, message, deposit, typed)
    try:
        inbox.annotate(deposit, firm_access.user, form.note.data or "")
    except inbox.InboxError as refused:
        db.session.rollback()
        return _render_inbox_for(firm_access, refused.message, deposit, typed)
    db.session.commit()
    flash(_("La note sur « %(name)s » est enregistrée.", name=deposit.filename), "success")
    return _back(firm_access)


def _render_inbox_for(
    firm_access: FirmAccess, message: str, deposit: Deposit, typed: str
) -> tuple[str, int]:
    return _render_inbox(
        firm_access,
        _filter_of_next(),
        status=422,
        error=message,
        note_for=deposit.public_id,
        note_text=typed,
    )


# --- missing-piece requests ----------------------------------------------------------------


def _render_requests(
    firm_access: FirmAccess, company: Company, form: PieceRequestForm, status: int = 200
) -> tuple[str, int]:
    return render_template(
        "deposits/requests.html",
        firm=firm_access.firm,
        company=company,
        form=form,
        piece_requests=requests.company_requests(company),
        recipients=requests.recipients(company),
        mailbox_address=mailbox_address(company),
    ), status


@bp.get("/cabinet/<firm_id>/entreprises/<company_id>/demandes", endpoint="requests")
@firm_view
def requests_index(firm_access: FirmAccess, company_id: str) -> tuple[str, int]:
    company = inbox.firm_company(firm_access.firm, company_id)
    return _render_requests(firm_access, company, PieceRequestForm(formdata=None))


@bp.post("/cabinet/<firm_id>/entreprises/<company_id>/demandes", endpoint="request_create")
@firm_view
def request_create(firm_access: FirmAccess, company_id: str) -> Response | tuple[str, int]:
    company = inbox.firm_company(firm_access.firm, company_id)
    form = PieceRequestForm()
    if not form.validate():
        return _render_requests(firm_access, company, form, 422)
    try:
        requests.create_request(company, form.message.data or "", firm_access.user)
    except requests.RequestRefused as refused:
        db.session.rollback()
        form.message.errors = [refused.message]
        return _render_requests(firm_access, company, form, 422)
    db.session.commit()
    count = len(requests.recipients(company))
    if count:
        flash(
            _(
                "La demande est envoyée à %(count)s personne(s) de %(company)s.",
                count=count,
                company=company.name,
            ),
            "success",
        )
    else:
        flash(
            _(
                "La demande est enregistrée, mais personne chez %(company)s n'a le module "
                "« Déposez vos documents » : elle ne part pas par e-mail.",
                company=company.name,
            ),
            "warning",
        )
    return redirect(
        url_for(
            "deposits.requests",
            firm_id=firm_access.firm.public_id,
            company_id=company.public_id,
        ),
        code=303,
    )


@bp.post(
    "/cabinet/<firm_id>/entreprises/<company_id>/demandes/<request_id>/clore",
    endpoint="request_close",
)
@firm_view
def request_close(firm_access: FirmAccess, company_id: str, request_id: str) -> Response:
    company = inbox.firm_company(firm_access.firm, company_id)
    piece_request = one_of_company(PieceRequest, company, request_id)
    try:
        requests.close_request(piece_request, firm_access.user)
    except requests.RequestRefused as refused:
        db.session.rollback()
        flash(refused.message, "error")
    else:
        db.session.commit()
        flash(_("La demande est close : plus de rappel."), "success")
    return redirect(
        url_for(
            "deposits.requests",
            firm_id=firm_access.firm.public_id,
            company_id=company.public_id,
        ),
        code=303,
    )
