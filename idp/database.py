"""Database plumbing shared by every domain: SQLite pragmas, time helpers, id generators, and
the mapping of constraint violations to domain errors (docs/adr/0007-sqlite-transactions.md)."""

from __future__ import annotations

import enum
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import DateTime, MetaData, TypeDecorator, UniqueConstraint, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session

# What domain functions accept: a plain Session (workers, tests) or Flask-SQLAlchemy's db.session.
DbSession: TypeAlias = Session | scoped_session[Any]


def utcnow() -> datetime:
    """Aware UTC now; every timestamp in the database is UTC."""
    return datetime.now(UTC)


def new_public_id(nbytes: int = 16) -> str:
    """An unguessable identifier safe to show in URLs (128 bits by default)."""
    return secrets.token_urlsafe(nbytes)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL (readers never block the writer), foreign keys on, fsync at checkpoints only."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def sql_in_list(values: Iterable[enum.Enum] | type[enum.Enum]) -> str:
    """`'a', 'b'` for a CHECK constraint written from the enum it guards (one source)."""
    return ", ".join(f"'{member.value}'" for member in values)


# --- constraint violations -> domain errors --------------------------------------------------

ViolationError = Callable[[], Exception]
_VIOLATIONS: dict[str, ViolationError] = {}


def on_violation(constraint_name: str, error: ViolationError) -> None:
    """Declare the domain error a violation of `constraint_name` means (at import time, next
    to the model or the use case that owns the rule)."""
    _VIOLATIONS[constraint_name] = error


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: ([\w., ]+)")


def violated_constraint(error: IntegrityError, metadata: MetaData) -> str | None:
    """The name of the constraint an IntegrityError reports, on PostgreSQL and on SQLite.

    PostgreSQL names it; SQLite names the columns ("UNIQUE constraint failed: users.username"),
    which are looked up among the metadata's unique constraints and indexes.
    """
    diag = getattr(error.orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return str(diag.constraint_name)
    match = _SQLITE_UNIQUE.search(str(error.orig))
    if not match:
        return None
    columns = [c.strip() for c in match.group(1).split(",")]
    table_name = columns[0].split(".", 1)[0]
    wanted = {c.split(".", 1)[1] for c in columns}
    table = metadata.tables.get(table_name)
    if table is None:
        return None
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and {c.name for c in constraint.columns} == (
            wanted
        ):
            return str(constraint.name)
    for index in table.indexes:
        if index.unique and {c.name for c in index.columns} == wanted:
            return str(index.name)
    return None


def flush_or_raise(session: DbSession) -> None:
    """Flush; a constraint violation rolls the whole use case back and raises the domain error
    declared for that constraint (`on_violation`), or the IntegrityError when none is.

    This is the pattern that composes: a use case adds every row its rules constrain (an
    account, then its registry claim), flushing through this function; whichever rule breaks,
    the caller gets that rule's own error and nothing of the use case remains. No savepoint is
    needed (ADR 0007): the use case fails as a whole.
    """
    from idp.extensions import db

    try:
        session.flush()
    except IntegrityError as exc:
        name = violated_constraint(exc, db.metadata)
        session.rollback()
        error = _VIOLATIONS.get(name or "")
        if error is None:
            raise
        raise error() from exc
