"""« Accédez à vos archives » as JSON: the list with the page's search (file name without
accents), folder and exercice filters, paginated by cursor (newest published first); the folders
with their counts; one document and its bytes.

Rights are the page's (`api_company(Module.ARCHIVES)`: scope `portal.archives`, the module's
right, "sécurité avancée" by default so a token without the MFA level gets 401
`insufficient_user_authentication`); a document is looked up inside the URL's company
(`one_of_company`: another company's id is a 404). The bytes go out through the page's own
`services.send_document` (kind from content, `nosniff`, sandbox CSP, RFC 6266 name, no cache),
always as an attachment. The page does not audit reading or downloading; neither does this.
"""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import DateTime, Integer, List, Nested, String
from apiflask.validators import Length, OneOf
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from client_portal_rp.api import bp
from client_portal_rp.api.auth import api_company
from client_portal_rp.api.pagination import cursor_field, keyset_page, limit_field
from client_portal_rp.archives import services
from client_portal_rp.files import FileKind
from client_portal_rp.models import ArchiveDocument, ArchiveFolder, Module
from client_portal_rp.tenancy import Access, one_of_company

TAGS = ["Archives"]
FOLDER_CODES = [folder.value for folder in ArchiveFolder]
FOLDER_ERROR = _l("Ce dossier n'existe pas (documents comptables, juridiques ou fiscaux).")
EXERCICE_INVALID = _l("L'exercice est une année sur quatre chiffres, par exemple 2024.")


def _check_exercice(year: int) -> None:
    if services.parse_exercice(str(year)) is None:
        raise ValidationError(services.exercice_error())


def _query_field() -> String:
    return String(
        validate=Length(
            max=services.MAX_QUERY,
            error=_l("La recherche fait %(max)s caractères au plus.", max=services.MAX_QUERY),
        ),
        metadata={
            "description": "Recherche dans le nom du fichier (sans tenir compte des accents)"
        },
    )


def _exercice_field() -> Integer:
    return Integer(
        strict=False,
        validate=_check_exercice,
        error_messages={"invalid": EXERCICE_INVALID},
        metadata={"description": "Exercice : année de clôture (par exemple 2024)"},
    )


class ArchiveQuery(Schema):
    q = _query_field()
    folder = String(
        validate=OneOf(FOLDER_CODES, error=FOLDER_ERROR),
        metadata={"description": "Dossier : " + ", ".join(FOLDER_CODES), "enum": FOLDER_CODES},
    )
    exercice = _exercice_field()
    cursor = cursor_field()
    limit = limit_field("Documents")


class FolderQuery(Schema):
    q = _query_field()
    exercice = _exercice_field()


class FolderOut(Schema):
    code = String(required=True, metadata={"enum": FOLDER_CODES})
    label = String(required=True)


class ArchiveDocumentOut(Schema):
    id = String(required=True, metadata={"description": "Identifiant public du document"})
    filename = String(required=True)
    folder = Nested(FolderOut, required=True)
    exercice = Integer(required=True, metadata={"description": "Année de clôture"})
    size = Integer(required=True, metadata={"description": "Taille en octets"})
    kind = String(
        required=True,
        metadata={
            "description": "Type lu dans le contenu du fichier",
            "enum": [kind.name.lower() for kind in FileKind],
        },
    )
    kind_label = String(required=True)
    mime_type = String(required=True)
    published_at = DateTime(required=True)
    download_url = String(
        required=True, metadata={"description": "GET : le fichier (pièce jointe)"}
    )


class ArchiveDocumentDetailOut(ArchiveDocumentOut):
    """One document (a class of its own: APIFlask registers a schema nested elsewhere twice)."""


class ArchiveListOut(Schema):
    items = List(Nested(ArchiveDocumentOut), required=True)
    next_cursor = String(
        required=True,
        allow_none=True,
        metadata={"description": "À passer en « cursor » pour la suite ; null à la fin"},
    )


class FolderCountOut(Schema):
    code = String(required=True, metadata={"enum": FOLDER_CODES})
    label = String(required=True)
    count = Integer(required=True)


class ArchiveFoldersOut(Schema):
    items = List(Nested(FolderCountOut), required=True)
    total = Integer(required=True, metadata={"description": "Tous dossiers confondus"})
    exercices = List(
        Integer(),
        required=True,
        metadata={
            "description": "Exercices ayant des documents (recherche appliquée), récents d'abord"
        },
    )


def _filter(query: dict[str, Any]) -> services.ArchiveFilter:
    """The page's filter, from values the query schema has checked."""
    folder = query.get("folder")
    return services.ArchiveFilter(
        folder=ArchiveFolder(folder) if folder else None,
        exercice=query.get("exercice"),
        query=" ".join((query.get("q") or "").split()),
    )


def document_out(access: Access, document: ArchiveDocument) -> dict[str, Any]:
    folder = ArchiveFolder(document.folder)
    kind = services.file_kind(document)
    return {
        "id": document.public_id,
        "filename": document.filename,
        "folder": {"code": folder.value, "label": folder.label},
        "exercice": document.exercice,
        "size": document.size,
        "kind": document.kind,
        "kind_label": _(kind.label),
        "mime_type": kind.mime_type,
        "published_at": document.published_at,
        "download_url": url_for(
            "api.archive_file",
            company_id=access.company.public_id,
            document_id=document.public_id,
        ),
    }


@bp.get("/companies/<company_id>/archives")
@bp.doc(
    summary="Chercher dans les archives",
    description=(
        "Les documents publiés par le cabinet, les plus récents d'abord, filtrés comme sur la "
        "page : recherche dans le nom du fichier (sans accents), dossier, exercice. Pagination "
        "par curseur."
    ),
    tags=TAGS,
    responses=[404],
)
@api_company(Module.ARCHIVES)
@bp.input(ArchiveQuery, location="query")
@bp.output(ArchiveListOut)
def archives(access: Access, query_data: dict[str, Any]) -> dict[str, Any]:
    statement = services.matching(access.company, _filter(query_data))
    page = keyset_page(
        statement,
        ArchiveDocument,
        cursor=query_data.get("cursor"),
        limit=query_data["limit"],
        created="published_at",
    )
    return {
        "items": [document_out(access, document) for document in page.items],
        "next_cursor": page.next_cursor,
    }


@bp.get("/companies/<company_id>/archives/folders")
@bp.doc(
    summary="Les dossiers des archives et leurs nombres de documents",
    description=(
        "Comme les onglets de la page : le nombre de documents de chaque dossier pour "
        "l'exercice choisi (tous sinon) et la recherche, et les exercices qui ont des documents."
    ),
    tags=TAGS,
    responses=[404],
)
@api_company(Module.ARCHIVES)
@bp.input(FolderQuery, location="query")
@bp.output(ArchiveFoldersOut)
def archive_folders(access: Access, query_data: dict[str, Any]) -> dict[str, Any]:
    counts, exercices = services.summary(access.company, _filter(query_data))
    return {
        "items": [
            {"code": folder.value, "label": folder.label, "count": counts[folder]}
            for folder in ArchiveFolder
        ],
        "total": sum(counts.values()),
        "exercices": exercices,
    }


@bp.get("/companies/<company_id>/archives/<document_id>")
@bp.doc(summary="Un document des archives", tags=TAGS, responses=[404])
@api_company(Module.ARCHIVES)
@bp.output(ArchiveDocumentDetailOut)
def archive(access: Access, document_id: str) -> dict[str, Any]:
    document = one_of_company(ArchiveDocument, access.company, document_id)
    return document_out(access, document)


FILE_RESPONSE: dict[str, Any] = {
    "description": (
        "Le fichier, en pièce jointe (Content-Disposition avec son nom), du type lu dans son "
        "contenu"
    ),
    "content": {
        mime: {"schema": {"type": "string", "format": "binary"}}
        for mime in sorted({kind.mime_type for kind in services.ARCHIVE_KINDS})
    },
}


# 404 and the other errors: api.document_spec.
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {200: FILE_RESPONSE}


@bp.get("/companies/<company_id>/archives/<document_id>/file")
@bp.doc(
    summary="Télécharger un document des archives",
    tags=TAGS,
    responses=FILE_RESPONSES,
)
@api_company(Module.ARCHIVES)
def archive_file(access: Access, document_id: str) -> Response:
    document = one_of_company(ArchiveDocument, access.company, document_id)
    return services.send_document(document, inline=False)
