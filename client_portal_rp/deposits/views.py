"""« Déposez vos documents », the client's side: the deposit form (button, drop zone, the
phone's camera), the list of the company's deposits, the firm's open requests for a missing
piece, and the files themselves (download, thumbnail, preview).

The form works without JavaScript (one multipart POST, then a redirect with a message per
file) and with static/js/deposits.js (one XHR per file with its progress bar; the answer is
JSON). Either way the body is streamed to disk by uploads.receive_upload: the 25 MB limit is
enforced while reading, and the CSRF token (a form field before the files, or the X-CSRFToken
header) is checked before the first file byte is written; the view is therefore exempt from
CSRFProtect, which would read the whole body first.

The web app's offline queue (static/js/deposit-queue.js) sends each queued file alone with an
`Idempotency-Key` header (ADR 0026): a file sent again with its key (the answer was lost, the
sync event and the page both flushed) returns the deposit already made, with 200 and
`Idempotency-Replayed: true`, and adds nothing (no row, no audit line, no photo job); the key
with another file is 409.

Files are served only as what `sniff` said they are, as attachments unless they are images
(or a PDF under a CSP sandbox), `nosniff`, never cached; a photo is not served before the job
removed its location (SECURITY.md 49, 50). An e-invoice's XML is only ever an attachment, and
under the sandbox too (a browser that rendered it anyway would run nothing).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from client_portal_rp.deposits import jobs, services
from client_portal_rp.deposits.forms import DepositForm
from client_portal_rp.deposits.mailbox import mailbox_address
from client_portal_rp.extensions import db
from client_portal_rp.files import FileKind, content_disposition, safe_display_name
from client_portal_rp.models import Deposit, DepositStatus, Module, PieceRequest, Processing
from client_portal_rp.tenancy import Access, company_view, one_of_company
from client_portal_rp.uploads import (
    UploadError,
    UploadInvalid,
    UploadTooLarge,
    csrf_check,
    megabytes,
    receive_upload,
)
from relying_party.views import csrf

bp = Blueprint("deposits", __name__)

MIB = 1024 * 1024
MAX_FILES_PER_REQUEST = 20
PREVIEW_KINDS = {FileKind.JPEG, FileKind.PNG, FileKind.HEIC, FileKind.TIFF, FileKind.PDF}


def max_file_bytes() -> int:
    return int(current_app.config["PORTAL_MAX_UPLOAD_BYTES"])


def size_label(limit: int) -> str:
    """The limit as people read it: « 25 Mo » for the configured 25 MiB."""
    return f"{limit // MIB} Mo" if limit % MIB == 0 else megabytes(limit)


IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key() -> str | None:
    """The request's Idempotency-Key (None without one); raises UploadInvalid when malformed."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not services.IDEMPOTENCY_KEY.fullmatch(key):
        raise UploadInvalid(
            _(
                "La clé d'idempotence doit compter 8 à 64 caractères parmi lettres, chiffres "
                "et « _ . : - »."
            )
        )
    return key


def wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json"
    )


# --- the page ----------------------------------------------------------------------------


def _render_page(
    access: Access,
    *,
    form: DepositForm | None = None,
    errors: list[str] | None = None,
    status: int = 200,
    answering: PieceRequest | None = None,
) -> tuple[str, int]:
    company = access.company
    wanted = services.parse_filter(company.firm_id, request.args)
    page = services.deposits_page(company, wanted)
    types = services.deposit_types_for(company)
    if answering is None:
        wanted_request = (request.args.get("demande") or "").strip()
        if wanted_request:
            try:
                answering = one_of_company(PieceRequest, company, wanted_request)
            except NotFound:
                answering = None
    form = form or DepositForm(formdata=None)
    if answering is not None:
        form.piece_request.data = answering.public_id
    if wanted.errors and status == 200:
        status = 400
    return render_template(
        "deposits/index.html",
        access=access,
        company=company,
        form=form,
        errors=errors or [],
        deposit_types=types,
        piece_requests=services.open_piece_requests(company),
        answering=answering,
        wanted=wanted,
        page=page,
        statuses=list(DepositStatus),
        status_label=lambda value: DepositStatus(value).label,
        max_bytes=max_file_bytes(),
        max_label=size_label(max_file_bytes()),
        Processing=Processing,
        FileKind=FileKind,
        mailbox_address=mailbox_address(company),
    ), status


@bp.get("/entreprises/<company_id>/depots")
@company_view(Module.DEPOSIT)
def index(access: Access) -> tuple[str, int]:
    return _render_page(access)


# --- the upload --------------------------------------------------------------------------


def _refuse(access: Access, message: str, status: int) -> tuple[Any, int]:
    if wants_json():
        return jsonify(ok=False, message=message, results=[]), status
    return _render_page(access, errors=[message], status=status)


def _file_result(result: services.DepositResult) -> dict[str, Any]:
    deposit = result.deposit
    message = _("« %(name)s » est déposé.", name=deposit.filename)
    if result.invoice_duplicate_of is not None and result.invoice is not None:
        message += " " + _(
            "Cette facture (n° %(number)s) a déjà été déposée le %(date)s (« %(name)s ») : "
            "elle est signalée comme doublon probable.",
            number=result.invoice.invoice_number,
            date=format_datetime(result.invoice_duplicate_of.created_at, "short"),
            name=result.invoice_duplicate_of.filename,
        )
    elif result.duplicate_of is not None:
        message += " " + _(
            "Ce fichier a déjà été déposé le %(date)s (« %(name)s ») : il est signalé comme "
            "doublon probable.",
            date=format_datetime(result.duplicate_of.created_at, "short"),
            name=result.duplicate_of.filename,
        )
    if result.replayed:
        message = _(
            "« %(name)s » était déjà déposé : ce nouvel envoi n'ajoute rien.",
            name=deposit.filename,
        )
    return {
        "ok": True,
        "name": deposit.filename,
        "deposit": deposit.public_id,
        "duplicate": result.duplicate_of is not None,
        "replayed": result.replayed,
        "message": message,
    }


@bp.post("/entreprises/<company_id>/depots", endpoint="upload")
@csrf.exempt
@company_view(Module.DEPOSIT)
def upload(access: Access) -> Response | tuple[Any, int]:
    limit = max_file_bytes()
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
            skip_oversized=True,  # one file too large does not lose the others
        )
    except UploadTooLarge as too_large:
        if too_large.filename is None:
            message = _(
                "L'envoi dépasse la taille totale maximale de %(limit)s : envoyez moins de "
                "fichiers à la fois.",
                limit=size_label(too_large.limit),
            )
        else:
            message = _(
                "Le fichier « %(name)s » dépasse la taille maximale de %(limit)s : il n'a pas "
                "été déposé.",
                name=safe_display_name(too_large.filename),
                limit=size_label(limit),
            )
        return _refuse(access, message, 413)
    except UploadError as invalid:
        return _refuse(access, _(invalid.message), invalid.status)

    with received:
        try:
            key = idempotency_key()
        except UploadInvalid as invalid:
            return _refuse(access, invalid.message, invalid.status)
        form = DepositForm()
        if not form.validate():
            message = next(
                (str(e) for errors in form.errors.values() for e in errors),
                _("Le formulaire est incomplet."),
            )
            return _refuse(access, message, 422)
        deposit_type = services.deposit_type_of(access.company, form.type.data or "")
        if deposit_type is None:
            return _refuse(access, _("Ce type de document n'existe pas."), 422)
        piece_request = None
        if form.piece_request.data:
            piece_request = services.piece_request_of(access.company, form.piece_request.data)
            if piece_request is None:
                return _refuse(
                    access, _("Cette demande de pièce n'existe pas ou n'est plus ouverte."), 422
                )
        oversized = [
            {
                "ok": False,
                "name": safe_display_name(name),
                "message": _(
                    "Le fichier « %(name)s » dépasse la taille maximale de %(limit)s : il n'a "
                    "pas été déposé.",
                    name=safe_display_name(name),
                    limit=size_label(limit),
                ),
            }
            for name in received.oversized
        ]
        if not received.files and oversized:
            return _refuse(access, oversized[0]["message"], 413)
        if not received.files:
            return _refuse(access, _("Choisissez au moins un fichier à déposer."), 422)
        if key is not None and len(received.files) + len(received.oversized) > 1:
            return _refuse(
                access,
                _("Une clé d'idempotence vaut pour un seul fichier : envoyez-les un par un."),
                400,
            )
        results: list[dict[str, Any]] = list(oversized)
        to_process: list[Deposit] = []
        for file in received.files:
            try:
                result = services.deposit_file(
                    access.company,
                    deposit_type,
                    path=file.path,
                    filename=file.filename,
                    size=file.size,
                    sha256=file.sha256,
                    uploaded_by=access.user,
                    comment=form.comment.data or "",
                    piece_request=piece_request,
                    idempotency_key=key,
                    piece_ref=form.piece_ref.data or "",
                )
            except services.IdempotencyConflict as conflict:
                db.session.rollback()
                return _refuse(access, conflict.message, 409)
            except services.DepositRefused as refused:
                results.append(
                    {
                        "ok": False,
                        "name": safe_display_name(file.filename),
                        "message": _(refused.message),
                    }
                )
                continue
            results.append(_file_result(result))
            if result.needs_processing:
                to_process.append(result.deposit)
        db.session.commit()
    jobs.schedule(deposit.id for deposit in to_process)
    accepted = sum(1 for r in results if r["ok"])
    replayed = any(r.get("replayed") for r in results)
    if wants_json():
        status = (200 if replayed else 201) if accepted else 422
        message = results[0]["message"] if len(results) == 1 else ""
        reply = jsonify(ok=bool(accepted), message=message, results=results)
        if replayed:
            reply.headers["Idempotency-Replayed"] = "true"
        return reply, status
    for answer in results:
        if answer["ok"]:
            flash(answer["message"], "warning" if answer.get("duplicate") else "success")
        else:
            flash(answer["message"], "error")
    return redirect(url_for("deposits.index", company_id=access.company.public_id), code=303)


# --- the files ---------------------------------------------------------------------------


def _not_ready(access: Access, deposit: Deposit) -> tuple[str, int]:
    return render_template(
        "forbidden.html",
        title=_("Document en cours de traitement"),
        message=services.not_ready_message(deposit),
    ), 409


def _send_blob(sha256: str, mimetype: str, disposition: str, *, sandbox: bool = False) -> Response:
    try:
        return services.send_blob(sha256, mimetype, disposition, sandbox=sandbox)
    except services.FileUnavailable:
        raise NotFound() from None


@bp.get("/entreprises/<company_id>/depots/<deposit_id>/fichier", endpoint="download")
@company_view(Module.DEPOSIT)
def download(access: Access, deposit_id: str) -> Response | tuple[str, int]:
    """The file as deposited (a photo: without its location), always as an attachment."""
    deposit = one_of_company(Deposit, access.company, deposit_id)
    if not services.is_ready(deposit):
        return _not_ready(access, deposit)
    try:
        return services.send_download(deposit)
    except services.FileUnavailable:
        raise NotFound() from None


@bp.get("/entreprises/<company_id>/depots/<deposit_id>/apercu", endpoint="view_file")
@company_view(Module.DEPOSIT)
def view_file(access: Access, deposit_id: str) -> Response | tuple[str, int]:
    """Open in the browser: a photo (the JPEG rendition of a HEIC/TIFF), a PDF under a CSP
    sandbox; a CSV/XLSX is downloaded, an XML too (under the sandbox)."""
    deposit = one_of_company(Deposit, access.company, deposit_id)
    if not services.is_ready(deposit):
        return _not_ready(access, deposit)
    kind = services.file_kind(deposit)
    if kind in (FileKind.HEIC, FileKind.TIFF):
        if not deposit.rendition_sha256:
            raise NotFound()
        return _send_blob(
            deposit.rendition_sha256,
            "image/jpeg",
            content_disposition(services.jpeg_name(deposit), inline=True),
        )
    if kind in PREVIEW_KINDS:
        return _send_blob(
            deposit.blob_sha256,
            kind.mime_type,
            content_disposition(deposit.filename, inline=True),
            sandbox=kind is FileKind.PDF,
        )
    return _send_blob(
        deposit.blob_sha256,
        kind.mime_type,
        content_disposition(deposit.filename, inline=False),
        sandbox=kind is FileKind.XML,
    )


@bp.get("/entreprises/<company_id>/depots/<deposit_id>/vignette", endpoint="thumbnail")
@company_view(Module.DEPOSIT)
def thumbnail(access: Access, deposit_id: str) -> Response | tuple[str, int]:
    deposit = one_of_company(Deposit, access.company, deposit_id)
    try:
        return services.send_thumbnail(deposit)
    except services.FileUnavailable:
        raise NotFound() from None
