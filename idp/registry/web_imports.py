"""The councils' imports from the IdP's pages: upload, preview in the background, confirm or
cancel, history. The import itself is `registry_import.service.import_file`'s; this module
keeps the web upload between preview and confirm and decides who may see what.

See docs/adr/0020-council-import-pages.md.
"""

from __future__ import annotations

import hashlib
import io
import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update

from idp.accounts.models import User
from idp.audit.models import ActorKind
from idp.audit.services import Actor
from idp.database import DbSession, utcnow
from idp.errors import DomainError
from idp.registry.models import ImportStatus, RegionalCouncil, RegistryImport, RegistryImportUpload
from idp.registry.services import administered_councils
from idp.registry.worker import ProgressWriter, submit

log = logging.getLogger(__name__)

FILE_NAME_MAX = 255
HISTORY_PAGE_SIZE = 50


class StalePreview(DomainError):
    default_message = _l(
        "Un autre import de ce conseil a été appliqué depuis cet aperçu : la comparaison n'est "
        "plus à jour. Envoyez le fichier à nouveau pour obtenir un nouvel aperçu."
    )


class NotConfirmable(DomainError):
    default_message = _l("Cet import ne peut pas être confirmé.")


class NotCancellable(DomainError):
    default_message = _l("Cet import ne peut plus être annulé.")


@dataclass(frozen=True)
class Upload:
    council: RegionalCouncil
    file_name: str
    content: bytes
    full: bool
    allow_partial: bool


# --- who sees what ----------------------------------------------------------------------------


def find_import(session: DbSession, user_id: int, public_id: str) -> RegistryImport | None:
    """The import if it belongs to a council the account administers; None otherwise (the
    page answers 404 either way: no hint that another council's import exists)."""
    record = session.scalar(select(RegistryImport).where(RegistryImport.public_id == public_id))
    if record is None:
        return None
    allowed = {c.id for c in administered_councils(session, user_id)}
    return record if record.council_id in allowed else None


def history(session: DbSession, user_id: int, *, page: int = 1) -> tuple[list[RegistryImport], int]:
    """Imports of the councils the account administers, newest first, and the total count."""
    allowed = [c.id for c in administered_councils(session, user_id)]
    if not allowed:
        return [], 0
    where = RegistryImport.council_id.in_(allowed)
    total = session.scalar(select(func.count()).select_from(RegistryImport).where(where)) or 0
    rows = session.scalars(
        select(RegistryImport)
        .where(where)
        .order_by(RegistryImport.created_at.desc(), RegistryImport.id.desc())
        .limit(HISTORY_PAGE_SIZE)
        .offset(HISTORY_PAGE_SIZE * (max(page, 1) - 1))
    )
    return list(rows), total


def actor_names(session: DbSession, records: list[RegistryImport]) -> dict[int, str]:
    """Usernames of the accounts that ran these imports (one query)."""
    ids = {r.actor_id for r in records if r.actor_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(ids))).all()
    return dict(rows)


# --- upload, preview, confirm, cancel ---------------------------------------------------------


def safe_file_name(raw: str | None) -> str:
    """The name the council gave its file, without any path, control or invisible character,
    at most FILE_NAME_MAX characters: shown on pages, never used as a storage name."""
    name = PurePosixPath((raw or "").replace("\\", "/")).name
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return name[-FILE_NAME_MAX:] or "fichier"


def start_import(session: DbSession, upload: Upload, *, actor: User) -> RegistryImport:
    """Store the upload (pending import) and commit, then preview it in the background."""
    record = RegistryImport(
        council_id=upload.council.id,
        actor_kind=ActorKind.USER.value,
        actor_id=actor.id,
        file_name=upload.file_name,
        file_sha256=hashlib.sha256(upload.content).hexdigest(),
        file_size=len(upload.content),
        full=upload.full,
        allow_partial=upload.allow_partial,
        dry_run=True,
        status=ImportStatus.PENDING.value,
    )
    session.add(record)
    session.flush()
    session.add(RegistryImportUpload(import_id=record.id, content=upload.content))
    session.commit()
    import_id = record.id
    submit(lambda s: run_import(s, import_id, dry_run=True))
    return record


def can_confirm(record: RegistryImport) -> bool:
    """A preview whose rows may all be applied (or the valid ones, with allow_partial)."""
    return (
        record.status == ImportStatus.PREVIEWED
        and record.dry_run
        and (record.rejected == 0 or record.allow_partial)
    )


def confirm_import(session: DbSession, record: RegistryImport) -> None:
    """Apply a preview in the background, unless the diff it showed is stale. A second
    confirm (double click, two tabs) finds the import running and is refused."""
    if not can_confirm(record):
        raise NotConfirmable()
    if is_stale(session, record):
        raise StalePreview()
    result = session.execute(
        update(RegistryImport)
        .where(RegistryImport.id == record.id, RegistryImport.status == ImportStatus.PREVIEWED)
        .values(status=ImportStatus.RUNNING.value, dry_run=False, rows_processed=0)
    )
    if not int(getattr(result, "rowcount", 0) or 0):
        session.rollback()
        raise NotConfirmable()
    session.commit()
    import_id = record.id
    submit(lambda s: run_import(s, import_id, dry_run=False))


def cancel_import(session: DbSession, record: RegistryImport) -> None:
    if record.status != ImportStatus.PREVIEWED or not record.dry_run:
        raise NotCancellable()
    record.status = ImportStatus.CANCELLED.value
    record.finished_at = utcnow()
    _delete_upload(session, record.id)
    session.commit()


def _delete_upload(session: DbSession, import_id: int) -> None:
    session.execute(delete(RegistryImportUpload).where(RegistryImportUpload.import_id == import_id))


def is_stale(session: DbSession, record: RegistryImport) -> bool:
    """Another import of the same council applied since this file was uploaded: the preview
    may not describe what confirming would do."""
    applied = func.coalesce(
        RegistryImport.applied_at, RegistryImport.finished_at, RegistryImport.created_at
    )
    newer = session.scalar(
        select(func.count())
        .select_from(RegistryImport)
        .where(
            RegistryImport.council_id == record.council_id,
            RegistryImport.id != record.id,
            RegistryImport.status == ImportStatus.APPLIED,
            applied >= record.created_at,
        )
    )
    return bool(newer)


# --- the job ----------------------------------------------------------------------------------


# What a preview computes, copied from its scratch record onto the stored one.
RESULT_COLUMNS = (
    "status", "finished_at", "applied_at", "rows_processed", "rows_total", "added", "changed",
    "unchanged", "struck_off", "rejected", "summary", "report_csv", "file_sha256", "file_size",
)  # fmt: skip


def run_import(session: DbSession, import_id: int, *, dry_run: bool) -> None:
    """Preview (dry run) or apply a stored upload, in `session` (the worker's).

    The preview writes nothing until its end: import_file fills a scratch record outside the
    session (it would otherwise write the stored row at once, and hold SQLite's one write lock
    for the whole preview); the results are copied onto the stored row and committed at the
    end, progress in between through ProgressWriter's own transactions. The apply is one
    transaction. The upload is deleted once nothing can be confirmed any more."""
    from registry_import.service import import_file

    if dry_run:
        ProgressWriter(import_id).status(ImportStatus.RUNNING)
    try:
        with session.no_autoflush:
            record = session.get(RegistryImport, import_id, populate_existing=True)
            upload = session.get(RegistryImportUpload, import_id)
            if record is None or upload is None:
                return
            if not dry_run and is_stale(session, record):
                raise StalePreview()
            target = _scratch_copy(record) if dry_run else record
            import_file(
                session,
                io.BytesIO(upload.content),
                file_name=record.file_name,
                council_code=record.council.code,
                actor=Actor(ActorKind(record.actor_kind), record.actor_id),
                full=record.full,
                dry_run=dry_run,
                allow_partial=record.allow_partial,
                progress=ProgressWriter(import_id),
                record=target,
            )
            if target is not record:
                if target in session:
                    session.expunge(target)
                for column in RESULT_COLUMNS:
                    setattr(record, column, getattr(target, column))
        if not (dry_run and record.status == ImportStatus.PREVIEWED):
            session.delete(upload)
        session.commit()
    except Exception as error:
        session.rollback()
        log.exception("registry import %s failed", import_id)
        _record_failure(session, import_id, error, dry_run=dry_run)


def _scratch_copy(record: RegistryImport) -> RegistryImport:
    """A transient RegistryImport with the stored one's settings (never added to a session)."""
    return RegistryImport(
        council_id=record.council_id,
        actor_kind=record.actor_kind,
        actor_id=record.actor_id,
        file_name=record.file_name,
        file_sha256=record.file_sha256,
        file_size=record.file_size,
        full=record.full,
        allow_partial=record.allow_partial,
        dry_run=True,
        status=ImportStatus.RUNNING.value,
        created_at=record.created_at,
        summary={},
        report_csv="",
        rows_processed=0,
        added=0,
        changed=0,
        unchanged=0,
        struck_off=0,
        rejected=0,
    )


def _record_failure(session: DbSession, import_id: int, error: Exception, *, dry_run: bool) -> None:
    """A preview that failed is failed; an apply that failed leaves the registry as it was and
    the preview as it stood (previewed), with the reason, so it may be retried or cancelled."""
    record = session.get(RegistryImport, import_id, populate_existing=True)
    if record is None:
        return
    message = error.message if isinstance(error, DomainError) else None
    record.summary = {**(record.summary or {}), "failure": message or "internal"}
    if dry_run:
        record.status = ImportStatus.FAILED.value
        record.finished_at = utcnow()
        _delete_upload(session, import_id)
    else:
        record.status = ImportStatus.PREVIEWED.value
        record.dry_run = True
    session.commit()


def last_activity(record: RegistryImport) -> datetime:
    return record.applied_at or record.finished_at or record.created_at
