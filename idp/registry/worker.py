"""Runs a web import's preview and apply outside the request that asked for it.

The request stores the upload and commits, then `submit`s a job: a thread with its own app
context (hence its own database session) runs `import_file`. The progress the import reports
is written through short transactions of their own (`ProgressWriter`), so the import's page,
served by other requests, sees it move while the import's own transaction is still open.
See docs/adr/0020-council-import-pages.md.

Tests run jobs in the request's thread and session: set `app.config[INLINE_SETTING] = True`
(the per-test rollback on PostgreSQL cannot reach another connection), or join the threads
with `join_all()`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask, current_app
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from idp.database import DbSession
from idp.extensions import db
from idp.registry.models import RegistryImport

log = logging.getLogger(__name__)

# Flask setting (not an environment variable): run jobs inline, in the caller's session.
INLINE_SETTING = "REGISTRY_IMPORT_INLINE"
# How long a progress write may wait for a lock before it gives up (the import goes on).
PROGRESS_LOCK_WAIT_MS = 200

Job = Callable[[DbSession], None]

_threads: set[threading.Thread] = set()
_threads_lock = threading.Lock()


def submit(job: Job) -> None:
    """Run `job(session)` in a background thread with its own app context and session, or
    inline in the current session when the app says so (tests)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config.get(INLINE_SETTING):
        job(db.session)
        return
    thread = threading.Thread(target=_run, args=(app, job), name="registry-import", daemon=True)
    with _threads_lock:
        _threads.add(thread)
    thread.start()


def _run(app: Flask, job: Job) -> None:
    try:
        with app.app_context():
            try:
                job(db.session)
            except Exception:  # a job records its own failures; this is the last resort
                log.exception("registry import job failed")
                db.session.rollback()
            finally:
                db.session.remove()
    finally:
        with _threads_lock:
            _threads.discard(threading.current_thread())


def join_all(timeout: float = 60.0) -> None:
    """Wait for every running job (tests, orderly shutdown)."""
    with _threads_lock:
        threads = list(_threads)
    for thread in threads:
        thread.join(timeout)


def running_jobs() -> int:
    with _threads_lock:
        return len(_threads)


class ProgressWriter:
    """`progress(rows)` for import_file: writes rows_processed through a short transaction of
    its own, never through the import's session (whose transaction stays open until the end).

    A write that would wait for a lock (the import's own transaction holds it: SQLite's single
    writer during an apply) gives up after PROGRESS_LOCK_WAIT_MS and stops writing: progress
    is a courtesy, the import must not wait for it.
    """

    def __init__(self, import_id: int) -> None:
        self.import_id = import_id
        self.enabled = True

    def __call__(self, rows: int) -> None:
        self._write(rows_processed=rows)

    def status(self, status: str) -> None:
        """The import's status (`running`), before its own transaction starts."""
        self._write(status=status, rows_processed=0)

    def _write(self, **values: object) -> None:
        if not self.enabled:
            return
        try:
            write_progress(self.import_id, **values)
        except OperationalError:
            log.info("registry import %s: progress not written (locked)", self.import_id)
            self.enabled = False


def write_progress(import_id: int, **values: object) -> None:
    """UPDATE the import row in its own short transaction (visible to other requests at once)."""
    with db.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        previous = 0
        if sqlite:
            previous = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {PROGRESS_LOCK_WAIT_MS}")
        else:
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{PROGRESS_LOCK_WAIT_MS}ms'")
        try:
            conn.execute(
                update(RegistryImport).where(RegistryImport.id == import_id).values(**values)
            )
            conn.commit()
        except OperationalError:
            conn.rollback()
            raise
        finally:
            if sqlite:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {previous}")
                conn.commit()
