"""The council administrators' import pages: upload, progress and diff, confirm or cancel,
history and reports. Only accounts with a council role see them; for anyone else, and for
another council's imports, every URL answers 404 (no hint that the pages exist).
See docs/adr/0020-council-import-pages.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_decimal
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from idp.accounts.auth import current_user
from idp.accounts.forms import ConfirmForm
from idp.accounts.models import User
from idp.errors import DomainError
from idp.extensions import db
from idp.registry import web_imports
from idp.registry.forms import (
    TOO_BIG,
    UPLOAD_MAX_LABEL,
    UPLOAD_REQUEST_MAX_BYTES,
    ImportUploadForm,
)
from idp.registry.models import ImportStatus, RegionalCouncil, RegistryImport
from idp.registry.reports import changes_page, kind_counts, report_file_name, summary_view
from idp.registry.services import administered_councils

bp = Blueprint("registry_admin", __name__, url_prefix="/registre/imports")

Page = str | Response | tuple[str, int]
View = TypeVar("View", bound=Callable[..., Any])
# The import's page refreshes itself while the import runs (no JavaScript needed).
REFRESH_SECONDS = 2


@bp.url_value_preprocessor
def _guard(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """404 for anyone without a council role, before any before_request function (CSRF's
    would answer 400 and tell the URL exists); then the upload page accepts a file bigger
    than the app's usual request limit (CSRF reads the body)."""
    g.pop("session_lookup", None)  # fresh in production; tests share one `g`
    _administrator()
    if endpoint == "registry_admin.upload":
        request.max_content_length = UPLOAD_REQUEST_MAX_BYTES


@bp.app_context_processor
def _registry_admin_links() -> dict[str, Any]:
    """`registry_admin_councils()`: the councils the logged-in account administers (empty for
    everyone else), for the navigation link and "Mon compte"."""

    def registry_admin_councils() -> list[RegionalCouncil]:
        try:
            user = current_user()
            return administered_councils(db.session, user.id) if user else []
        except SQLAlchemyError:  # error pages render even with the database down
            db.session.rollback()
            return []

    return {"registry_admin_councils": registry_admin_councils, "file_size": file_size}


def file_size(size: int) -> str:
    """`12,5 Ko`, `3,2 Mo` in the page's language."""
    if size < 1024 * 1024:
        return _("%(size)s Ko", size=format_decimal(size / 1024, "#,##0.#"))
    return _("%(size)s Mo", size=format_decimal(size / 1024 / 1024, "#,##0.#"))


def _route(rule: str, methods: tuple[str, ...] = ("GET",)) -> Callable[[View], View]:
    """A route that takes GET and POST, so that routing answers no 405 to anyone (that would
    tell the URL exists): `_guard` answers 404 first, then a wrong method gets its 405."""

    def register(view: View) -> View:
        @functools.wraps(view)
        def guarded(**kwargs: Any) -> Any:
            if request.method not in methods:
                abort(405)
            return view(**kwargs)

        bp.add_url_rule(rule, view.__name__, guarded, methods=["GET", "POST"])
        return view

    return register


def _administrator() -> tuple[User, list[RegionalCouncil]]:
    user = current_user()
    councils = administered_councils(db.session, user.id) if user else []
    if user is None or not councils:
        abort(404)
    return user, councils


def _import(public_id: str) -> tuple[User, RegistryImport]:
    user, _councils = _administrator()
    record = web_imports.find_import(db.session, user.id, public_id)
    if record is None:
        abort(404)
    return user, record


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> Page:
    _user, councils = _administrator()
    form = ImportUploadForm(formdata=None)
    _council_choices(form, councils)
    form.file.errors = [str(TOO_BIG)]
    return render_template("registry/upload.html", form=form, max_label=UPLOAD_MAX_LABEL), 413


def _council_choices(form: ImportUploadForm, councils: list[RegionalCouncil]) -> None:
    form.council.choices = [SelectChoice(c.code, f"{c.name} ({c.code})") for c in councils]
    if len(councils) == 1 and not form.council.data:
        form.council.data = councils[0].code


@_route("/nouveau", methods=("GET", "POST"))
def upload() -> Page:
    user, councils = _administrator()
    form = ImportUploadForm()
    _council_choices(form, councils)
    if form.validate_on_submit():
        council = next(c for c in councils if c.code == form.council.data)
        upload = web_imports.Upload(
            council=council,
            file_name=web_imports.safe_file_name(form.file.data.filename),
            content=form.content,
            full=bool(form.full.data),
            allow_partial=bool(form.allow_partial.data),
        )
        record = web_imports.start_import(db.session, upload, actor=user)
        return redirect(url_for("registry_admin.detail", public_id=record.public_id))
    return render_template("registry/upload.html", form=form, max_label=UPLOAD_MAX_LABEL)


@_route("/<public_id>")
def detail(public_id: str) -> Page:
    _user, record = _import(public_id)
    page = request.args.get("page", 1, type=int) or 1
    return render_template(
        "registry/detail.html",
        record=record,
        summary=summary_view(record),
        changes=changes_page(record, page, request.args.get("type")),
        kind_counts=kind_counts(record),
        can_confirm=web_imports.can_confirm(record),
        stale=web_imports.can_confirm(record) and web_imports.is_stale(db.session, record),
        refresh=REFRESH_SECONDS if _in_progress(record) else None,
        form=ConfirmForm(),
    )


def _in_progress(record: RegistryImport) -> bool:
    return record.status in (ImportStatus.PENDING, ImportStatus.RUNNING)


@_route("/<public_id>/confirmer", methods=("POST",))
def confirm(public_id: str) -> Response:
    _user, record = _import(public_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        web_imports.confirm_import(db.session, record)
    except DomainError as error:
        flash(error.message, "error")
    return redirect(url_for("registry_admin.detail", public_id=public_id))


@_route("/<public_id>/annuler", methods=("POST",))
def cancel(public_id: str) -> Response:
    _user, record = _import(public_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        web_imports.cancel_import(db.session, record)
        flash(_("Import annulé : rien n'a été modifié dans le tableau."), "success")
    except DomainError as error:
        flash(error.message, "error")
    return redirect(url_for("registry_admin.detail", public_id=public_id))


@_route("/")
def history() -> str:
    user, councils = _administrator()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    records, total = web_imports.history(db.session, user.id, page=page)
    return render_template(
        "registry/history.html",
        records=records,
        total=total,
        page=page,
        page_size=web_imports.HISTORY_PAGE_SIZE,
        actors=web_imports.actor_names(db.session, records),
        councils=councils,
    )


@_route("/<public_id>/rapport.csv")
def report(public_id: str) -> Response:
    _user, record = _import(public_id)
    if not record.report_csv:
        abort(404)
    response = make_response("\ufeff" + record.report_csv)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{report_file_name(record)}"'
    response.headers["Cache-Control"] = "no-store"
    return response
