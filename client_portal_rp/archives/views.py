"""« Accédez à vos archives »: the company's documents published by its firm (documents
comptables, juridiques, fiscaux, per exercice), their list with folders, exercice filter and
file-name search, a page per document, and the document itself (opened or saved).

Every page goes through `company_view(Module.ARCHIVES)`: 404 for another company's user, 403
without the module, and the module is "sécurité avancée" by default (a password-only login is
sent to Sésame for step-up). Publishing is the firm's: its staff only (403 for the company's
own admins and users). Nobody deletes an archive here (10-year retention, SECURITY.md 51).

Serving (SECURITY.md 50): a document is read from the blob store by its digest only (no name or
path from the URL reaches the storage), served as the kind `sniff` found, `nosniff`, never
cached. PDF, JPEG and PNG open in the browser under a CSP sandbox (an opaque origin: nothing in
the file can act as the portal); everything else is an attachment. The file name goes out
through `content_disposition` (RFC 6266 / RFC 5987). The portal's pages forbid framing, so a
document opens in its own tab, not in an iframe.

The publish view is exempt from CSRFProtect: the body streams to disk through
uploads.receive_upload, which checks the token (a field before the files) before the first
file byte is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from babel.dates import format_date, get_date_format
from babel.numbers import format_decimal, get_decimal_symbol
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, get_timezone
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from client_portal_rp.archives import services
from client_portal_rp.archives.forms import PublishForm
from client_portal_rp.extensions import db
from client_portal_rp.files import FileKind, safe_display_name
from client_portal_rp.models import ArchiveDocument, ArchiveFolder, Module, PortalUser
from client_portal_rp.tenancy import Access, company_view, forbidden, one_of_company
from client_portal_rp.uploads import (
    UploadError,
    UploadTooLarge,
    csrf_check,
    megabytes,
    receive_upload,
)
from relying_party.views import csrf

bp = Blueprint("archives", __name__)

MAX_FILES_PER_REQUEST = 20
MIB = 1024 * 1024
# The viewer's sandbox (services.py says why), named here too for the tests.
VIEWER_CSP = services.VIEWER_CSP


@dataclass(frozen=True)
class Formats:
    """The list's per-row formatting in the page's language, prepared once a request (50 rows
    of babel lookups and gettext calls were a third of the list's time:
    bench/portal_archives.py)."""

    decimal: str
    units: tuple[tuple[int, str], ...]
    byte_unit: str
    date_pattern: Any
    locale: Any
    timezone: Any

    @classmethod
    def current(cls) -> Formats:
        locale = get_locale()
        return cls(
            decimal=get_decimal_symbol(locale),
            units=((10**9, _("Go")), (10**6, _("Mo")), (10**3, _("ko"))),
            byte_unit=_("o"),
            date_pattern=get_date_format("short", locale=locale),
            locale=locale,
            timezone=get_timezone(),
        )

    def size(self, size: int) -> str:
        """« 1,2 Mo », « 850 o »: decimal units, like the upload limit's « 25 Mo »; one
        decimal under 100."""
        for scale, unit in self.units:
            if size >= scale:
                value = size / scale
                if value >= 100:
                    number = format_decimal(round(value), locale=self.locale)
                else:
                    number = f"{value:.1f}".removesuffix(".0").replace(".", self.decimal)
                return f"{number}\u00a0{unit}"
        return f"{size}\u00a0{self.byte_unit}"

    def date(self, moment: datetime) -> str:
        """The day in the person's time zone, short (« 03/12/2026 »)."""
        local = moment.astimezone(self.timezone)
        return str(format_date(local.date(), self.date_pattern, locale=self.locale))


def human_size(size: int) -> str:
    return Formats.current().size(size)


def kind_labels() -> dict[str, str]:
    """The kinds' labels in the page's language, by the stored value (pdf, jpeg, csv...)."""
    return {kind.name.lower(): _(kind.label) for kind in FileKind}


def kind_label(document: ArchiveDocument) -> str:
    return _(services.file_kind(document).label)


def _staff_only(access: Access) -> tuple[str, int] | None:
    if access.is_staff:
        return None
    return forbidden(
        _(
            "Seul votre cabinet publie des documents dans les archives de %(company)s.",
            company=access.company.name,
        )
    )


def _max_file_bytes() -> int:
    return int(current_app.config["PORTAL_MAX_UPLOAD_BYTES"])


def _size_limit_label(limit: int) -> str:
    return f"{limit // MIB} Mo" if limit % MIB == 0 else megabytes(limit)


# --- the list ----------------------------------------------------------------------------


@bp.get("/entreprises/<company_id>/archives")
@company_view(Module.ARCHIVES)
def index(access: Access) -> tuple[str, int]:
    wanted = services.parse_filter(request.args)
    page = services.archives_page(access.company, wanted)
    formats = Formats.current()
    one = url_for("archives.detail", company_id=access.company.public_id, document_id="x")
    return render_template(
        "archives/index.html",
        access=access,
        company=access.company,
        wanted=wanted,
        page=page,
        folders=list(ArchiveFolder),
        folder_labels={folder.value: folder.label for folder in ArchiveFolder},
        kind_labels=kind_labels(),
        detail_base=one[:-1],  # + the document's public id (URL-safe characters only)
        human_size=formats.size,
        short_date=formats.date,
    ), (400 if wanted.errors else 200)


# --- publishing --------------------------------------------------------------------------


def _render_publish(
    access: Access,
    form: PublishForm | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    if form is None:
        form = PublishForm(formdata=None)
        form.exercice.data = str(services.default_exercice(access.company))
        wanted = (request.args.get("dossier") or "").strip()
        form.folder.data = (
            wanted if wanted in ArchiveFolder._value2member_map_ else ArchiveFolder.COMPTABLES
        )
    return render_template(
        "archives/publish.html",
        access=access,
        company=access.company,
        form=form,
        folders=list(ArchiveFolder),
        errors=errors or [],
        first_exercice=services.FIRST_EXERCICE,
        last_exercice=services.last_exercice(),
        max_label=_size_limit_label(_max_file_bytes()),
        max_files=MAX_FILES_PER_REQUEST,
    ), status


@bp.get("/entreprises/<company_id>/archives/publier")
@company_view(Module.ARCHIVES)
def publish_form(access: Access) -> tuple[str, int]:
    return _staff_only(access) or _render_publish(access)


@bp.post("/entreprises/<company_id>/archives/publier")
@csrf.exempt
@company_view(Module.ARCHIVES)
def publish(access: Access) -> Response | tuple[str, int]:
    refused = _staff_only(access)
    if refused is not None:
        return refused
    limit = _max_file_bytes()
    total_limit = min(
        int(current_app.config.get("MAX_CONTENT_LENGTH") or 10 * limit),
        MAX_FILES_PER_REQUEST * limit + MIB,
    )
    try:
        received = receive_upload(
            request,
            max_file_bytes=limit,
            max_total_bytes=total_limit,
            tmp_dir=services.upload_tmp_dir(),
            check_fields=csrf_check,
            max_parts=MAX_FILES_PER_REQUEST + 10,
            drain_on_error=True,
        )
    except UploadTooLarge as too_large:
        if too_large.filename is None:
            message = _(
                "L'envoi dépasse la taille totale maximale de %(limit)s : publiez moins de "
                "fichiers à la fois.",
                limit=_size_limit_label(too_large.limit),
            )
        else:
            message = _(
                "Le fichier « %(name)s » dépasse la taille maximale de %(limit)s : il n'a pas "
                "été publié.",
                name=safe_display_name(too_large.filename),
                limit=_size_limit_label(limit),
            )
        return _render_publish(access, errors=[message], status=413)
    except UploadError as invalid:
        return _render_publish(access, errors=[_(invalid.message)], status=invalid.status)

    with received:
        form = PublishForm()
        if not form.validate():
            errors = [str(e) for field_errors in form.errors.values() for e in field_errors]
            return _render_publish(access, form, errors, 422)
        if not received.files:
            return _render_publish(
                access, form, [_("Choisissez au moins un fichier à publier.")], 422
            )
        if len(received.files) > MAX_FILES_PER_REQUEST:
            return _render_publish(
                access,
                form,
                [_("Publiez au plus %(count)s fichiers à la fois.", count=MAX_FILES_PER_REQUEST)],
                422,
            )
        published, errors = _publish_all(access, form, received.files)
        db.session.commit()
    if not published:
        return _render_publish(access, form, errors, 422)
    for document in published:
        flash(
            _(
                "« %(name)s » est publié dans « %(folder)s », exercice %(exercice)s.",
                name=document.filename,
                folder=form.chosen_folder.label,
                exercice=document.exercice,
            ),
            "success",
        )
    for message in errors:
        flash(message, "error")
    return redirect(
        url_for(
            "archives.index",
            company_id=access.company.public_id,
            dossier=form.chosen_folder.value,
            exercice=form.chosen_exercice,
        ),
        code=303,
    )


def _publish_all(
    access: Access, form: PublishForm, files: list[Any]
) -> tuple[list[ArchiveDocument], list[str]]:
    published: list[ArchiveDocument] = []
    errors: list[str] = []
    user: PortalUser = access.user
    for file in files:
        try:
            published.append(
                services.publish_document(
                    access.company,
                    folder=form.chosen_folder,
                    exercice=form.chosen_exercice,
                    path=file.path,
                    filename=file.filename,
                    size=file.size,
                    sha256=file.sha256,
                    published_by=user,
                )
            )
        except services.ArchiveRefused as refused:
            errors.append(refused.message)
    return published, errors


# --- one document ------------------------------------------------------------------------


@bp.get("/entreprises/<company_id>/archives/<document_id>")
@company_view(Module.ARCHIVES)
def detail(access: Access, document_id: str) -> str:
    document = one_of_company(ArchiveDocument, access.company, document_id)
    return render_template(
        "archives/detail.html",
        access=access,
        company=access.company,
        document=document,
        folder=ArchiveFolder(document.folder),
        inline=services.opens_inline(document),
        human_size=human_size,
        kind_label=kind_label,
    )


@bp.get("/entreprises/<company_id>/archives/<document_id>/voir")
@company_view(Module.ARCHIVES)
def open_document(access: Access, document_id: str) -> Response:
    """The document in the browser: PDF, JPEG, PNG inline under the sandbox; others saved."""
    document = one_of_company(ArchiveDocument, access.company, document_id)
    return services.send_document(document, inline=services.opens_inline(document))


@bp.get("/entreprises/<company_id>/archives/<document_id>/telecharger")
@company_view(Module.ARCHIVES)
def download(access: Access, document_id: str) -> Response:
    """« Enregistrer sous »: always an attachment, with the document's safe name."""
    document = one_of_company(ArchiveDocument, access.company, document_id)
    return services.send_document(document, inline=False)
