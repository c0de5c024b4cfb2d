"""Writing a diff to the registry, inside the caller's transaction: bulk Core statements
(executemany in batches), never one ORM object per entry; audit rows for the accounts whose
registry claim stops or starts counting again, and one for the import itself.

Nothing here commits: a process killed midway leaves the registry as it was
(docs/security.md 42).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from idp.audit.models import AuditEventType
from idp.audit.services import Actor, record
from idp.database import DbSession, utcnow
from idp.registry.catalog import RegistryStatus
from idp.registry.models import ProfileClaim, RegistryEntry
from idp.registry.names import search_key
from registry_import.diff import STATUS_INDEX, Diff, struck_off_values
from registry_import.validation import VALUE_FIELDS, EntryValues

WRITE_BATCH = 5000
CLAIM_LOOKUP_BATCH = 500

# Test hook (docs/security.md 42): with SESAME_ENV=testing, the apply stops after this many
# written rows, prints PAUSE_MARKER on stdout and sleeps, so a test can SIGKILL it mid-write.
PAUSE_ENV = "REGISTRY_IMPORT_TEST_PAUSE_AFTER_ROWS"
PAUSE_MARKER = "registry-import: test pause, rows written:"
PAUSE_SECONDS = 120.0

_INSCRIT = RegistryStatus.INSCRIT.value


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

    insert_statement = insert(table)
    for batch in _batches(diff.added, WRITE_BATCH):
        session.execute(
            insert_statement,
            [
                {
                    "registration_number": number,
                    **_columns(values),
                    "council_id": council_id,
                    "search_key": search_key(values[0], values[1]),
                    "last_import_id": import_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for number, _line, values in batch
            ],
        )
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
                    "b_search_key": search_key(values[0], values[1]),
                    "b_last_import_id": import_id,
                    "b_updated_at": now,
                }
                for entry_id, values in update_batch
            ],
        )
        pause.written(len(update_batch))

    _audit_claims(session, diff, actor=actor, import_id=import_id)


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
