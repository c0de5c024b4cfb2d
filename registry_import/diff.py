"""The file's entries against the registry: added, changed (which fields, old -> new),
unchanged, and with `--full` the council's entries absent from the file (struck off).

Both sides are compact tuples (`validation.EntryValues`) keyed by registration number, so
comparing 100,000 entries is a dict lookup and a tuple comparison each.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from idp.database import DbSession
from idp.registry.catalog import RegistryStatus
from idp.registry.models import RegionalCouncil, RegistryEntry
from registry_import import headers as h
from registry_import.validation import OPTIONAL_FIELDS, VALUE_FIELDS, EntryValues, format_date

STATUS_INDEX = VALUE_FIELDS.index(h.STATUS)
LOOKUP_BATCH = 500

StoredEntries = dict[str, tuple[int, EntryValues]]  # number -> (entry id, values)
FileEntries = dict[str, tuple[int, EntryValues]]  # number -> (physical line, values)


@dataclass
class Diff:
    added: list[tuple[str, int, EntryValues]] = field(default_factory=list)  # number, line, new
    # number, line, entry id, old, new
    changed: list[tuple[str, int, int, EntryValues, EntryValues]] = field(default_factory=list)
    unchanged: int = 0
    struck_off: list[tuple[str, int, EntryValues]] = field(default_factory=list)  # number, id, old

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.struck_off)


def load_council_entries(session: DbSession, council_id: int) -> StoredEntries:
    """Every entry of the council, as (id, values) by registration number."""
    t = RegistryEntry.__table__
    query = select(
        t.c.registration_number,
        t.c.id,
        t.c.family_name,
        t.c.given_names,
        t.c.birth_date,
        t.c.email,
        t.c.category,
        t.c.status,
        t.c.firm_name,
        t.c.firm_siren,
    ).where(t.c.council_id == council_id)
    return {
        row[0]: (row[1], (row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9]))
        for row in session.execute(query)
    }


def other_councils_numbers(
    session: DbSession, council_id: int, numbers: Iterable[str]
) -> dict[str, str]:
    """Registration number -> council code, for those of `numbers` held by another council."""
    t = RegistryEntry.__table__
    c = RegionalCouncil.__table__
    found: dict[str, str] = {}
    for batch in _batches(list(numbers), LOOKUP_BATCH):
        query = (
            select(t.c.registration_number, c.c.code)
            .join(c, c.c.id == t.c.council_id)
            .where(t.c.registration_number.in_(batch), t.c.council_id != council_id)
        )
        found.update({row[0]: row[1] for row in session.execute(query)})
    return found


def compute_diff(
    file_entries: FileEntries,
    stored: StoredEntries,
    *,
    present_fields: frozenset[str],
    full: bool,
    seen_numbers: set[str],
) -> Diff:
    """`seen_numbers`: every registration number the file names, rejected rows included, so
    a `--full` import never strikes off an entry whose row was merely refused."""
    kept = tuple(VALUE_FIELDS.index(f) for f in OPTIONAL_FIELDS if f not in present_fields)
    diff = Diff()
    for number, (line, values) in file_entries.items():
        current = stored.get(number)
        if current is None:
            diff.added.append((number, line, values))
            continue
        entry_id, old = current
        if kept:
            merged = list(values)
            for index in kept:
                merged[index] = old[index]
            values = tuple(merged)  # type: ignore[assignment]
        if values == old:
            diff.unchanged += 1
        else:
            diff.changed.append((number, line, entry_id, old, values))
    if full:
        for number, (entry_id, old) in stored.items():
            if number not in seen_numbers and old[STATUS_INDEX] != RegistryStatus.RADIE:
                diff.struck_off.append((number, entry_id, old))
    return diff


def struck_off_values(old: EntryValues) -> EntryValues:
    values = list(old)
    values[STATUS_INDEX] = RegistryStatus.RADIE.value
    return tuple(values)  # type: ignore[return-value]


def field_changes(old: EntryValues, new: EntryValues) -> Iterator[tuple[str, str, str]]:
    """(field, old, new) for each field that differs, values as the report shows them."""
    for index, name in enumerate(VALUE_FIELDS):
        if old[index] != new[index]:
            yield name, display(old[index]), display(new[index])


def display(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return format_date(value)
    return str(value)


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
