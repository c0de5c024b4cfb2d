"""Reading a FEC (Fichier des Écritures Comptables, art. A47 A-1 du LPF) into a polars frame.

Every variant of DOMAIN.md: tab or `|`, UTF-8 with or without BOM, ISO-8859-15, `Debit`/`Credit`
or `Montant` + `Sens` (D/C, +1/−1), 18, 21 or 22 columns, `\\r\\r\\n` line endings, zero- or
space-padded fixed-width values, a trailing separator, the header in any case.

The file is read once, in pieces of whole lines (`CHUNK` bytes): BOM dropped, every `\\r`
removed, not-UTF-8 read again from the start as ISO-8859-15 — or as Windows-1252, the
"ANSI" of Windows software, when a piece holds a byte 0x80–0x9F: control characters in
ISO-8859-15, but in Windows-1252 the ’ … € œ that French labels are full of. Polars reads
each piece with every column a string (no type guessing) and turns values into typed columns
in staged, vectorised expressions: amounts in integer cents (never floats), dates, repeated
texts as categoricals. Memory holds the typed result and one piece, never the file (bench/fec.py).

A file with errors raises `FecInvalid` with French messages and line numbers (the header is
line 1); what the file means (balances, warnings) is `client_portal_rp.fec.compute`'s.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import polars as pl

CHUNK = 1024 * 1024  # bench/fec.py: 1 MB pieces 371 MB peak after parsing, 4 MB 414, 16 MB 548
MAX_ERRORS = 50
BOM = codecs.BOM_UTF8
WINDOWS_1252 = "Windows-1252"
# Bytes that are C1 control characters in ISO-8859-15 and letters or signs in Windows-1252.
_WINDOWS_ONLY = re.compile(rb"[\x80-\x9f]")

# Canonical names (DOMAIN.md) by their lower-case form.
REQUIRED = (
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
)
AMOUNTS_DEBIT_CREDIT = ("Debit", "Credit")
AMOUNTS_MONTANT_SENS = ("Montant", "Sens")
OPTIONAL = (
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
    "DateRglt",
    "ModeRglt",
    "NatOp",
    "IdClient",
)
KNOWN = {
    name.lower(): name
    for name in (*REQUIRED, *AMOUNTS_DEBIT_CREDIT, *AMOUNTS_MONTANT_SENS, *OPTIONAL)
}

# Kept as categoricals in the parsed frame (client_portal_rp.fec.compute knows).
CATEGORICAL = ("journal_code", "compte_num", "compte_lib", "comp_aux_num", "comp_aux_lib")

# The columns read (the others are skipped while parsing).
USED = frozenset(
    (*REQUIRED, *AMOUNTS_DEBIT_CREDIT, *AMOUNTS_MONTANT_SENS, "EcritureLet", "DateLet")
) - {"JournalLib"}

# The frame `parse` returns: what the importer stores and computes from.
COLUMNS = (
    "line_no",
    "journal_code",
    "ecriture_num",
    "ecriture_date",
    "compte_num",
    "compte_lib",
    "comp_aux_num",
    "comp_aux_lib",
    "piece_ref",
    "piece_date",
    "ecriture_lib",
    "debit",
    "credit",
    "ecriture_let",
    "date_let",
)


@dataclass(frozen=True)
class Problem:
    """An error or a warning, in French, with the file's line number when there is one."""

    line: int | None
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "message": self.message}

    def __str__(self) -> str:
        return f"ligne {self.line} : {self.message}" if self.line else self.message


class FecInvalid(Exception):
    """The file cannot be imported; nothing was applied."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems[:3]))
        self.problems = problems


@dataclass
class ParsedFec:
    frame: pl.DataFrame  # COLUMNS, one row per data line (blank lines dropped)
    encoding: str
    separator: str
    column_count: int
    amounts: str  # "Debit/Credit" or "Montant/Sens"
    warnings: list[Problem] = field(default_factory=list)


@dataclass
class _Layout:
    encoding: str  # "UTF-8", "UTF-8 (BOM)", "ISO-8859-15", "Windows-1252"
    separator: str
    header: list[str]


def _chunks(source: BinaryIO) -> Iterator[tuple[_Layout, bytes]]:
    """The file's data lines as UTF-8 without `\\r`, in pieces of whole lines of about
    CHUNK bytes, each with the layout read from the header. Not UTF-8 (at any point): read
    again from the start as ISO-8859-15 (what French accounting software writes) — the caller
    restarts on `_NotUtf8`."""
    first = source.read(CHUNK)
    while b"\n" not in first and (more := source.read(CHUNK)):
        first += more
    if not first.strip():
        raise FecInvalid([Problem(None, "Le fichier est vide.")])
    encoding = "UTF-8"
    if first.startswith(BOM):
        first = first[len(BOM) :]
        encoding = "UTF-8 (BOM)"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(first, final=False)
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
        encoding = "ISO-8859-15"
    yield from _lines_of(source, first, encoding, utf8, decoder)


class _NotUtf8(Exception):
    pass


def _lines_of(
    source: BinaryIO, first: bytes, encoding: str, utf8: bool, decoder: codecs.IncrementalDecoder
) -> Iterator[tuple[_Layout, bytes]]:
    def clean(data: bytes) -> bytes:
        data = data.replace(b"\r", b"")
        if utf8:
            try:
                decoder.decode(data, final=False)
            except UnicodeDecodeError:
                raise _NotUtf8 from None
            return data
        if _WINDOWS_ONLY.search(data):
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: not Windows-1252 either
                return data.decode("iso-8859-15").encode("utf-8")
            layout.encoding = WINDOWS_1252
            return text.encode("utf-8")
        return data.decode("iso-8859-15").encode("utf-8")

    layout = _Layout(encoding, "\t", [])
    first = clean(first)
    end = first.find(b"\n")
    header_text = (first if end < 0 else first[:end]).decode("utf-8")
    separator = "\t" if header_text.count("\t") >= header_text.count("|") else "|"
    layout.separator = separator
    layout.header = [name.strip() for name in header_text.split(separator)]
    pending = b"" if end < 0 else first[end + 1 :]
    while more := source.read(CHUNK):
        pending += clean(more)
        cut = pending.rfind(b"\n")
        if cut >= 0 and len(pending) >= CHUNK // 2:
            yield layout, pending[: cut + 1]
            pending = pending[cut + 1 :]
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _NotUtf8 from None
    if pending.strip(b"\n"):
        yield layout, pending


def _latin_chunks(source: BinaryIO) -> Iterator[tuple[_Layout, bytes]]:
    first = source.read(CHUNK)
    while b"\n" not in first and (more := source.read(CHUNK)):
        first += more
    decoder = codecs.getincrementaldecoder("utf-8")()
    yield from _lines_of(source, first, "ISO-8859-15", False, decoder)


# --- columns -------------------------------------------------------------------------------


def _names(header: list[str]) -> tuple[list[str], list[Problem]]:
    """Canonical names for the header (any case); unknown or empty names kept as extras."""
    names: list[str] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, raw in enumerate(header):
        canonical = KNOWN.get(raw.strip().lower())
        if canonical is None:
            names.append(f"_extra_{index}")
            continue
        if canonical in seen:
            problems.append(
                Problem(1, f"La colonne « {canonical} » figure deux fois dans l'en-tête.")
            )
            names.append(f"_extra_{index}")
            continue
        seen.add(canonical)
        names.append(canonical)
    missing = [n for n in REQUIRED if n not in seen]
    has_dc = all(n in seen for n in AMOUNTS_DEBIT_CREDIT)
    has_ms = all(n in seen for n in AMOUNTS_MONTANT_SENS)
    if not has_dc and not has_ms:
        missing += [n for n in AMOUNTS_DEBIT_CREDIT if n not in seen]
    if missing:
        problems.append(
            Problem(
                1,
                "Colonnes obligatoires absentes de l'en-tête : "
                + ", ".join(missing)
                + " (voir l'article A47 A-1 du LPF).",
            )
        )
    return names, problems


def _stripped(name: str, alias: str) -> pl.Expr:
    return pl.col(name).fill_null("").str.strip_chars().alias(alias)


def _amount_stages(frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """Adds `<column>_cents` and `<column>_ok` for an amount written `1234,56`, `-12.5`,
    `0000001234,50`, `12,00-`, `1 234,56` (more than two decimals only when the extra ones
    are zeros). Staged columns, no regular expression: each step runs once (a regex or a
    repeated expression cost seconds per million lines here)."""
    t, neg, parts, whole, frac, head, zeros = (f"_{column}_{s}" for s in "tnpwfhz")
    frame = frame.with_columns(pl.col(column).str.replace_all(" ", "", literal=True).alias(t))
    frame = frame.with_columns(
        (pl.col(t).str.starts_with("-") | pl.col(t).str.ends_with("-")).alias(neg),
        pl.col(t)
        .str.strip_chars("+-")
        .str.replace(",", ".", literal=True)
        .str.split_exact(".", 1)
        .alias(parts),
    )
    frame = frame.with_columns(
        pl.col(parts)
        .struct.field("field_0")
        .replace("", "0")
        .cast(pl.UInt64, strict=False)
        .alias(whole),
        pl.col(parts).struct.field("field_1").fill_null("").alias(frac),
    )
    frame = frame.with_columns(
        (pl.col(frac) + "00").str.slice(0, 2).cast(pl.UInt8, strict=False).alias(head),
        (
            (pl.col(frac).str.len_bytes() <= 2)
            | (pl.col(frac).str.slice(2).cast(pl.UInt64, strict=False) == 0)
        ).alias(zeros),
    )
    cents = (pl.col(whole).cast(pl.Int64) * 100 + pl.col(head).cast(pl.Int64)).fill_null(0)
    return frame.with_columns(
        pl.when(pl.col(neg)).then(-cents).otherwise(cents).alias(f"{column}_cents"),
        (
            (pl.col(t) == "")
            | (pl.col(whole).is_not_null() & pl.col(head).is_not_null() & pl.col(zeros))
        ).alias(f"{column}_ok"),
    ).drop(t, neg, parts, whole, frac, head, zeros)


def _date(raw: pl.Expr) -> pl.Expr:
    parsed = raw.str.strptime(pl.Date, "%Y%m%d", strict=False)
    return pl.when(raw.str.len_bytes() == 8).then(parsed).otherwise(None)


def parse(source: BinaryIO) -> ParsedFec:
    """Parse a FEC from a binary file object; raises FecInvalid with every error found (up to
    MAX_ERRORS, with their line numbers). Read in pieces of whole lines: memory holds the
    typed result and one piece, never the file."""
    origin = source.tell() if source.seekable() else None
    try:
        return _parse_chunks(_chunks(source))
    except _NotUtf8:
        if origin is None:
            raise FecInvalid(
                [Problem(None, "Encodage illisible : UTF-8 ou ISO-8859-15 attendu.")]
            ) from None
        source.seek(origin)
        return _parse_chunks(_latin_chunks(source))


@dataclass
class _Reading:
    layout: _Layout
    names: list[str]
    montant_sens: bool
    required_fields: int


def _reading(layout: _Layout) -> _Reading:
    names, problems = _names(layout.header)
    if problems:
        raise FecInvalid(problems)
    montant_sens = "Debit" not in names
    required_fields = max(names.index(n) for n in (*REQUIRED, *_amount_names(montant_sens))) + 1
    return _Reading(layout, names, montant_sens, required_fields)


def _parse_chunks(chunks: Iterator[tuple[_Layout, bytes]]) -> ParsedFec:
    reading: _Reading | None = None
    frames: list[pl.DataFrame] = []
    errors: list[Problem] = []
    error_count = 0
    line_no = 2  # the header is line 1
    for layout, data in chunks:
        if reading is None:
            reading = _reading(layout)
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        separator = layout.separator.encode()
        if data.count(separator) != lines * (len(reading.names) - 1):
            short = _short_lines(data, separator, line_no, reading.required_fields)
            error_count += len(short)
            errors += short[: MAX_ERRORS - len(errors)]
        frame = _parse_chunk(data, reading, line_no)
        bad_rows = frame.filter(pl.col("_error").is_not_null())
        if bad_rows.height:
            error_count += bad_rows.height
            errors += [
                Problem(int(line), str(message))
                for line, message in bad_rows.select("line_no", "_error")
                .head(max(0, MAX_ERRORS - len(errors)))
                .iter_rows()
            ]
        if not error_count:
            frames.append(frame.drop("_error"))
        line_no += lines
    if errors:
        errors.sort(key=lambda problem: problem.line or 0)
        if error_count > len(errors):
            errors.append(
                Problem(None, f"… et {error_count - len(errors)} autres lignes en erreur.")
            )
        raise FecInvalid(errors)
    if reading is None or not frames or not sum(f.height for f in frames):
        raise FecInvalid([Problem(None, "Le fichier ne contient aucune écriture.")])
    return ParsedFec(
        frame=pl.concat(frames, rechunk=False),
        encoding=reading.layout.encoding,
        separator=reading.layout.separator,
        column_count=len([h for h in reading.layout.header if h]),
        amounts="Montant/Sens" if reading.montant_sens else "Debit/Credit",
    )


def _parse_chunk(data: bytes, reading: _Reading, first_line: int) -> pl.DataFrame:
    """One piece of whole lines to typed columns (COLUMNS + `_error`, the line's first)."""
    names = reading.names
    has = set(names)
    raw = pl.read_csv(
        io.BytesIO(data),
        separator=reading.layout.separator,
        has_header=False,
        schema=dict.fromkeys(names, pl.String),
        quote_char=None,
        truncate_ragged_lines=True,
        columns=[i for i, n in enumerate(names) if n in USED],
    ).with_row_index("line_no", offset=first_line)
    # A blank line reads as nulls (its number stays counted).
    blank = pl.all_horizontal(
        pl.col(n).is_null() for n in ("JournalCode", "EcritureDate", "CompteNum")
    )
    amounts = AMOUNTS_MONTANT_SENS if reading.montant_sens else AMOUNTS_DEBIT_CREDIT
    # Stage 1: every value stripped once (fixed-width files pad with spaces or zeros).
    let = (
        _stripped("EcritureLet", "ecriture_let")
        if "EcritureLet" in has
        else pl.lit("").alias("ecriture_let")
    )
    date_let = (
        _stripped("DateLet", "_date_let") if "DateLet" in has else pl.lit("").alias("_date_let")
    )
    frame = (
        raw.lazy()
        .filter(~blank)
        .select(
            pl.col("line_no").cast(pl.Int64),
            _stripped("JournalCode", "journal_code"),
            _stripped("EcritureNum", "ecriture_num"),
            _stripped("EcritureDate", "_ecriture_date"),
            _stripped("CompteNum", "compte_num"),
            _stripped("CompteLib", "compte_lib"),
            _stripped("CompAuxNum", "comp_aux_num"),
            _stripped("CompAuxLib", "comp_aux_lib"),
            _stripped("PieceRef", "piece_ref"),
            _stripped("PieceDate", "_piece_date"),
            _stripped("EcritureLib", "ecriture_lib"),
            *(_stripped(n, n) for n in amounts),
            let,
            date_let,
        )
    )
    # Stage 2: typed values.
    frame = frame.with_columns(
        _date(pl.col("_ecriture_date")).alias("ecriture_date"),
        _date(pl.col("_piece_date")).alias("piece_date"),
        _date(pl.col("_date_let")).alias("date_let"),
    )
    if reading.montant_sens:
        frame = _amount_stages(frame, "Montant")
        sens = pl.col("Sens").str.to_uppercase()
        frame = frame.with_columns(
            sens.is_in(["D", "+1", "1"]).alias("_debit_side"),
            sens.is_in(["C", "-1"]).alias("_credit_side"),
        )
        amount = pl.col("Montant_cents")
        frame = frame.with_columns(
            pl.when(pl.col("_debit_side")).then(amount).otherwise(0).alias("debit"),
            pl.when(pl.col("_credit_side")).then(amount).otherwise(0).alias("credit"),
        )
        amount_checks = [
            (~pl.col("Montant_ok"), "Montant", "montant illisible"),
            (
                ~(pl.col("_debit_side") | pl.col("_credit_side")),
                "Sens",
                "sens inconnu (D, C, +1 ou -1 attendu)",
            ),
        ]
    else:
        frame = _amount_stages(_amount_stages(frame, "Debit"), "Credit")
        frame = frame.rename({"Debit_cents": "debit", "Credit_cents": "credit"})
        amount_checks = [
            (~pl.col("Debit_ok"), "Debit", "montant illisible"),
            (~pl.col("Credit_ok"), "Credit", "montant illisible"),
        ]
    invalid_date = "date invalide (AAAAMMJJ attendu)"
    checks = [
        (pl.col("journal_code") == "", "JournalCode", "code journal vide"),
        (pl.col("ecriture_num") == "", "EcritureNum", "numéro d'écriture vide"),
        (pl.col("ecriture_date").is_null(), "EcritureDate", invalid_date),
        (pl.col("compte_num") == "", "CompteNum", "numéro de compte vide"),
        ((pl.col("_piece_date") != "") & pl.col("piece_date").is_null(), "PieceDate", invalid_date),
        ((pl.col("_date_let") != "") & pl.col("date_let").is_null(), "DateLet", invalid_date),
        *amount_checks,
    ]
    error = pl.lit(None, dtype=pl.String)
    for failed, column, message in reversed(checks):
        error = pl.when(failed).then(pl.lit(f"{column} : {message}")).otherwise(error)
    # Stage 3: the first error of each line, and the columns the importer wants.
    # Repeated texts (journals, accounts, third parties) as categoricals: 4 bytes a line
    # instead of a 16-byte view and its bytes (bench/fec.py: -90 MB for a million lines).
    return (
        frame.with_columns(error.alias("_error"))
        .select(*COLUMNS, "_error")
        .with_columns(pl.col(c).cast(pl.Categorical) for c in CATEGORICAL)
        .collect()
    )


def _amount_names(montant_sens: bool) -> tuple[str, ...]:
    return AMOUNTS_MONTANT_SENS if montant_sens else AMOUNTS_DEBIT_CREDIT


def _short_lines(data: bytes, separator: bytes, first_line: int, required: int) -> list[Problem]:
    """Lines of the piece with fewer fields than the header's required columns."""
    name = "tabulation" if separator == b"\t" else "|"
    problems = []
    for offset, line in enumerate(data.split(b"\n")):
        fields = line.count(separator) + 1
        if line and fields < required:
            problems.append(
                Problem(
                    first_line + offset,
                    f"{fields} champs au lieu de {required} au moins (séparateur « {name} »).",
                )
            )
    return problems


def filename_parts(filename: str) -> tuple[str | None, str | None]:
    """(SIREN, closing date AAAAMMJJ) from `<SIREN>FEC<AAAAMMJJ>`, each None when absent."""
    match = re.search(r"(\d{9,})\s*FEC\s*(\d{8})", filename, re.IGNORECASE)
    if not match:
        return None, None
    return match.group(1), match.group(2)
