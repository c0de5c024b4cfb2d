"""Reading a FEC (Fichier des Écritures Comptables, art. A47 A-1 du LPF) into a polars frame.

Every variant of DOMAIN.md: tab or `|`, UTF-8 with or without BOM, ISO-8859-15, `Debit`/`Credit`
or `Montant` + `Sens` (D/C, +1/−1), 18, 21 or 22 columns, `\\r\\r\\n` line endings, zero- or
space-padded fixed-width values, a trailing separator, the header in any case. Two passes:

1. `normalise` streams the bytes once (BOM dropped, not-UTF-8 read as ISO-8859-15 and written
   as UTF-8, every `\\r` removed) into a temporary file, counting lines and separators;
2. polars reads that file lazily with every column a string and turns values into typed
   columns in vectorised expressions: amounts in integer cents (never floats), dates.

A file with errors raises `FecInvalid` with French messages and line numbers (the header is
line 1); what the file means (balances, warnings) is `client_portal_rp.fec.compute`'s.
"""

from __future__ import annotations

import codecs
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import polars as pl

CHUNK = 8 * 1024 * 1024
MAX_ERRORS = 50
BOM = codecs.BOM_UTF8

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

# The frame `read_fec` returns: what the importer stores and computes from.
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
class Normalised:
    """The file as UTF-8 without `\\r` (a temporary file), and what the pass saw."""

    path: Path
    encoding: str  # "UTF-8", "UTF-8 (BOM)", "ISO-8859-15"
    separator: str
    header: list[str]
    lines: int  # data lines (the header excluded), a last line without newline included
    separators: int  # separators on data lines


@dataclass
class ParsedFec:
    frame: pl.DataFrame  # COLUMNS, one row per data line (blank lines dropped)
    encoding: str
    separator: str
    column_count: int
    amounts: str  # "Debit/Credit" or "Montant/Sens"
    warnings: list[Problem] = field(default_factory=list)


def _is_utf8_stream(first: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(first, final=False)
    except UnicodeDecodeError:
        return False
    return True


@contextmanager
def normalised(source: BinaryIO, workdir: Path | None = None) -> Iterator[Normalised]:
    """Stream `source` into a temporary UTF-8 file without `\\r`; the file goes at exit."""
    fd, name = tempfile.mkstemp(prefix="fec-", suffix=".txt", dir=workdir)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            found = _copy_normalised(source, out, path)
        yield found
    finally:
        path.unlink(missing_ok=True)


def _copy_normalised(source: BinaryIO, out: BinaryIO, path: Path) -> Normalised:
    first = source.read(CHUNK)
    # The header line whole, whatever the chunk size.
    while b"\n" not in first and (more := source.read(CHUNK)):
        first += more
    if not first.strip():
        raise FecInvalid([Problem(None, "Le fichier est vide.")])
    encoding = "UTF-8"
    if first.startswith(BOM):
        first = first[len(BOM) :]
        encoding = "UTF-8 (BOM)"
    # UTF-8 unless the bytes say otherwise; a file that turns out not to be UTF-8 further on is
    # read again from the start as ISO-8859-15 (what French accounting software writes).
    utf8 = _is_utf8_stream(first)
    if not utf8:
        encoding = "ISO-8859-15"
    newline_end = first.find(b"\n")
    header_bytes = (first if newline_end < 0 else first[:newline_end]).replace(b"\r", b"")
    header_text = header_bytes.decode("utf-8" if utf8 else "iso-8859-15", errors="replace")
    separator = "\t" if header_text.count("\t") >= header_text.count("|") else "|"
    header = [name.strip() for name in header_text.split(separator)]
    if len([h for h in header if h]) < 2:
        raise FecInvalid(
            [
                Problem(
                    1, "En-tête illisible : les colonnes sont séparées par une tabulation ou « | »."
                )
            ]
        )
    sep_byte = separator.encode()
    lines = separators = 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    chunk = first
    position = 0
    tail_without_newline = False
    while chunk:
        chunk = chunk.replace(b"\r", b"")
        if utf8:
            try:
                decoder.decode(chunk, final=False)
            except UnicodeDecodeError:
                # Not UTF-8 after all: start again, transcoding.
                return _restart_as_latin(source, out, path, separator, header)
            data = chunk
        else:
            data = chunk.decode("iso-8859-15").encode("utf-8")
        out.write(data)
        lines += data.count(b"\n")
        separators += data.count(sep_byte)
        tail_without_newline = not data.endswith(b"\n")
        position += len(chunk)
        chunk = source.read(CHUNK)
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return _restart_as_latin(source, out, path, separator, header)
    if tail_without_newline:
        lines += 1
    header_separators = header_text.count(separator)
    return Normalised(
        path=path,
        encoding=encoding,
        separator=separator,
        header=header,
        lines=lines - 1,
        separators=separators - header_separators,
    )


def _restart_as_latin(
    source: BinaryIO, out: BinaryIO, path: Path, separator: str, header: list[str]
) -> Normalised:
    source.seek(0)
    out.seek(0)
    out.truncate()
    sep_byte = separator.encode()
    lines = separators = 0
    tail_without_newline = False
    header_separators: int | None = None
    while chunk := source.read(CHUNK):
        data = chunk.replace(b"\r", b"").decode("iso-8859-15").encode("utf-8")
        if header_separators is None:
            end = data.find(b"\n")
            header_separators = (data if end < 0 else data[:end]).count(sep_byte)
        out.write(data)
        lines += data.count(b"\n")
        separators += data.count(sep_byte)
        tail_without_newline = not data.endswith(b"\n")
    if tail_without_newline:
        lines += 1
    return Normalised(
        path=path,
        encoding="ISO-8859-15",
        separator=separator,
        header=header,
        lines=lines - 1,
        separators=separators - (header_separators or 0),
    )


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


def _text(name: str) -> pl.Expr:
    return pl.col(name).fill_null("").str.strip_chars()


_AMOUNT = r"^(\d+(\.\d*)?|\.\d+)$"


def _cents(raw: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(cents, valid) for an amount written `1234,56`, `-12.5`, `0000001234,50`, `12,00-`."""
    text = raw.str.replace_all(r"[\s\u00a0\u202f]", "")
    negative = text.str.starts_with("-") | text.str.ends_with("-")
    body = text.str.strip_chars("+-").str.replace(",", ".", literal=True)
    valid = (text == "") | (
        body.str.contains(_AMOUNT)
        & (text.str.count_matches(r"[+-]") <= 1)
        # more than two decimals only when the extra ones are zeros (no fractions of a cent)
        & ~body.str.contains(r"\.\d\d0*[1-9]")
    )
    parts = body.str.split_exact(".", 1)
    whole = parts.struct.field("field_0").replace("", "0").cast(pl.Int64, strict=False)
    fraction = (parts.struct.field("field_1").fill_null("") + "00").str.slice(0, 2)
    cents = (whole * 100 + fraction.cast(pl.Int64, strict=False)).fill_null(0)
    return pl.when(negative).then(-cents).otherwise(cents), valid


def _date(raw: pl.Expr) -> pl.Expr:
    parsed = raw.str.strptime(pl.Date, "%Y%m%d", strict=False)
    return pl.when(raw.str.contains(r"^\d{8}$")).then(parsed).otherwise(None)


def read_fec(found: Normalised) -> ParsedFec:
    """Parse the normalised file; raises FecInvalid with every error found (up to MAX_ERRORS)."""
    names, problems = _names(found.header)
    if problems:
        raise FecInvalid(problems)
    if found.lines <= 0:
        raise FecInvalid([Problem(None, "Le fichier ne contient aucune écriture.")])
    montant_sens = "Debit" not in names
    required_fields = max(names.index(n) for n in (*REQUIRED, *_amount_names(montant_sens))) + 1
    if found.separators != found.lines * (len(names) - 1):
        problems = _short_lines(found, required_fields)
        if problems:
            raise FecInvalid(problems)
    scan = pl.scan_csv(
        found.path,
        separator=found.separator,
        has_header=False,
        skip_rows=1,
        schema=dict.fromkeys(names, pl.String),
        quote_char=None,
        truncate_ragged_lines=True,
        encoding="utf8",
    ).with_row_index("line_no", offset=2)
    if montant_sens:
        amount, amount_ok = _cents(_text("Montant"))
        sens = _text("Sens").str.to_uppercase()
        debit_side = sens.is_in(["D", "+1", "1"])
        credit_side = sens.is_in(["C", "-1"])
        debit = pl.when(debit_side).then(amount).otherwise(0)
        credit = pl.when(credit_side).then(amount).otherwise(0)
        checks = [
            (~amount_ok, "Montant", "montant illisible"),
            (~(debit_side | credit_side), "Sens", "sens inconnu (D, C, +1 ou -1 attendu)"),
        ]
    else:
        debit, debit_ok = _cents(_text("Debit"))
        credit, credit_ok = _cents(_text("Credit"))
        checks = [
            (~debit_ok, "Debit", "montant illisible"),
            (~credit_ok, "Credit", "montant illisible"),
        ]
    has = set(names)
    let = _text("EcritureLet") if "EcritureLet" in has else pl.lit("")
    date_let_raw = _text("DateLet") if "DateLet" in has else pl.lit("")
    blank = pl.all_horizontal(pl.col(n).is_null() for n in names)
    ecriture_date = _date(_text("EcritureDate"))
    piece_date_raw = _text("PieceDate")
    piece_date = _date(piece_date_raw)
    date_let = _date(date_let_raw)
    checks = [
        (_text("JournalCode") == "", "JournalCode", "code journal vide"),
        (_text("EcritureNum") == "", "EcritureNum", "numéro d'écriture vide"),
        (ecriture_date.is_null(), "EcritureDate", "date invalide (AAAAMMJJ attendu)"),
        (_text("CompteNum") == "", "CompteNum", "numéro de compte vide"),
        (
            (piece_date_raw != "") & piece_date.is_null(),
            "PieceDate",
            "date invalide (AAAAMMJJ attendu)",
        ),
        (
            (date_let_raw != "") & date_let.is_null(),
            "DateLet",
            "date invalide (AAAAMMJJ attendu)",
        ),
        *checks,
    ]
    error = pl.lit(None, dtype=pl.String)
    for failed, column, message in reversed(checks):
        error = pl.when(failed).then(pl.lit(f"{column} : {message}")).otherwise(error)
    frame = (
        scan.filter(~blank)
        .select(
            "line_no",
            _text("JournalCode").alias("journal_code"),
            _text("EcritureNum").alias("ecriture_num"),
            ecriture_date.alias("ecriture_date"),
            _text("CompteNum").alias("compte_num"),
            _text("CompteLib").alias("compte_lib"),
            _text("CompAuxNum").alias("comp_aux_num"),
            _text("CompAuxLib").alias("comp_aux_lib"),
            _text("PieceRef").alias("piece_ref"),
            piece_date.alias("piece_date"),
            _text("EcritureLib").alias("ecriture_lib"),
            debit.cast(pl.Int64).alias("debit"),
            credit.cast(pl.Int64).alias("credit"),
            let.alias("ecriture_let"),
            date_let.alias("date_let"),
            error.alias("_error"),
        )
        .collect()
    )
    bad_rows = frame.filter(pl.col("_error").is_not_null())
    if bad_rows.height:
        errors = [
            Problem(int(line), str(message))
            for line, message in bad_rows.select("line_no", "_error").head(MAX_ERRORS).iter_rows()
        ]
        if bad_rows.height > MAX_ERRORS:
            errors.append(
                Problem(None, f"… et {bad_rows.height - MAX_ERRORS} autres lignes en erreur.")
            )
        raise FecInvalid(errors)
    if frame.height == 0:
        raise FecInvalid([Problem(None, "Le fichier ne contient aucune écriture.")])
    return ParsedFec(
        frame=frame.drop("_error").with_columns(pl.col("line_no").cast(pl.Int64)),
        encoding=found.encoding,
        separator=found.separator,
        column_count=len([h for h in found.header if h]),
        amounts="Montant/Sens" if montant_sens else "Debit/Credit",
    )


def _amount_names(montant_sens: bool) -> tuple[str, ...]:
    return AMOUNTS_MONTANT_SENS if montant_sens else AMOUNTS_DEBIT_CREDIT


def _short_lines(found: Normalised, required_fields: int) -> list[Problem]:
    """Lines with fewer fields than the header's required columns (slow path, rare)."""
    escaped = re.escape(found.separator)
    counts = (
        pl.scan_csv(
            found.path,
            separator="\x1f",
            has_header=False,
            skip_rows=1,
            schema={"line": pl.String},
            quote_char=None,
            truncate_ragged_lines=True,
        )
        .with_row_index("line_no", offset=2)
        .filter(pl.col("line").is_not_null())
        .with_columns((pl.col("line").str.count_matches(escaped) + 1).alias("fields"))
        .filter(pl.col("fields") < required_fields)
        .head(MAX_ERRORS)
        .collect()
    )
    return [
        Problem(
            int(line),
            f"{fields} champs au lieu de {required_fields} au moins "
            "(séparateur « " + ("tabulation" if found.separator == "\t" else "|") + " »).",
        )
        for line, fields in counts.select("line_no", "fields").iter_rows()
    ]


def parse_path(path: Path, workdir: Path | None = None) -> ParsedFec:
    with path.open("rb") as source, normalised(source, workdir) as found:
        return read_fec(found)


def filename_parts(filename: str) -> tuple[str | None, str | None]:
    """(SIREN, closing date AAAAMMJJ) from `<SIREN>FEC<AAAAMMJJ>`, each None when absent."""
    match = re.search(r"(\d{9,})\s*FEC\s*(\d{8})", filename, re.IGNORECASE)
    if not match:
        return None, None
    return match.group(1), match.group(2)
