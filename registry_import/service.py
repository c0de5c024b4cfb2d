"""The one entry point of a registry import, shared by the console script, Python callers and
the IdP's council pages: read a council's file, validate every row, compare with the registry,
and (unless dry run or refused) apply the diff.

CONTRACT (the CLI and the web pages code against it; the implementation fills it in):

    outcome = import_file(
        db.session, source, file_name="tableau.csv", council_code="IDF",
        full=False, dry_run=False, allow_partial=False, actor=CLI,
        progress=None, record=None,
    )
    db.session.commit()

- `source`: a path or a binary file object (read as a stream, never whole as Python objects).
- Writes only to `session`; the caller commits: the import is one transaction (a killed
  process leaves the registry as it was). The `RegistryImport` row (`outcome.record`, a new one
  unless `record` is given: the web pages create it at upload) is always filled: status
  applied / previewed (dry run) / refused (bad rows, nothing applied) / failed (unreadable
  file), counts, `summary` (encoding, separator, ignored columns, first errors and changes),
  `report_csv` (formula injection neutralised).
- `progress(rows_processed)` is called every few thousand rows (the web pages show it).
- Raises `UnknownCouncil` for an unknown council code; every other problem of the file is in
  the outcome, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from idp.audit.services import Actor
from idp.database import DbSession
from idp.registry.models import RegistryImport


@dataclass(frozen=True)
class RowError:
    line: int  # physical line of the file, the header is line 1
    message: str  # French: "date de naissance impossible (31/02/1980)"

    def __str__(self) -> str:
        return f"ligne {self.line} : {self.message}"


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class EntryChange:
    registration_number: str
    line: int | None  # None for entries absent from a --full file (struck off)
    kind: str  # "added", "changed", "struck_off"
    changes: tuple[FieldChange, ...] = ()


@dataclass
class ImportOutcome:
    record: RegistryImport
    errors: list[RowError] = field(default_factory=list)
    changes: list[EntryChange] = field(default_factory=list)

    @property
    def applied(self) -> bool:
        return self.record.status == "applied"


def import_file(
    session: DbSession,
    source: Path | BinaryIO,
    *,
    file_name: str,
    council_code: str,
    actor: Actor,
    full: bool = False,
    dry_run: bool = False,
    allow_partial: bool = False,
    progress: Callable[[int], None] | None = None,
    record: RegistryImport | None = None,
) -> ImportOutcome:
    raise NotImplementedError("registry import: being built (issue 12)")
