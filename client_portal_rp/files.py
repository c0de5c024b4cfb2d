"""What a deposited file is, decided from its content, and how its name is shown and sent back.

A file's name and its declared type are the sender's word; only the first bytes say what it is.
`sniff` recognises the few kinds a client may deposit and nothing else: an HTML page renamed
`.pdf`, an SVG, a program or a bare ZIP archive is refused before it is stored, so the portal
never serves active content from its own origin. XML is taken only when its root element is an
electronic invoice's (CII, UBL Invoice or CreditNote, in their namespaces): XML can carry
script, so it is only ever served as an attachment under the CSP sandbox, never rendered.

Why our own magic bytes and not the `filetype` package: each signature is a few bytes we can read
here in a line; `filetype` knows none of CSV, would add a dependency, and tells an XLSX from a
plain ZIP by a byte pattern where we open the ZIP's directory and look for the workbook.
"""

from __future__ import annotations

import codecs
import enum
import re
import unicodedata
import zipfile
from pathlib import Path
from urllib.parse import quote

SAMPLE_BYTES = 64 * 1024  # how much of a file the text checks read
MAX_DISPLAY_NAME = 150
DEFAULT_NAME = "document"

HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
GENERIC_HEIF_BRANDS = {b"mif1", b"msf1"}
AVIF_BRANDS = {b"avif", b"avis"}
CSV_SEPARATORS = (";", ",", "\t", "|")
# Text that a browser or an interpreter would run: never a spreadsheet's export.
ACTIVE_TEXT = re.compile(
    r"<\s*(?:[a-z][a-z0-9-]*[\s/>]|[!?/])|\bjavascript:|\bfunction\b\s*\w*\s*\(|=>|\b(?:var|let|const)\s+\w+\s*="
    r"|\b(?:document|window)\.\w|\beval\s*\(|\brequire\s*\(|^\s*(?://|/\*|#!)",
    re.IGNORECASE | re.MULTILINE,
)
# An e-invoice's XML: an optional declaration and comments, then the root's start tag (no
# DOCTYPE: client_portal_rp/einvoices.py refuses one anyway).
XML_ROOT = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml\s[^>]*\?>\s*)?(?:<!--.*?-->\s*)*"
    rb"<(?:[A-Za-z_][\w.-]*:)?(CrossIndustryInvoice|Invoice|CreditNote)\b([^>]*)>",
    re.DOTALL,
)
EINVOICE_NAMESPACES = {
    b"CrossIndustryInvoice": b"urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    b"Invoice": b"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    b"CreditNote": b"urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}


class FileKind(enum.Enum):
    """The kinds of file the portal accepts; value = (MIME type, French label, extension)."""

    PDF = ("application/pdf", "PDF", ".pdf")
    JPEG = ("image/jpeg", "photo JPEG", ".jpg")
    PNG = ("image/png", "image PNG", ".png")
    HEIC = ("image/heic", "photo HEIC (iPhone)", ".heic")
    TIFF = ("image/tiff", "image TIFF", ".tif")
    CSV = ("text/csv", "fichier CSV", ".csv")
    XML = ("application/xml", "fichier XML de facture électronique", ".xml")
    XLSX = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "classeur Excel",
        ".xlsx",
    )

    @property
    def mime_type(self) -> str:
        return self.value[0]

    @property
    def label(self) -> str:
        return self.value[1]

    @property
    def extension(self) -> str:
        return self.value[2]


DOCUMENT_KINDS = frozenset(
    {FileKind.PDF, FileKind.JPEG, FileKind.PNG, FileKind.HEIC, FileKind.TIFF, FileKind.XML}
)
DATA_KINDS = frozenset({FileKind.CSV, FileKind.XLSX})
PHOTO_KINDS = frozenset({FileKind.JPEG, FileKind.PNG, FileKind.HEIC, FileKind.TIFF})


def sniff(path: Path) -> FileKind | None:
    """The kind of the file at `path` judged by its bytes alone, or None when it is none of ours."""
    with open(path, "rb") as stream:
        head = stream.read(SAMPLE_BYTES)
    if head.startswith(b"%PDF-"):
        return FileKind.PDF
    if head.startswith(b"\xff\xd8\xff"):
        return FileKind.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FileKind.PNG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return FileKind.TIFF
    if _is_heif(head):
        return FileKind.HEIC
    if head.startswith(b"PK\x03\x04"):
        return FileKind.XLSX if _is_xlsx(path) else None
    if _is_einvoice_xml(head):
        return FileKind.XML
    if _is_csv(head, complete=len(head) < SAMPLE_BYTES):
        return FileKind.CSV
    return None


def _is_heif(head: bytes) -> bool:
    """An ISO-BMFF file whose first box is `ftyp` naming a HEIF/HEIC brand (not AVIF)."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return False
    box_size = int.from_bytes(head[0:4], "big")
    if box_size < 16 or box_size > min(len(head), 4096) or box_size % 4:
        return False
    major = head[8:12]
    brands = {major} | {head[i : i + 4] for i in range(16, box_size, 4)}
    if brands & HEIF_BRANDS:
        return True
    return bool(brands & GENERIC_HEIF_BRANDS) and not brands & AVIF_BRANDS


def _is_einvoice_xml(head: bytes) -> bool:
    """UTF-8 XML whose root is a CII invoice or a UBL invoice or credit note, its namespace
    declared on the root. Any other XML (an SVG, XHTML, a feed) is none of ours."""
    found = XML_ROOT.match(head)
    if found is None:
        return False
    namespace = EINVOICE_NAMESPACES[found.group(1)]
    return (
        re.search(
            rb"""xmlns(?::[\w.-]+)?\s*=\s*["']""" + re.escape(namespace) + rb"""["']""",
            found.group(2),
        )
        is not None
    )


def _is_xlsx(path: Path) -> bool:
    """A ZIP whose directory holds an Office workbook; macro workbooks (xlsm) are refused.
    Only the central directory is read: nothing is decompressed."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return (
        "[Content_Types].xml" in names
        and "xl/workbook.xml" in names
        and "xl/vbaProject.bin" not in names
    )


def _is_csv(head: bytes, *, complete: bool) -> bool:
    """Text in UTF-8 or CP1252, without NUL or control characters, whose first line holds a
    separator, and that looks like nothing a browser or an interpreter would run."""
    if not head.strip() or b"\x00" in head:
        return False
    text = _decode_text(head, complete=complete)
    if text is None:
        return False
    if any(unicodedata.category(c) == "Cc" and c not in "\t\r\n\x1a" for c in text):
        return False
    first_line = text.lstrip("\ufeff \r\n").split("\n", 1)[0]
    if not any(sep in first_line for sep in CSV_SEPARATORS):
        return False
    return ACTIVE_TEXT.search(text) is None


def _decode_text(head: bytes, *, complete: bool) -> str | None:
    for encoding in ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            # A sample cut in the middle of a UTF-8 character is not an error.
            return str(decoder.decode(head, final=complete))
        except UnicodeDecodeError:
            continue
    return None


def _visible(char: str) -> bool:
    """False for control, format (bidi overrides, zero-width) and line/paragraph separators."""
    return unicodedata.category(char) not in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def safe_display_name(name: str) -> str:
    """A name fit to show and to offer for download: the last path component of what was sent,
    without control or bidi characters, NFC, trimmed, at most 150 characters with its extension
    kept, never empty and never `.` or `..`."""
    last = re.split(r"[/\\]", name or "")[-1]
    last = re.sub(r"[\t\r\n\v\f]+", " ", last)  # a line break or tab reads as a space
    cleaned = unicodedata.normalize("NFC", "".join(c for c in last if _visible(c)))
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    if cleaned.strip(".") == "":
        return DEFAULT_NAME
    if len(cleaned) > MAX_DISPLAY_NAME:
        stem, dot, ext = cleaned.rpartition(".")
        if dot and stem and 0 < len(ext) <= 16:
            cleaned = stem[: MAX_DISPLAY_NAME - len(ext) - 1].rstrip() + "." + ext
        else:
            cleaned = cleaned[:MAX_DISPLAY_NAME].rstrip()
    return cleaned


def _ascii_fallback(name: str) -> str:
    """The name in plain ASCII for old clients: accents dropped, quotes, backslashes and `%`
    (which some browsers decode) replaced; a name with nothing left becomes `document.ext`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = "".join(c for c in ascii_name if 0x20 <= ord(c) < 0x7F)
    ascii_name = re.sub(r'["\\%]', "_", ascii_name).strip()
    stem, dot, ext = ascii_name.rpartition(".")
    if not dot:
        stem, ext = ascii_name, ""
    if not stem.strip(" ._"):
        return DEFAULT_NAME + (f".{ext}" if ext.strip() else "")
    return ascii_name


def content_disposition(name: str, *, inline: bool) -> str:
    """A Content-Disposition header value (RFC 6266) naming the file: an ASCII `filename`
    for old clients and the exact name as `filename*=UTF-8''...` (RFC 5987)."""
    display = safe_display_name(name)
    disposition = "inline" if inline else "attachment"
    encoded = quote(display, safe="!#$&+-.^_`|~")
    return f"{disposition}; filename=\"{_ascii_fallback(display)}\"; filename*=UTF-8''{encoded}"
