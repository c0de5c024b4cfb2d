"""« Accédez à vos archives »: what the firm publishes to a company, and how the company finds it.

`publish_document` is the one way in. Only the firm's staff call it (the view checks); the
file's kind is read from its bytes (files.sniff): PDF and images for reading, CSV/XLSX for
data, nothing else. The bytes go to the content-addressed blob store under their SHA-256 (never
under a name anyone sent: SECURITY.md 49, 50); the name is kept for display only
(`safe_display_name`), and once more as `search_name`, lower-cased without accents, so that
« general » finds « Bilan Général.pdf » with a plain LIKE on every database.

Nothing here deletes a document: archives are kept 10 years, whoever leaves the company
(SECURITY.md 51). A document belongs to its company, not to the person who saw or published it.

The list is filtered by folder, exercice and a file-name search, newest first, 50 a page
(offset pagination: at 10,000 documents a company the count and the page stay within a few
milliseconds, bench/portal_archives.py).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from flask import Response, current_app, send_file
from flask_babel import gettext as _
from sqlalchemy import Select, func, select
from werkzeug.exceptions import NotFound

from client_portal_rp import audit
from client_portal_rp.extensions import db
from client_portal_rp.files import (
    DATA_KINDS,
    DOCUMENT_KINDS,
    FileKind,
    content_disposition,
    safe_display_name,
    sniff,
)
from client_portal_rp.models import (
    ArchiveDocument,
    ArchiveFolder,
    Company,
    PortalUser,
    utcnow,
)
from client_portal_rp.storage import BlobNotFound, BlobStore, LocalBlobStore, current_blob_store

PAGE_SIZE = 50
FIRST_EXERCICE = 1990
MAX_QUERY = 100  # characters of a search: a file name is at most 150
SEARCH_NAME_LENGTH = 200  # the column's size
ARCHIVE_KINDS = DOCUMENT_KINDS | DATA_KINDS
# Opened in the browser (under a CSP sandbox): what every browser shows by itself. HEIC and
# TIFF are published as they are but downloaded (Chromium and Firefox show neither).
INLINE_KINDS = frozenset({FileKind.PDF, FileKind.JPEG, FileKind.PNG})
# The response that shows a document in the browser: a sandbox (opaque origin, no scripts, no
# forms, no popups, no plugins of ours), nothing loaded from anywhere. Measured on Chromium 156
# (tests/client_portal_rp/test_archives_browser.py): its PDF viewer and its image view render
# under `sandbox; default-src 'none'` alone. `style-src 'unsafe-inline'` is kept for the inline
# styles of the page Chromium wraps around a PDF or an image (older versions drew the viewer at a
# fifth of the height without them, Chromium issue 271452); it costs nothing where no script
# runs and nothing can load.
VIEWER_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'"


class ArchiveRefused(Exception):
    """A file the archives do not take; `message` is French and names the file."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- names -------------------------------------------------------------------------------


def search_key(text: str) -> str:
    """`text` as the search compares it: NFKD without combining marks (accents), lower-cased,
    spaces collapsed. « Bilan Général » -> « bilan general »."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.lower().split())


def like_pattern(query: str) -> str:
    """A LIKE pattern (escape character `\\`) matching `query` anywhere, literally: `%` and
    `_` typed by a person are characters of a file name, not wildcards."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def file_kind(document: ArchiveDocument) -> FileKind:
    """The document's kind (stored as the FileKind's lower-case name: pdf, jpeg, csv...)."""
    return FileKind[document.kind.upper()]


def opens_inline(document: ArchiveDocument) -> bool:
    return file_kind(document) in INLINE_KINDS


# --- exercices ---------------------------------------------------------------------------


def last_exercice() -> int:
    """The latest exercice one may publish for: next year's (an exercice closing next year)."""
    return date.today().year + 1


def default_exercice(company: Company) -> int:
    """The company's current exercice: the year its exercice ends, else this year."""
    if company.exercice_end is not None:
        return min(max(company.exercice_end.year, FIRST_EXERCICE), last_exercice())
    return date.today().year


def parse_exercice(raw: str) -> int | None:
    """A year between 1990 and next year, else None."""
    raw = (raw or "").strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) == 4):
        return None
    year = int(raw)
    return year if FIRST_EXERCICE <= year <= last_exercice() else None


def exercice_error() -> str:
    return _(
        "L'exercice est l'année de clôture, entre %(first)s et %(last)s (par exemple 2024).",
        first=FIRST_EXERCICE,
        last=last_exercice(),
    )


# --- publishing --------------------------------------------------------------------------


def blob_store() -> BlobStore:
    return current_blob_store()


def upload_tmp_dir() -> Path:
    """Where uploads stream to: beside the blobs on local storage (one file system), else the
    instance folder."""
    store = blob_store()
    if isinstance(store, LocalBlobStore):
        directory = store.root / ".incoming"
    else:
        directory = Path(current_app.instance_path) / "uploads"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _refusal(name: str, kind: FileKind | None) -> str:
    if kind is None:
        return _(
            "« %(name)s » n'est pas un fichier accepté dans les archives : publiez un PDF, une "
            "image (JPEG, PNG, HEIC, TIFF), un fichier CSV ou un classeur Excel (XLSX). Les "
            "pages web, images SVG, programmes, archives ZIP et classeurs à macros sont "
            "refusés.",
            name=name,
        )
    return _(
        "« %(name)s » est un %(kind)s : ce type de fichier n'est pas accepté.",
        name=name,
        kind=_(kind.label),
    )


def publish_document(
    company: Company,
    *,
    folder: ArchiveFolder,
    exercice: int,
    path: Path,
    filename: str,
    size: int,
    sha256: str,
    published_by: PortalUser | None,
) -> ArchiveDocument:
    """Publish the file at `path` (received whole: `size` bytes of digest `sha256`) in the
    company's `folder` for `exercice`: kind checked from the bytes, bytes stored by digest, row
    and audit line added (the caller commits). `path` is left where it is.
    Raises ArchiveRefused (French message naming the file)."""
    name = safe_display_name(filename)
    if not FIRST_EXERCICE <= exercice <= last_exercice():
        raise ArchiveRefused(exercice_error())
    if size <= 0:
        raise ArchiveRefused(_("« %(name)s » est vide : aucun octet n'a été reçu.", name=name))
    kind = sniff(path)
    if kind is None or kind not in ARCHIVE_KINDS:
        raise ArchiveRefused(_refusal(name, kind))
    blob_store().put(path, sha256)
    document = ArchiveDocument(
        company_id=company.id,
        folder=folder.value,
        exercice=exercice,
        filename=name,
        search_name=search_key(name)[:SEARCH_NAME_LENGTH],
        kind=kind.name.lower(),
        size=size,
        blob_sha256=sha256,
        published_by_id=published_by.id if published_by is not None else None,
        published_at=utcnow(),
    )
    db.session.add(document)
    db.session.flush()
    audit.record(
        "archive.published",
        company=company,
        actor=published_by,
        document=document.public_id,
        filename=name,
        folder=folder.value,
        exercice=exercice,
        kind=document.kind,
        size=size,
    )
    return document


# --- the list ----------------------------------------------------------------------------


@dataclass
class ArchiveFilter:
    """What the list shows (from the query string, every value checked)."""

    folder: ArchiveFolder | None = None
    exercice: int | None = None
    query: str = ""  # as typed (shown back in the search box)
    page: int = 1
    errors: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The search as compared with `search_name`."""
        return search_key(self.query)

    def query_args(self, **override: Any) -> dict[str, Any]:
        args: dict[str, Any] = {
            "dossier": self.folder.value if self.folder else None,
            "exercice": self.exercice,
            "q": self.query or None,
            "page": self.page if self.page > 1 else None,
        }
        args.update(override)
        return {key: value for key, value in args.items() if value}

    @property
    def narrowed(self) -> bool:
        """A filter other than the folder (the folder is a tab, not a filter)."""
        return bool(self.exercice or self.key)


def parse_filter(args: Mapping[str, str]) -> ArchiveFilter:
    """The filter from the query string; a wrong value is dropped with a French message."""
    found = ArchiveFilter()
    folder = (args.get("dossier") or "").strip()
    if folder:
        if folder in ArchiveFolder._value2member_map_:
            found.folder = ArchiveFolder(folder)
        else:
            found.errors.append(
                _("Ce dossier n'existe pas (documents comptables, juridiques ou fiscaux).")
            )
    exercice = (args.get("exercice") or "").strip()
    if exercice:
        found.exercice = parse_exercice(exercice)
        if found.exercice is None:
            found.errors.append(exercice_error())
    query = " ".join((args.get("q") or "").split())
    if len(query) > MAX_QUERY:
        found.errors.append(
            _(
                "La recherche fait %(length)s caractères : %(max)s au plus. Elle a été raccourcie.",
                length=len(query),
                max=MAX_QUERY,
            )
        )
        query = query[:MAX_QUERY]
    found.query = query
    page = (args.get("page") or "1").strip()
    found.page = int(page) if page.isascii() and page.isdigit() and 0 < int(page) < 100_000 else 1
    return found


@dataclass
class ArchivePage:
    documents: list[ArchiveDocument]
    total: int  # in the folder shown (all folders when none is chosen)
    page: int
    pages: int
    folder_counts: dict[ArchiveFolder, int]  # with the exercice and the search applied
    exercices: list[int]  # those with documents matching the search, newest first

    @property
    def all_count(self) -> int:
        return sum(self.folder_counts.values())


def _narrowed(statement: Any, company: Company, wanted: ArchiveFilter) -> Any:
    """`statement` limited to the company's documents whose name matches the search."""
    statement = statement.where(ArchiveDocument.company_id == company.id)
    if wanted.key:
        statement = statement.where(
            ArchiveDocument.search_name.like(like_pattern(wanted.key), escape="\\")
        )
    return statement


def summary(company: Company, wanted: ArchiveFilter) -> tuple[dict[ArchiveFolder, int], list[int]]:
    """In one pass over the company's documents that match the search: how many each folder
    holds in the chosen exercice (all exercices when none is), and the exercices that have
    any (newest first), for the exercice filter."""
    rows = db.session.execute(
        _narrowed(
            select(ArchiveDocument.folder, ArchiveDocument.exercice, func.count()).group_by(
                ArchiveDocument.folder, ArchiveDocument.exercice
            ),
            company,
            wanted,
        )
    ).all()
    counts = dict.fromkeys(ArchiveFolder, 0)
    exercices: set[int] = set()
    for folder, exercice, count in rows:
        exercices.add(int(exercice))
        if folder in ArchiveFolder._value2member_map_ and wanted.exercice in (None, exercice):
            counts[ArchiveFolder(folder)] += int(count)
    return counts, sorted(exercices, reverse=True)


def matching(company: Company, wanted: ArchiveFilter) -> Select[tuple[ArchiveDocument]]:
    """The company's documents matching the whole filter (search, exercice, folder), unordered:
    the page orders and cuts it by page number, the API by cursor."""
    statement: Select[tuple[ArchiveDocument]] = _narrowed(select(ArchiveDocument), company, wanted)
    if wanted.exercice is not None:
        statement = statement.where(ArchiveDocument.exercice == wanted.exercice)
    if wanted.folder is not None:
        statement = statement.where(ArchiveDocument.folder == wanted.folder.value)
    return statement


def archives_page(company: Company, wanted: ArchiveFilter) -> ArchivePage:
    """One page (50) of the company's documents matching the filter, newest first."""
    counts, exercices = summary(company, wanted)
    total = counts[wanted.folder] if wanted.folder else sum(counts.values())
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(wanted.page, pages)
    documents: list[ArchiveDocument] = []
    if total:  # nothing matches: no second pass over the company's documents
        documents = list(
            db.session.scalars(
                matching(company, wanted)
                .order_by(ArchiveDocument.published_at.desc(), ArchiveDocument.id.desc())
                .limit(PAGE_SIZE)
                .offset((page - 1) * PAGE_SIZE)
            )
        )
    return ArchivePage(documents, total, page, pages, counts, exercices)


# --- serving -----------------------------------------------------------------------------


def send_document(document: ArchiveDocument, *, inline: bool) -> Response:
    """The document's bytes as the page and the API serve them (SECURITY.md 50): read by digest
    only, the kind `sniff` found, `nosniff`, never cached, the safe name through
    `content_disposition`, and the viewer's sandbox even on a download (a browser that rendered
    it anyway would run nothing). A blob missing from the store is a 404, logged."""
    store = blob_store()
    try:
        size = store.size(document.blob_sha256)
        stream = store.open(document.blob_sha256)
    except BlobNotFound:
        current_app.logger.error("archive blob %s missing", document.blob_sha256)
        raise NotFound() from None
    kind = file_kind(document)
    response = send_file(
        stream, mimetype=kind.mime_type, conditional=False, etag=False, max_age=None
    )
    response.content_length = size
    response.headers["Content-Disposition"] = content_disposition(document.filename, inline=inline)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = VIEWER_CSP
    return response
