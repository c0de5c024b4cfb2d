"""« Déposez vos documents » in JSON: the firm's deposit types, the company's deposits (filtered
like the page, paginated by cursor), one deposit, its file and thumbnail, and a deposit of one
file, idempotent with an `Idempotency-Key` (ADR 0026).

Every operation needs the scope `portal.deposits` and the person's right to the deposit module
(`api_company`). The page's services do the work: `parse_filter`/`filtered` for the list,
`send_download`/`send_thumbnail` for the files (a photo is not served before its location is
removed), `deposit_file` for a deposit, `jobs.schedule` for the photo job.

One deposit's answer carries `invoice`: what the file says as an electronic invoice (Factur-X,
CII, UBL; amounts as decimal strings in euros, "1234.50"), or null when it is none.

The upload is documented by APIFlask as one multipart body (`file`, `type`, `comment`,
`piece_ref`) but read
by `uploads.receive_upload`: streamed to disk, the file refused as soon as it passes
PORTAL_MAX_UPLOAD_BYTES (413), no CSRF check (bearer tokens only, no cookie is read).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, Date, DateTime, File, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range, Regexp
from flask import current_app, g, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from client_portal_rp.api import bp
from client_portal_rp.api.auth import api_company
from client_portal_rp.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, keyset_page
from client_portal_rp.api.problems import Problem, invalid_parameters
from client_portal_rp.deposits import jobs, services
from client_portal_rp.deposits.views import size_label
from client_portal_rp.extensions import db
from client_portal_rp.files import DATA_KINDS, DOCUMENT_KINDS, FileKind
from client_portal_rp.models import (
    Deposit,
    DepositInvoice,
    DepositStatus,
    DepositType,
    Module,
    PieceRequest,
)
from client_portal_rp.tenancy import Access, one_of_company
from client_portal_rp.uploads import UploadError, UploadTooLarge, receive_upload

TAGS = ["Dépôts"]
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotency-Replayed"
FIELDS_BYTES = 1024 * 1024  # the text fields and the multipart framing, beside the file
MAX_PARTS = 10
BINARY = {"schema": {"type": "string", "format": "binary"}}


# --- schemas -----------------------------------------------------------------------------


class KindOut(Schema):
    kind = String(
        required=True, metadata={"description": "pdf, jpeg, png, heic, tiff, xml, csv, xlsx"}
    )
    mime_type = String(required=True)
    extension = String(required=True)


class DepositTypeOut(Schema):
    code = String(required=True, metadata={"description": "Le code à envoyer au dépôt"})
    label = String(required=True)
    data = Boolean(
        required=True,
        metadata={"description": "Type « Données » : fichiers CSV et XLSX, pas de documents"},
    )
    accepted_kinds = List(Nested(KindOut), required=True)


class DepositTypeListOut(Schema):
    items = List(Nested(DepositTypeOut), required=True)


class TypeRef(Schema):
    code = String(required=True)
    label = String(required=True)


class DepositLinks(Schema):
    file = String(
        required=True,
        allow_none=True,
        metadata={"description": "Téléchargement ; absent tant qu'une photo est en traitement"},
    )
    thumbnail = String(
        required=True, allow_none=True, metadata={"description": "Miniature d'une photo"}
    )


class DepositOut(Schema):
    id = String(required=True)
    filename = String(required=True)
    type = Nested(TypeRef, required=True)
    kind = String(required=True, metadata={"description": "Nature lue dans le contenu du fichier"})
    size = Integer(required=True, metadata={"description": "Octets"})
    sha256 = String(required=True)
    status = String(required=True, validate=OneOf([s.value for s in DepositStatus]))
    status_label = String(required=True)
    comment = String(required=True)
    source = String(required=True, metadata={"description": "web (page, application) ou email"})
    created_at = DateTime(required=True, metadata={"description": "ISO 8601, UTC"})
    uploaded_by = String(
        required=True, allow_none=True, metadata={"description": "Nom de la personne"}
    )
    duplicate_of = String(
        required=True,
        allow_none=True,
        metadata={"description": "Premier dépôt des mêmes octets dans l'entreprise"},
    )
    processing = String(
        required=True,
        metadata={"description": "Photos : pending, done ou failed ; none pour les autres"},
    )
    piece_ref = String(
        required=True,
        metadata={
            "description": (
                "Référence de la pièce comptable (PieceRef du FEC) : donnée au dépôt, ou le "
                "numéro lu dans la facture électronique ; vide sinon"
            )
        },
    )
    links = Nested(DepositLinks, required=True)


def _amount(description: str) -> String:
    return String(
        required=True,
        allow_none=True,
        metadata={"description": description + " (décimal en unités, « 1234.50 »)"},
    )


class InvoiceOut(Schema):
    source = String(
        required=True, metadata={"description": "facturx (PDF Factur-X) ou xml (CII, UBL)"}
    )
    syntax = String(required=True, metadata={"description": "CII ou UBL ; vide si illisible"})
    profile = String(required=True, metadata={"description": "Profil (BT-24)"})
    supplier_name = String(required=True, metadata={"description": "Fournisseur (BT-27)"})
    supplier_siren = String(required=True, metadata={"description": "SIREN du fournisseur"})
    invoice_number = String(required=True, metadata={"description": "Numéro (BT-1)"})
    issue_date = Date(required=True, allow_none=True, metadata={"description": "BT-2"})
    due_date = Date(required=True, allow_none=True, metadata={"description": "Échéance (BT-9)"})
    currency = String(required=True, metadata={"description": "Devise (BT-5), EUR le plus souvent"})
    total_ht = _amount("Total HT (BT-109)")
    total_tva = _amount("Total TVA (BT-110)")
    total_ttc = _amount("Total TTC (BT-112)")
    error = String(
        required=True,
        metadata={"description": "Pourquoi la facture n'a pas pu être lue (français) ; vide sinon"},
    )


class DepositDetailOut(DepositOut):
    """One deposit (a schema class of its own: see companies.CompanyDetailOut), with its
    e-invoice."""

    invoice = Nested(
        InvoiceOut,
        required=True,
        allow_none=True,
        metadata={"description": "La facture électronique lue dans le fichier ; null sinon"},
    )


class DepositListOut(Schema):
    items = List(Nested(DepositOut), required=True)
    next_cursor = String(
        required=True,
        allow_none=True,
        metadata={"description": "À passer en « cursor » pour la page suivante ; null : fin"},
    )


class DepositQuery(Schema):
    type = String(metadata={"description": "Code d'un type de dépôt du cabinet"})
    statut = String(
        validate=OneOf([s.value for s in DepositStatus]),
        metadata={"description": "depose, pris_en_charge ou traite"},
    )
    du = Date(metadata={"description": "Déposés ce jour-là ou après (AAAA-MM-JJ, Paris)"})
    au = Date(metadata={"description": "Déposés ce jour-là ou avant (AAAA-MM-JJ, Paris)"})
    cursor = String(metadata={"description": "« next_cursor » de la page précédente"})
    limit = Integer(
        validate=Range(1, MAX_LIMIT),
        metadata={"description": f"Dépôts par page ({DEFAULT_LIMIT} par défaut)"},
    )


class DepositIn(Schema):
    file = File(required=True, metadata={"description": "Le fichier (un seul)"})
    type = String(
        required=True,
        validate=Length(1, 40),
        metadata={"description": "Code du type de dépôt (voir deposit-types)", "example": "achats"},
    )
    comment = String(
        validate=Length(0, services.MAX_COMMENT), metadata={"description": "Commentaire"}
    )
    request = String(
        validate=Length(1, 64),
        metadata={"description": "La demande de pièce du cabinet à laquelle ce dépôt répond"},
    )
    piece_ref = String(
        validate=Length(0, services.MAX_PIECE_REF),
        metadata={"description": "Référence de la pièce (facultatif), le numéro de la facture"},
    )


class PieceRequestOut(Schema):
    id = String(required=True)
    message = String(required=True, metadata={"description": "Ce que le cabinet demande"})
    asked_by = String(allow_none=True, metadata={"description": "Qui l'a demandé au cabinet"})
    created_at = DateTime(required=True)
    last_reminded_at = DateTime(allow_none=True)


class PieceRequestListOut(Schema):
    items = List(Nested(PieceRequestOut), required=True)


class IdempotencyHeader(Schema):
    idempotency_key = String(
        data_key=IDEMPOTENCY_HEADER,
        validate=Regexp(f"^{services.IDEMPOTENCY_KEY.pattern}$"),
        metadata={
            "description": (
                "Un dépôt par clé (8 à 64 caractères) : le renvoyer rend le premier dépôt "
                "(200, Idempotency-Replayed: true), sans doublon"
            )
        },
    )


def documented(schema: type[Schema], location: str) -> Callable[[Any], Any]:
    """The operation's input in the OpenAPI document, as APIFlask writes it, while the view
    reads the request itself: APIFlask's reader would parse the whole body (request.form) before
    `receive_upload` streams it, and would answer a wrong query with its own error."""

    def decorate(view: Any) -> Any:
        # APIFlask annotates a copy of the view (functools.wraps) whose `_spec` is the view's
        # own dict when the view has one: give it one, then drop APIFlask's reading wrapper.
        view.__dict__.setdefault("_spec", {})
        bp.input(schema, location=location, validation=False)(view)
        return view

    return decorate


def described(responses: dict[int, Any]) -> Any:
    """`@bp.doc(responses=...)` mixing descriptions and complete OpenAPI responses (typed)."""
    return responses


# --- answers -----------------------------------------------------------------------------


def type_out(deposit_type: DepositType) -> dict[str, Any]:
    kinds = DATA_KINDS if deposit_type.data else DOCUMENT_KINDS
    return {
        "code": deposit_type.code,
        "label": _(deposit_type.label),
        "data": deposit_type.data,
        "accepted_kinds": [
            {"kind": kind.name.lower(), "mime_type": kind.mime_type, "extension": kind.extension}
            for kind in FileKind
            if kind in kinds
        ],
    }


def _once(key: str, translate: Callable[[], str]) -> str:
    """A type's or a status's label, translated once per request (a page of 50 deposits
    otherwise spends ~13 % of its time in gettext: bench/portal_api.py)."""
    labels: dict[str, str] = g.setdefault("api_labels", {})
    if key not in labels:
        labels[key] = str(translate())
    return labels[key]


def deposit_out(deposit: Deposit) -> dict[str, Any]:
    company_id = deposit.company.public_id
    person = deposit.uploaded_by

    def link(endpoint: str) -> str:
        return url_for(endpoint, company_id=company_id, deposit_id=deposit.public_id)

    return {
        "id": deposit.public_id,
        "filename": deposit.filename,
        "type": {
            "code": deposit.deposit_type.code,
            "label": _once(
                "type:" + deposit.deposit_type.label, lambda: _(deposit.deposit_type.label)
            ),
        },
        "kind": deposit.kind,
        "size": deposit.size,
        "sha256": deposit.sha256,
        "status": deposit.status,
        "status_label": _once(
            "status:" + deposit.status, lambda: DepositStatus(deposit.status).label
        ),
        "comment": deposit.comment,
        "source": deposit.source,
        "created_at": deposit.created_at,
        "uploaded_by": (person.name or person.email) if person is not None else None,
        "duplicate_of": deposit.duplicate_of.public_id if deposit.duplicate_of else None,
        "processing": deposit.processing,
        "piece_ref": deposit.piece_ref,
        "links": {
            "file": link("api.deposit_file") if services.is_ready(deposit) else None,
            "thumbnail": (
                link("api.deposit_thumbnail") if services.has_thumbnail(deposit) else None
            ),
        },
    }


def decimal_text(cents: int | None) -> str | None:
    """123450 → "1234.50" (exact: Decimal, never float)."""
    return None if cents is None else format(Decimal(int(cents)).scaleb(-2), "f")


def invoice_out(invoice: DepositInvoice | None) -> dict[str, Any] | None:
    if invoice is None:
        return None
    return {
        "source": invoice.source,
        "syntax": invoice.syntax,
        "profile": invoice.profile,
        "supplier_name": invoice.supplier_name,
        "supplier_siren": invoice.supplier_siren,
        "invoice_number": invoice.invoice_number,
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "currency": invoice.currency,
        "total_ht": decimal_text(invoice.total_ht),
        "total_tva": decimal_text(invoice.total_tva),
        "total_ttc": decimal_text(invoice.total_ttc),
        "error": invoice.error,
    }


def deposit_detail_out(deposit: Deposit) -> dict[str, Any]:
    return {**deposit_out(deposit), "invoice": invoice_out(deposit.invoice)}


def _not_found() -> Problem:
    return Problem(404, _("Ressource introuvable"), _("Ce dépôt n'existe pas."), code="not_found")


def _deposit(access: Access, deposit_id: str) -> Deposit:
    """One of the company's deposits (never found by its id alone), else 404."""
    try:
        return one_of_company(Deposit, access.company, deposit_id)
    except NotFound:
        raise _not_found() from None


def _limit() -> int:
    raw = request.args.get("limit", "").strip()
    if not raw:
        return DEFAULT_LIMIT
    if raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT:
        return int(raw)
    raise invalid_parameters({"limit": [_("Un nombre entier de 1 à %(max)s.", max=MAX_LIMIT)]})


def _refused(status: int, message: str, *, code: str, field: str | None = None) -> Problem:
    return Problem(
        status,
        _("Dépôt refusé"),
        message,
        code=code,
        errors={field: [message]} if field else None,
    )


# --- operations --------------------------------------------------------------------------


@bp.get("/companies/<company_id>/deposit-types")
@bp.output(DepositTypeListOut)
@bp.doc(summary="Les types de dépôt du cabinet", tags=TAGS)
@api_company(Module.DEPOSIT)
def deposit_types(access: Access) -> dict[str, Any]:
    return {"items": [type_out(t) for t in services.deposit_types_for(access.company)]}


def piece_request_out(asked: PieceRequest) -> dict[str, Any]:
    person = asked.asked_by
    return {
        "id": asked.public_id,
        "message": asked.message,
        "asked_by": (person.name or person.email) if person is not None else None,
        "created_at": asked.created_at,
        "last_reminded_at": asked.last_reminded_at,
    }


@bp.get("/companies/<company_id>/piece-requests")
@bp.output(PieceRequestListOut)
@bp.doc(
    summary="Les pièces que le cabinet demande",
    description=(
        "Les demandes encore ouvertes, les plus anciennes d'abord ; un dépôt y répond en "
        "donnant l'identifiant de la demande dans le champ « request »."
    ),
    tags=TAGS,
)
@api_company(Module.DEPOSIT)
def piece_requests(access: Access) -> dict[str, Any]:
    return {"items": [piece_request_out(r) for r in services.open_piece_requests(access.company)]}


@bp.get("/companies/<company_id>/deposits")
@bp.output(DepositListOut)
@bp.doc(
    summary="Les dépôts de l'entreprise",
    description=(
        "Du plus récent au plus ancien, filtrés comme sur la page (type, statut, dates du/au "
        "en jours de Paris), par pages de « limit » : « next_cursor » donne la suivante."
    ),
    tags=TAGS,
)
@documented(DepositQuery, "query")
@api_company(Module.DEPOSIT)
def deposits(access: Access) -> dict[str, Any]:
    company = access.company
    wanted = services.parse_filter(company.firm_id, request.args)
    if wanted.field_errors:
        raise invalid_parameters(wanted.field_errors)
    limit = _limit()
    statement = services.filtered(
        select(Deposit)
        .where(Deposit.company_id == company.id)
        .options(
            joinedload(Deposit.company),
            joinedload(Deposit.deposit_type),
            joinedload(Deposit.uploaded_by),
            joinedload(Deposit.duplicate_of),
        ),
        wanted,
    )
    page = keyset_page(statement, Deposit, cursor=request.args.get("cursor"), limit=limit)
    return {"items": [deposit_out(d) for d in page.items], "next_cursor": page.next_cursor}


@bp.get("/companies/<company_id>/deposits/<deposit_id>")
@bp.output(DepositDetailOut)
@bp.doc(summary="Un dépôt", tags=TAGS, responses=[404])
@api_company(Module.DEPOSIT)
def deposit(access: Access, deposit_id: str) -> dict[str, Any]:
    return deposit_detail_out(_deposit(access, deposit_id))


@bp.get("/companies/<company_id>/deposits/<deposit_id>/file")
@bp.doc(
    summary="Le fichier d'un dépôt",
    description=(
        "Tel que déposé, en pièce jointe (une photo : sans sa position GPS). Une photo n'est "
        "servie qu'une fois traitée : 409 en attendant."
    ),
    tags=TAGS,
    responses=described(
        {
            200: {
                "description": "Le fichier",
                "content": {kind.mime_type: BINARY for kind in FileKind},
                "headers": {
                    "Content-Disposition": {
                        "description": "attachment ; nom du fichier (RFC 6266)",
                        "schema": {"type": "string"},
                    }
                },
            },
            404: "Introuvable, ou d'une autre entreprise",
            409: "Photo en cours de traitement, ou illisible",
        }
    ),
)
@api_company(Module.DEPOSIT)
def deposit_file(access: Access, deposit_id: str) -> Response:
    deposit = _deposit(access, deposit_id)
    try:
        return services.send_download(deposit)
    except services.FileUnavailable as unavailable:
        if unavailable.message is None:
            raise _not_found() from None
        raise Problem(
            409,
            _("Document en cours de traitement"),
            unavailable.message,
            code="not_ready",
        ) from None


@bp.get("/companies/<company_id>/deposits/<deposit_id>/thumbnail")
@bp.doc(
    summary="La miniature d'une photo",
    tags=TAGS,
    responses=described(
        {
            200: {"description": "Miniature JPEG", "content": {"image/jpeg": BINARY}},
            404: "Pas de miniature (pas une photo, ou pas encore traitée)",
        }
    ),
)
@api_company(Module.DEPOSIT)
def deposit_thumbnail(access: Access, deposit_id: str) -> Response:
    deposit = _deposit(access, deposit_id)
    try:
        return services.send_thumbnail(deposit)
    except services.FileUnavailable:
        raise _not_found() from None


@bp.post("/companies/<company_id>/deposits")
@bp.output(
    DepositDetailOut,
    status_code=201,
    description="Déposé",
    headers={"Location": String(required=True, metadata={"description": "Le nouveau dépôt"})},
)
@bp.doc(
    summary="Déposer un fichier",
    description=(
        "Un fichier par requête (multipart/form-data : « file », « type », « comment », "
        "« piece_ref »), "
        "vérifié d'après son contenu contre les natures du type. Avec « Idempotency-Key », "
        "le même envoi répété rend le premier dépôt (200) ; la même clé avec un autre fichier "
        "est refusée (409)."
    ),
    tags=TAGS,
    responses=described(
        {
            200: {
                "description": "Déjà déposé avec cette clé : le premier dépôt, rien n'est ajouté",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/DepositDetailOut"}
                    }
                },
                "headers": {
                    REPLAYED_HEADER: {
                        "description": "true : réponse d'un dépôt déjà fait",
                        "schema": {"type": "string", "enum": ["true"]},
                    }
                },
            },
            400: "Envoi illisible, ou clé d'idempotence invalide",
            409: "Clé d'idempotence déjà utilisée pour un autre fichier",
            413: "Fichier trop volumineux",
            422: "Fichier, type ou commentaire refusé",
        }
    ),
)
@documented(IdempotencyHeader, "headers")
@documented(DepositIn, "form_and_files")
@api_company(Module.DEPOSIT)
def create_deposit(access: Access) -> tuple[dict[str, Any], int, dict[str, str]]:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not services.IDEMPOTENCY_KEY.fullmatch(key):
        raise _refused(
            400,
            _(services.IDEMPOTENCY_KEY_RULE),
            code="invalid_idempotency_key",
            field=IDEMPOTENCY_HEADER,
        )
    limit = int(current_app.config["PORTAL_MAX_UPLOAD_BYTES"])
    try:
        received = receive_upload(
            request,
            max_file_bytes=limit,
            max_total_bytes=limit + FIELDS_BYTES,
            tmp_dir=services.upload_tmp_dir(),
            check_fields=None,  # bearer tokens: no cookie, no CSRF
            max_parts=MAX_PARTS,
            drain_on_error=True,
        )
    except UploadTooLarge:
        raise Problem(
            413,
            _("Fichier trop volumineux"),
            _("Le fichier dépasse la taille maximale de %(limit)s.", limit=size_label(limit)),
            code="too_large",
            errors={"file": [_("Taille maximale : %(limit)s.", limit=size_label(limit))]},
        ) from None
    except UploadError as invalid:
        raise _refused(invalid.status, _(invalid.message), code="invalid_upload") from None
    with received:
        files = received.files
        if len(files) != 1 or files[0].field_name != "file":
            raise _refused(
                422,
                _("Envoyez un seul fichier, dans le champ « file »."),
                code="validation_error",
                field="file",
            )
        code = (received.field("type") or "").strip()
        deposit_type = services.deposit_type_of(access.company, code)
        if deposit_type is None:
            raise _refused(
                422, _("Ce type de document n'existe pas."), code="validation_error", field="type"
            )
        answering = None
        wanted = (received.field("request") or "").strip()
        if wanted:
            answering = services.piece_request_of(access.company, wanted)
            if answering is None:
                raise _refused(
                    422,
                    _("Cette demande de pièce n'existe pas ou n'est plus ouverte."),
                    code="validation_error",
                    field="request",
                )
        piece_ref = received.field("piece_ref") or ""
        if len(piece_ref.strip()) > services.MAX_PIECE_REF:
            raise _refused(
                422,
                _("La référence de la pièce fait 100 caractères au plus."),
                code="validation_error",
                field="piece_ref",
            )
        file = files[0]
        try:
            result = services.deposit_file(
                access.company,
                deposit_type,
                path=file.path,
                filename=file.filename,
                size=file.size,
                sha256=file.sha256,
                uploaded_by=access.user,
                comment=received.field("comment") or "",
                piece_request=answering,
                idempotency_key=key,
                piece_ref=piece_ref,
            )
        except services.IdempotencyConflict as conflict:
            raise _refused(
                409, _(conflict.message), code="idempotency_conflict", field=IDEMPOTENCY_HEADER
            ) from None
        except services.DepositRefused as refused:
            raise _refused(422, _(refused.message), code="deposit_refused") from None
        db.session.commit()
    if result.needs_processing:
        jobs.schedule([result.deposit.id])
    body = deposit_detail_out(result.deposit)
    if result.replayed:
        return body, 200, {REPLAYED_HEADER: "true"}
    location = url_for(
        "api.deposit", company_id=access.company.public_id, deposit_id=result.deposit.public_id
    )
    return body, 201, {"Location": location}
