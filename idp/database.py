"""Database plumbing shared by every domain: SQLite pragmas, time helpers, id generators."""

from __future__ import annotations

import secrets
import sqlite3
from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import DateTime, TypeDecorator, event
from sqlalchemy.engine import Dialect, Engine
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


def sqlite_engine_options(busy_timeout_ms: int) -> dict[str, Any]:
    """Engine options for SQLite: the driver's timeout is SQLite's busy timeout."""
    return {"connect_args": {"timeout": busy_timeout_ms / 1000}}
