"""Council files for the import tests, written as councils' tools write them: CSV in a given
encoding, separator and line ending, or XLSX (xlsxwriter), from plain rows."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xlsxwriter
from sqlalchemy import select, text

from idp.audit.services import CLI, Actor
from idp.extensions import db
from idp.registry.models import RegistryEntry
from registry_import.service import ImportOutcome, import_file

HEADER = (
    "N° d'inscription",
    "Nom",
    "Prénom(s)",
    "Date de naissance",
    "Courriel",
    "Catégorie",
    "Statut",
    "Cabinet",
    "SIREN",
)
REGISTRY_IMPORT = Path(sys.executable).parent / "registry-import"
SECRET_KEY = "test-secret-key-0123456789abcdef0123456789"


def member(
    number: str = "100001",
    family: str = "Lefèvre",
    given: str = "Jean-François",
    birth: str = "12/04/1975",
    email: str = "jf.lefevre@cabinet-lefevre.fr",
    category: str = "Expert-comptable",
    status: str = "Inscrit",
    firm: str = "Cabinet Lefèvre",
    siren: str = "732829320",
) -> list[str]:
    """One data row in HEADER's order (every value as the council typed it)."""
    return [number, family, given, birth, email, category, status, firm, siren]


def members(
    count: int, *, start: int = 100001, email_domain: str = "cabinet.fr"
) -> list[list[str]]:
    """`count` distinct valid rows with accented names."""
    families = ("Lefèvre", "D'Arcy", "Château", "Brûlé", "Le Bihan", "Œuvray", "Müller")
    givens = ("Jean-François", "Anaïs", "Hélène", "Noël", "Zoé", "Maël", "Léa")
    categories = ("Expert-comptable", "Salarié AGC 83 ter", "Stagiaire", "EC honoraire")
    rows = []
    for n in range(count):
        number = str(start + n)
        rows.append(
            member(
                number,
                families[n % len(families)],
                givens[(n // 7) % len(givens)],
                f"{1 + n % 28:02d}/{1 + n % 12:02d}/{1950 + n % 50}",
                f"membre{number}@{email_domain}",
                categories[n % len(categories)],
                "Inscrit",
                f"Cabinet {families[n % len(families)]}",
                "",
            )
        )
    return rows


def csv_bytes(
    rows: Iterable[Sequence[Any]],
    *,
    header: Sequence[str] = HEADER,
    encoding: str = "utf-8",
    separator: str = ";",
    newline: str = "\r\n",
) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=separator, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: Iterable[Sequence[Any]], *, header: Sequence[str] = HEADER) -> bytes:
    """An XLSX as Excel saves it: numbers as numbers, dates as date cells (or serials)."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("Tableau")
    date_format = workbook.add_format({"num_format": "dd/mm/yyyy"})
    sheet.write_row(0, 0, header)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if isinstance(value, datetime | date):
                sheet.write_datetime(r, c, value, date_format)
            elif isinstance(value, int | float):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
    workbook.close()
    return buffer.getvalue()


def run_import(
    data: bytes,
    *,
    council: str = "IDF",
    file_name: str = "tableau.csv",
    actor: Actor = CLI,
    **options: Any,
) -> ImportOutcome:
    """import_file from Python, committed as the console script does."""
    outcome = import_file(
        db.session,
        io.BytesIO(data),
        file_name=file_name,
        council_code=council,
        actor=actor,
        **options,
    )
    db.session.commit()
    return outcome


def entries() -> dict[str, RegistryEntry]:
    """Every stored entry by registration number."""
    return {
        e.registration_number: e
        for e in db.session.scalars(select(RegistryEntry).order_by(RegistryEntry.id))
    }


def registry_dump() -> list[tuple[Any, ...]]:
    """Every row of the tables an import writes, in a stable order: equal dumps mean an
    unchanged registry."""
    tables = ("registry_entries", "registry_imports", "profile_claims", "audit_events")
    dump: list[tuple[Any, ...]] = []
    for table in tables:
        rows = db.session.execute(text(f"SELECT * FROM {table} ORDER BY id"))
        dump += [(table, *row) for row in rows]
    return dump


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": SECRET_KEY,
            "SESAME_ENV": "testing",
            "IDP_ISSUER": "http://idp.test",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def run_cli(
    database_url: str, *args: str | Path, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real console script, in its own process, on the given database."""
    return subprocess.run(
        [str(REGISTRY_IMPORT), *(str(a) for a in args)],
        env=cli_env(database_url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
