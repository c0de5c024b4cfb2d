"""Writing a diff to the registry, inside the caller's transaction: bulk Core statements
(executemany in batches), never one ORM object per entry; audit rows for the accounts whose
registry claim stops or starts counting again, and one for the import itself.

Nothing here commits: a process killed midway leaves the registry as it was
(docs/security.md 42).
"""

from __future__ import annotations

import operator
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from idp.audit.models import AuditEventType
from idp.audit.services import Actor, record
from idp.database import DbSession, utcnow
from idp.registry.catalog import RegistryStatus
from idp.registry.models import ProfileClaim, RegistryEntry
from registry_import.diff import STATUS_INDEX, Diff, struck_off_values
from registry_import.validation import VALUE_FIELDS, EntryValues, entry_search_key

WRITE_BATCH = 5000
PROCESSED_CACHE_SIZE = 65536
CLAIM_LOOKUP_BATCH = 500

# Test hook (docs/security.md 42): with SESAME_ENV=testing, the apply stops after this many
# written rows, prints PAUSE_MARKER on stdout and sleeps, so a test can SIGKILL it mid-write.
PAUSE_ENV = "REGISTRY_IMPORT_TEST_PAUSE_AFTER_ROWS"
PAUSE_MARKER = "registry-import: test pause, rows written:"
PAUSE_SECONDS = 120.0

_INSCRIT = RegistryStatus.INSCRIT.value
# An inserted entry's columns: those of its row in the file, then those every row shares.
ROW_COLUMNS = ("registration_number", *VALUE_FIELDS, "search_key")
INSERT_COLUMNS = (*ROW_COLUMNS, "council_id", "last_import_id", "created_at", "updated_at")


def apply_diff(
    session: DbSession,
    diff: Diff,
    *,
    council_id: int,
    import_id: int,
    actor: Actor,
) -> None:
    """Insert the added entries, update the changed ones, strike off the absent ones, then
    audit the claims whose entry left or went back to `inscrit`."""
    now = utcnow()
    pause = _PauseHook.from_environment()
    table = RegistryEntry.__table__
    session.flush()  # the import row (and anything pending) before the Core statements

    if diff.added:
        inserter = _EntryInserter(session, council_id=council_id, import_id=import_id, now=now)
        for batch in _batches(diff.added, WRITE_BATCH):
            inserter.insert(batch)
            pause.written(len(batch))

    update_statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            {name: bindparam(f"b_{name}") for name in VALUE_FIELDS}
            | {
                "search_key": bindparam("b_search_key"),
                "last_import_id": bindparam("b_last_import_id"),
                "updated_at": bindparam("b_updated_at"),
            }
        )
    )
    rows: list[tuple[int, EntryValues]] = [(eid, new) for _, _, eid, _, new in diff.changed]
    rows += [(entry_id, struck_off_values(old)) for _, entry_id, old in diff.struck_off]
    for update_batch in _batches(rows, WRITE_BATCH):
        session.execute(
            update_statement,
            [
                {
                    "b_id": entry_id,
                    **{f"b_{name}": value for name, value in _columns(values).items()},
                    "b_search_key": entry_search_key(values),
                    "b_last_import_id": import_id,
                    "b_updated_at": now,
                }
                for entry_id, values in update_batch
            ],
        )
        pause.written(len(update_batch))

    _audit_claims(session, diff, actor=actor, import_id=import_id)


class _EntryInserter:
    """INSERT of new entries as one statement compiled once and executemany of plain tuples.

    `session.execute(insert(table), [dict, ...])` would process every parameter set through
    SQLAlchemy: two timezone-aware datetimes per row through `UTCDateTime` and the dialect's
    formatting, a dict per row; for 100,000 entries that costs as much as SQLite's own work.
    Here the column types' own bind processors run once for the values every row shares (the
    council, the import, the timestamps) and per row only where a type has one (a date on
    SQLite), so the stored values are exactly those of the plain Core statement.
    """

    def __init__(
        self, session: DbSession, *, council_id: int, import_id: int, now: datetime
    ) -> None:
        self.connection = session.connection()
        dialect = self.connection.dialect
        table = RegistryEntry.__table__
        compiled = insert(table).compile(
            dialect=dialect, column_keys=list(INSERT_COLUMNS), for_executemany=True
        )
        self.statement = str(compiled)
        # A positional paramstyle (SQLite's `?`) takes the table's column order, a named one
        # (psycopg's `%(name)s`) a dict per row.
        if compiled.positional:
            order = [INSERT_COLUMNS.index(name) for name in compiled.positiontup or ()]
            if sorted(order) != list(range(len(INSERT_COLUMNS))):
                raise AssertionError(f"unexpected parameters: {compiled.positiontup}")
            self.parameters: Callable[[list[Any]], Any] = operator.itemgetter(*order)
        else:
            self.parameters = lambda row: dict(zip(INSERT_COLUMNS, row, strict=True))

        def processor(name: str) -> Callable[[Any], Any] | None:
            column = table.c[name]
            return column.type.dialect_impl(dialect).bind_processor(dialect)

        shared = {
            "council_id": council_id,
            "last_import_id": import_id,
            "created_at": now,
            "updated_at": now,
        }
        self.shared = [
            (process(value) if (process := processor(name)) else value)
            for name, value in shared.items()
        ]
        # The per-row columns whose type processes values (a date on SQLite, nothing on
        # PostgreSQL): their positions in a row and the processor, memoised (birth dates
        # repeat).
        self.processors = [
            (index, lru_cache(maxsize=PROCESSED_CACHE_SIZE)(process))
            for index, name in enumerate(ROW_COLUMNS)
            if (process := processor(name)) is not None
        ]

    def insert(self, batch: Sequence[tuple[str, int, EntryValues]]) -> None:
        self.connection.exec_driver_sql(
            self.statement, [self._row(number, values) for number, _line, values in batch]
        )

    def _row(self, number: str, values: EntryValues) -> Any:
        row = [number, *values, entry_search_key(values), *self.shared]
        for index, process in self.processors:
            row[index] = process(row[index])
        return self.parameters(row)


def _columns(values: EntryValues) -> dict[str, Any]:
    return dict(zip(VALUE_FIELDS, values, strict=True))


def _audit_claims(session: DbSession, diff: Diff, *, actor: Actor, import_id: int) -> None:
    """REGISTRY_CLAIM_LOST when an entry leaves `inscrit`, REGISTRY_CLAIM_RESTORED when it
    comes back, for each account that claimed it (ProfileClaim.is_live reads the status)."""
    transitions: dict[int, tuple[str, str, str]] = {}  # entry id -> number, old, new status
    for number, _line, entry_id, old, new in diff.changed:
        if old[STATUS_INDEX] != new[STATUS_INDEX]:
            transitions[entry_id] = (number, str(old[STATUS_INDEX]), str(new[STATUS_INDEX]))
    for number, entry_id, old in diff.struck_off:
        transitions[entry_id] = (number, str(old[STATUS_INDEX]), RegistryStatus.RADIE.value)
    relevant = {
        entry_id: change
        for entry_id, change in transitions.items()
        if (change[1] == _INSCRIT) != (change[2] == _INSCRIT)
    }
    if not relevant:
        return
    claims = ProfileClaim.__table__
    for batch in _batches(list(relevant), CLAIM_LOOKUP_BATCH):
        query = (
            select(claims.c.user_id, claims.c.registry_entry_id)
            .where(claims.c.registry_entry_id.in_(batch))
            .order_by(claims.c.id)
        )
        for user_id, entry_id in session.execute(query).all():
            number, old_status, new_status = relevant[entry_id]
            event = (
                AuditEventType.REGISTRY_CLAIM_RESTORED
                if new_status == _INSCRIT
                else AuditEventType.REGISTRY_CLAIM_LOST
            )
            record(
                session,
                event,
                subject=_Account(user_id),
                actor=actor,
                registration_number=number,
                old_status=old_status,
                new_status=new_status,
                import_id=import_id,
            )


class _Account:
    def __init__(self, user_id: int) -> None:
        self.id = user_id


class _PauseHook:
    """The SIGKILL test's pause (see PAUSE_ENV); inert unless SESAME_ENV=testing."""

    def __init__(self, after_rows: int | None, out: Callable[[str], None]) -> None:
        self.after_rows = after_rows
        self.rows = 0
        self.out = out

    @classmethod
    def from_environment(cls) -> _PauseHook:
        raw = os.environ.get(PAUSE_ENV, "")
        if os.environ.get("SESAME_ENV") != "testing" or not raw.isdigit():
            return cls(None, print)
        return cls(int(raw), print)

    def written(self, count: int) -> None:
        if self.after_rows is None:
            return
        self.rows += count
        if self.rows >= self.after_rows:
            self.out(f"{PAUSE_MARKER} {self.rows}")
            sys.stdout.flush()
            self.after_rows = None
            time.sleep(PAUSE_SECONDS)


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
