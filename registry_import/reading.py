"""A council's file, as bytes, to rows with their physical line numbers (docs/adr/0018).

Two passes over the bytes, never the whole file in memory as Python objects:

1. `inspect` reads the file once in 1 MiB chunks: SHA-256, size, kind (CSV by default, XLSX
   by its magic bytes (XLS refused), never by the name), and for CSV the encoding and separator.
   Strict UTF-8 is tried first (with or without BOM); otherwise charset-normalizer chooses
   between cp1252 and ISO-8859-15 only, and the choice is checked on every byte of the file:
   NUL bytes, bytes the codec leaves undefined, C1 controls, or UTF-8 sequences inside
   a legacy file (two encodings mixed) refuse the whole file before a row is read
   (docs/security.md 41).
2. `iter_rows` streams the rows: `csv.reader` over a `TextIOWrapper`, or python-calamine's
   rows for spreadsheets. Each row carries the physical line where it starts (the header is
   line 1), which differs from the row count once a quoted cell holds a line break.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import BinaryIO, cast

import charset_normalizer
import python_calamine

CHUNK_SIZE = 1 << 20
SNIFF_SIZE = 64 * 1024
SAMPLE_BUDGET = 512 * 1024  # lines with non-ASCII bytes given to charset-normalizer
MAX_CHAOS = 0.2  # charset-normalizer's mess ratio above which the text is taken as garbage
SEPARATORS = (";", ",", "\t")
SEPARATOR_NAMES = {";": "point-virgule", ",": "virgule", "\t": "tabulation"}

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
UTF8_BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

# Bytes a text file may hold without telling anything about its encoding.
_PLAIN_ASCII = bytes([9, 10, 13, *range(32, 127)])
_NUL = 0  # never in a text file: a binary file, or UTF-16/32 without a BOM
_CP1252_UNDEFINED = frozenset({0x81, 0x8D, 0x8F, 0x90, 0x9D})
_C1_RANGE = frozenset(range(0x80, 0xA0))
_LEGACY_PREFERENCE = ("cp1252", "iso8859_15")  # equally plausible: Excel FR's default first
_IMPLAUSIBLE = "¤¦¨´¸¼½¾" + "".join(map(chr, range(0x80, 0xA0)))
# A well-formed UTF-8 multi-byte sequence: in a cp1252 or ISO-8859-15 file it means that part
# of the file was saved in UTF-8 ("Ã©" for "é").
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
# Cheap first look for _UTF8_SEQUENCE (any of its matches starts with this): one character set
# instead of an alternation at each byte of a legacy file, where "é" (0xE9) is everywhere.
_UTF8_LEAD_AND_CONTINUATION = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")
_LINE_WITH_HIGH_BYTES = re.compile(rb"[^\n]*[\x80-\xff][^\n]*\n?")

Cell = str | float | int | bool | date | datetime | time | timedelta | None

ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 avec BOM",
    "cp1252": "Windows-1252",
    "iso8859_15": "ISO-8859-15",
}


class FileRefused(Exception):
    """The file cannot be read as a whole: the French message says why and what to do."""

    def __init__(self, message: str, *, sha256: str = "", size: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.sha256 = sha256  # known once the file was read through (`inspect`)
        self.size = size


@dataclass(frozen=True)
class FileFacts:
    sha256: str
    size: int
    kind: str  # "csv" or "xlsx"
    encoding: str | None = None  # CSV only: a Python codec name
    separator: str | None = None  # CSV only

    def describe(self) -> str:
        """`CSV, Windows-1252, séparateur point-virgule` (the summary's first line)."""
        if self.kind != "csv":
            return self.kind.upper()
        encoding = ENCODING_NAMES.get(self.encoding or "", self.encoding or "?")
        separator = SEPARATOR_NAMES.get(self.separator or "", self.separator or "?")
        return f"CSV, {encoding}, séparateur {separator}"


@contextlib.contextmanager
def seekable(source: Path | BinaryIO) -> Iterator[BinaryIO]:
    """The source as a seekable binary stream positioned at its start (a path is opened and
    closed; a caller's stream is left open; a pipe is spooled to a temporary file)."""
    if isinstance(source, Path):
        with source.open("rb") as stream:
            yield stream
        return
    if source.seekable():
        start = source.tell()
        yield cast(BinaryIO, io.BufferedReader(_Offset(source, start))) if start else source
        return
    with tempfile.SpooledTemporaryFile(max_size=16 * CHUNK_SIZE) as spool:
        shutil.copyfileobj(source, spool, CHUNK_SIZE)
        spool.seek(0)
        yield spool  # type: ignore[misc]


class _Offset(io.RawIOBase):
    """A caller's stream that did not start at 0: seek(0) means its starting position."""

    def __init__(self, stream: BinaryIO, start: int) -> None:
        self._stream, self._start = stream, start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == io.SEEK_SET:
            return self._stream.seek(self._start + offset) - self._start
        return self._stream.seek(offset, whence) - self._start

    def tell(self) -> int:
        return self._stream.tell() - self._start

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def inspect(stream: BinaryIO) -> FileFacts:
    """One pass over the bytes: hash, size, kind, encoding and separator; FileRefused when the
    file is empty, binary, of an unsupported encoding or of mixed encodings."""
    stream.seek(0)
    digest = hashlib.sha256()
    size = 0
    head = b""
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    utf8_ok = True
    seen: set[int] = set()  # every byte outside printable ASCII, tab, CR and LF
    utf8_sequences = False
    tail = b""
    sample: list[bytes] = []
    sample_size = 0
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
        if len(head) < SNIFF_SIZE:
            head += chunk[: SNIFF_SIZE - len(head)]
        if utf8_ok:
            try:
                utf8.decode(chunk)
            except UnicodeDecodeError:
                utf8_ok = False
        odd = chunk.translate(None, _PLAIN_ASCII)
        if odd:
            seen.update(odd)
            if not utf8_sequences:
                window = tail + chunk
                if _UTF8_LEAD_AND_CONTINUATION.search(window) and _UTF8_SEQUENCE.search(window):
                    utf8_sequences = True
            if sample_size < SAMPLE_BUDGET:
                for match in _LINE_WITH_HIGH_BYTES.finditer(chunk):
                    sample.append(match.group())
                    sample_size += len(match.group())
                    if sample_size >= SAMPLE_BUDGET:
                        break
        tail = chunk[-3:]
    if utf8_ok:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_ok = False
    sha256 = digest.hexdigest()
    try:
        return _facts(sha256, size, head, utf8_ok, seen, utf8_sequences, b"".join(sample))
    except FileRefused as refused:
        refused.sha256, refused.size = sha256, size
        raise


def _facts(
    sha256: str,
    size: int,
    head: bytes,
    utf8_ok: bool,
    seen: set[int],
    utf8_sequences: bool,
    sample: bytes,
) -> FileFacts:
    if head.startswith(ZIP_MAGIC):
        return FileFacts(sha256, size, "xlsx")
    if head.startswith(OLE_MAGIC):  # as the council pages say (idp/registry/forms.py)
        raise FileRefused(
            "les fichiers .xls (Excel 97-2003) ne sont pas pris en charge : enregistrez le "
            "fichier au format .xlsx ou CSV."
        )
    if size == 0:
        raise FileRefused("le fichier est vide.")
    if head.startswith(UTF16_BOMS):
        raise FileRefused(
            "le fichier est en UTF-16 (« Texte Unicode » d'Excel), que l'import ne lit pas : "
            "enregistrez-le au format « CSV UTF-8 » ou XLSX."
        )
    if _NUL in seen:
        raise FileRefused(
            "le fichier contient des octets nuls : ce n'est pas un fichier CSV lisible "
            "(fichier binaire, ou encodage non reconnu). Enregistrez-le au format "
            "« CSV UTF-8 » ou XLSX."
        )
    encoding = _choose_encoding(head, utf8_ok, seen, utf8_sequences, sample)
    separator = _sniff_separator(head, encoding)
    return FileFacts(sha256, size, "csv", encoding, separator)


def _choose_encoding(
    head: bytes, utf8_ok: bool, seen: set[int], utf8_sequences: bool, sample: bytes
) -> str:
    if head.startswith(UTF8_BOM):
        if not utf8_ok:
            raise _mixed()
        return "utf-8-sig"
    if utf8_ok:
        return "utf-8"
    if utf8_sequences:
        raise _mixed()
    candidates = [
        (_implausible(str(match)), _LEGACY_PREFERENCE.index(name), name)
        for match in charset_normalizer.from_bytes(sample, cp_isolation=list(_LEGACY_PREFERENCE))
        if match.chaos <= MAX_CHAOS and (name := _codec_name(match.encoding)) in _LEGACY_PREFERENCE
    ]
    if not candidates:
        raise _unknown_encoding()
    encoding = min(candidates)[2]
    if encoding == "cp1252" and seen & _CP1252_UNDEFINED:
        raise _unknown_encoding()
    if encoding == "iso8859_15" and seen & _C1_RANGE:
        raise _unknown_encoding()
    return encoding


def _codec_name(name: str) -> str:
    return codecs.lookup(name).name.replace("-", "_")  # "cp1252", "iso8859_15"


def _implausible(text: str) -> int:
    """Characters no registry file holds: cp1252's reading of ISO-8859-15's letters
    (0xBC "Œ" read as "¼"...) and ISO-8859-15's reading of cp1252's 0x80-0x9F (C1 controls).
    charset-normalizer finds both decodings clean (no "chaos"): this tells them apart."""
    return sum(text.count(ch) for ch in _IMPLAUSIBLE)


def _mixed() -> FileRefused:
    return FileRefused(
        "le fichier mélange deux encodages (une partie en UTF-8, une autre en Windows-1252 "
        "ou ISO-8859-15) : il serait mal lu, il est refusé en entier. Enregistrez-le à "
        "nouveau d'un seul tenant, de préférence au format « CSV UTF-8 »."
    )


def _unknown_encoding() -> FileRefused:
    return FileRefused(
        "encodage du fichier non reconnu (ni UTF-8, ni Windows-1252, ni ISO-8859-15) : "
        "il est refusé en entier plutôt que mal lu. Enregistrez-le au format « CSV UTF-8 »."
    )


def _sniff_separator(head: bytes, encoding: str) -> str:
    """The separator counted most often outside quotes on the header line."""
    first_line = head.split(b"\n", 1)[0]
    text = first_line.decode(encoding, errors="replace")
    counts = dict.fromkeys(SEPARATORS, 0)
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    separator, count = max(counts.items(), key=lambda item: item[1])
    if count == 0:
        raise FileRefused(
            "séparateur introuvable sur la première ligne (point-virgule, virgule ou "
            "tabulation attendu) : la première ligne doit nommer les colonnes."
        )
    return separator


def iter_rows(stream: BinaryIO, facts: FileFacts) -> Iterator[tuple[int, list[Cell]]]:
    """(physical line where the row starts, cells), the header included; FileRefused when the
    file turns out unreadable midway (the caller has applied nothing yet)."""
    if facts.kind == "csv":
        return _csv_rows(stream, facts)
    return _sheet_rows(stream)


def _csv_rows(stream: BinaryIO, facts: FileFacts) -> Iterator[tuple[int, list[Cell]]]:
    stream.seek(0)
    assert facts.encoding and facts.separator
    text = io.TextIOWrapper(stream, encoding=facts.encoding, errors="strict", newline="")
    previous = 0
    try:
        reader = csv.reader(text, delimiter=facts.separator, strict=True)
        for row in reader:
            line = previous + 1
            previous = reader.line_num
            yield line, row  # type: ignore[misc]
    except csv.Error as error:
        raise FileRefused(
            f"ligne {previous + 1} : CSV mal formé ({error}) ; vérifiez les guillemets."
        ) from error
    except UnicodeDecodeError as error:
        raise FileRefused(
            f"ligne {previous + 1} : octets illisibles en {facts.encoding} ; le fichier est "
            "refusé en entier."
        ) from error
    finally:
        text.detach()


def _sheet_rows(stream: BinaryIO) -> Iterator[tuple[int, list[Cell]]]:
    stream.seek(0)
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(stream)
        names = [
            sheet.name
            for sheet in workbook.sheets_metadata
            if sheet.visible == python_calamine.SheetVisibleEnum.Visible
            and sheet.typ == python_calamine.SheetTypeEnum.WorkSheet
        ]
        if not names:
            raise FileRefused("le classeur ne contient aucune feuille visible.")
        sheet = workbook.get_sheet_by_name(names[0])
        # iter_rows() starts at the sheet's row 1, empty rows above the data included (padded),
        # so the index is the spreadsheet's row number minus one.
        for index, row in enumerate(sheet.iter_rows()):
            yield index + 1, cast(list[Cell], row)
    except FileRefused:
        raise
    except Exception as error:  # calamine raises its own errors, zip's, xml's...
        raise FileRefused(
            f"classeur illisible ({type(error).__name__}) : enregistrez-le à nouveau au format "
            "XLSX, ou au format « CSV UTF-8 »."
        ) from error
