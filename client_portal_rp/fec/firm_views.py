"""« Importer un FEC »: the firm's page for a client company's FEC (the firm's staff only).

- the exercices already imported (période, lignes, when and by whom, warnings, balanced or not,
  a link to each report), a form to import a file (dates of the exercice optional), and the
  company's payment terms (used for due dates at the next import, L441-10: 0 to 60 days);
- a report page per import: total débit, total crédit, équilibré or the gap, the entries that
  are not balanced, the warnings with their line numbers.

Every route goes through `firm_view` (404 for anyone but the firm's staff) and looks the
company up among the firm's own (404 otherwise: another firm's company is not found).

The upload is exempt from CSRFProtect: the body streams to a temporary file through
uploads.receive_upload (a size limit of its own, PORTAL_FEC_MAX_BYTES, 600 MB by default),
which checks the token (a field before the file) before the first byte of the file is written.
A file with errors is not imported: the page shows the errors with their line numbers (422).
static/js/fec-upload.js sends the same form with XMLHttpRequest to show the upload's progress;
without JavaScript the plain post works the same.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import ValidationError

from client_portal_rp import audit
from client_portal_rp.access.forms import ActionForm, parse_date
from client_portal_rp.config import DEFAULT_FEC_MAX_BYTES
from client_portal_rp.extensions import db
from client_portal_rp.files import safe_display_name
from client_portal_rp.firm.views import company_of_firm
from client_portal_rp.models import Company, FecImport, PortalUser
from client_portal_rp.tenancy import FirmAccess, firm_view
from client_portal_rp.uploads import (
    UploadError,
    UploadTooLarge,
    csrf_check,
    megabytes,
    receive_upload,
)
from relying_party.views import csrf

bp = Blueprint("fec_firm", __name__)

MAX_TERMS_DAYS = 60  # Code de commerce, article L441-10
FILE_FIELD = "fichier"

Page = str | tuple[str, int] | Response


def max_bytes() -> int:
    return int(current_app.config.get("PORTAL_FEC_MAX_BYTES") or DEFAULT_FEC_MAX_BYTES)


def _imports(company: Company) -> list[tuple[FecImport, PortalUser | None]]:
    rows = db.session.execute(
        select(FecImport, PortalUser)
        .outerjoin(PortalUser, PortalUser.id == FecImport.imported_by_id)
        .where(FecImport.company_id == company.id)
        .order_by(FecImport.exercice.desc())
    ).all()
    return [(fec_import, person) for fec_import, person in rows]


def importer_name(fec_import: FecImport, user: PortalUser | None) -> str:
    if user is not None:
        return user.name or user.email
    return fec_import.imported_by_label or "—"


def _render(
    firm_access: FirmAccess,
    company: Company,
    *,
    errors: list[str] | None = None,
    problems: list[Any] | None = None,
    filename: str = "",
    values: dict[str, str] | None = None,
    terms_error: str | None = None,
    terms_value: str | None = None,
    status: int = 200,
) -> Page:
    return render_template(
        "fec/firm_import.html",
        firm=firm_access.firm,
        company=company,
        imports=_imports(company),
        importer_name=importer_name,
        errors=errors or [],
        problems=problems or [],
        filename=filename,
        values=values or {},
        max_label=megabytes(max_bytes()),
        max_bytes=max_bytes(),
        terms_error=terms_error,
        terms_value=terms_value
        if terms_value is not None
        else str(company.payment_terms_days if company.payment_terms_days is not None else 30),
        max_terms=MAX_TERMS_DAYS,
        form=ActionForm(formdata=None),
    ), status


@bp.get("/cabinet/<firm_id>/entreprises/<company_id>/fec")
@firm_view
def index(firm_access: FirmAccess, company_id: str) -> Page:
    return _render(firm_access, company_of_firm(firm_access, company_id))


@bp.post("/cabinet/<firm_id>/entreprises/<company_id>/fec")
@csrf.exempt
@firm_view
def upload(firm_access: FirmAccess, company_id: str) -> Page:
    from client_portal_rp.deposits.services import upload_tmp_dir

    company = company_of_firm(firm_access, company_id)
    limit = max_bytes()
    try:
        received = receive_upload(
            request,
            max_file_bytes=limit,
            max_total_bytes=limit + 1_000_000,
            tmp_dir=upload_tmp_dir(),
            check_fields=csrf_check,
            max_parts=10,
            drain_on_error=True,
        )
    except UploadTooLarge as too_large:
        message = _(
            "Le fichier dépasse la taille maximale de %(limit)s : il n'a pas été importé.",
            limit=megabytes(limit),
        )
        return _render(firm_access, company, errors=[message], status=too_large.status)
    except UploadError as invalid:
        return _render(firm_access, company, errors=[_(invalid.message)], status=invalid.status)
    with received:
        values = {name: (received.field(name) or "").strip() for name in ("debut", "cloture")}
        try:
            start, end = parse_date(values["debut"]), parse_date(values["cloture"])
        except ValidationError as invalid:
            return _render(firm_access, company, errors=[str(invalid)], values=values, status=422)
        files = received.files_named(FILE_FIELD)
        if len(files) != 1:
            message = _("Choisissez le fichier FEC à importer.")
            return _render(firm_access, company, errors=[message], values=values, status=422)
        return _import(firm_access, company, files[0], start, end, values)


def _import(
    firm_access: FirmAccess,
    company: Company,
    received: Any,
    start: Any,
    end: Any,
    values: dict[str, str],
) -> Page:
    from client_portal_rp.fec.importer import import_path
    from client_portal_rp.fec.reporting import import_dates, replaced_at

    filename = safe_display_name(received.filename)
    before = import_dates(company)
    report = import_path(
        company,
        received.path,
        filename=filename,
        actor=firm_access.user,
        start=start,
        end=end,
    )
    if not report.ok or report.fec_import is None:
        db.session.rollback()
        return _render(
            firm_access,
            company,
            problems=report.errors,
            filename=filename,
            values=values,
            status=422,
        )
    replaced = replaced_at(report, before)
    if replaced is not None:
        flash(
            _(
                "L'exercice %(exercice)s est importé ; il remplace l'import du %(date)s.",
                exercice=report.fec_import.exercice,
                date=_date_time(replaced),
            ),
            "success",
        )
    else:
        flash(
            _("L'exercice %(exercice)s est importé.", exercice=report.fec_import.exercice),
            "success",
        )
    return redirect(
        url_for(
            "fec_firm.report",
            firm_id=firm_access.firm.public_id,
            company_id=company.public_id,
            import_id=report.fec_import.public_id,
        ),
        code=303,
    )


def _date_time(moment: Any) -> str:
    from flask_babel import format_datetime

    return str(format_datetime(moment, "dd/MM/yyyy HH:mm"))


@bp.get("/cabinet/<firm_id>/entreprises/<company_id>/fec/imports/<import_id>")
@firm_view
def report(firm_access: FirmAccess, company_id: str, import_id: str) -> Page:
    company = company_of_firm(firm_access, company_id)
    if not import_id or len(import_id) > 64:
        abort(404)
    found = db.session.execute(
        select(FecImport, PortalUser)
        .outerjoin(PortalUser, PortalUser.id == FecImport.imported_by_id)
        .where(FecImport.public_id == import_id, FecImport.company_id == company.id)
    ).first()
    if found is None:
        abort(404)
    fec_import, user = found
    return render_template(
        "fec/firm_report.html",
        firm=firm_access.firm,
        company=company,
        fec_import=fec_import,
        importer=importer_name(fec_import, user),
        gap=fec_import.total_debit - fec_import.total_credit,
        hidden_warnings=max(0, fec_import.warning_count - len(fec_import.warnings or [])),
        compta_url=url_for("main.compta", company_id=company.public_id),
    )


def parse_terms(raw: str | None) -> int:
    """Payment terms in days, 0 to 60 (Code de commerce L441-10); ValueError with the French
    message otherwise."""
    text = (raw or "").strip()
    if not text.isdigit() or int(text) > MAX_TERMS_DAYS:
        raise ValueError(
            _(
                "Le délai de paiement est un nombre entier de jours entre 0 et %(max)s (Code de "
                "commerce, article L441-10).",
                max=MAX_TERMS_DAYS,
            )
        )
    return int(text)


@bp.post("/cabinet/<firm_id>/entreprises/<company_id>/fec/delai-de-paiement")
@firm_view
def payment_terms(firm_access: FirmAccess, company_id: str) -> Page:
    company = company_of_firm(firm_access, company_id)
    raw = request.form.get("payment_terms_days", "")
    if not ActionForm().validate_on_submit():
        message = _("Le formulaire a expiré : rechargez la page et recommencez.")
        return _render(firm_access, company, terms_error=message, terms_value=raw, status=400)
    try:
        days = parse_terms(raw)
    except ValueError as invalid:
        return _render(firm_access, company, terms_error=str(invalid), terms_value=raw, status=422)
    if days != company.payment_terms_days:
        audit.record(
            "company.updated",
            company=company,
            actor=firm_access.user,
            payment_terms_days=days,
        )
        company.payment_terms_days = days
        db.session.commit()
    flash(
        _(
            "Délai de paiement de %(company)s : %(days)s jours. Il servira aux échéances au "
            "prochain import du FEC.",
            company=company.name,
            days=days,
        ),
        "success",
    )
    return redirect(
        url_for("fec_firm.index", firm_id=firm_access.firm.public_id, company_id=company.public_id),
        code=303,
    )
