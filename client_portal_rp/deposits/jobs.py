"""The photo job: after a photo is deposited (processing `pending`), remove its location (EXIF
GPS, XMP), make its thumbnail and, for HEIC/TIFF, a JPEG rendition (client_portal_rp/images.py).
It runs after the HTTP answer (`schedule`, background.after_response) because a HEIC costs
seconds; `portal jobs run` (`run_pending`) catches what a dead process left pending.

Safe to run twice at once without a `running` state: the work is idempotent (the same photo
gives the same blobs, stored under their digests), and the result is written by ONE conditional
UPDATE ... WHERE processing = 'pending'. Only the run whose UPDATE wins deletes the original
(GPS-bearing) blob, and only when no row references it any more; a run that loses removes only
the blobs it stored that nobody references. A run that finds the original already gone (another
run of the same bytes won and deleted it) copies the result of that processed deposit.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from flask import current_app
from sqlalchemy import or_, select, update

from client_portal_rp.background import after_response
from client_portal_rp.deposits.services import blob_store, file_kind
from client_portal_rp.extensions import db
from client_portal_rp.images import PhotoUnreadable, process_photo
from client_portal_rp.models import ArchiveDocument, Deposit, Processing
from client_portal_rp.storage import BlobNotFound, BlobStore

log = logging.getLogger("client_portal_rp.deposits.jobs")
COPY_CHUNK = 1024 * 1024


def schedule(deposit_ids: Iterable[int]) -> None:
    """Process these deposits once the answer is sent (the caller has committed them)."""
    ids = list(deposit_ids)
    if not ids:
        return

    def process_deposits() -> None:
        for deposit_id in ids:
            process_deposit(deposit_id)

    after_response(process_deposits)


def referenced(sha256: str, *, except_id: int | None = None) -> bool:
    """Whether any deposit (other than `except_id`) or archive document names this blob."""
    deposit_refs = select(Deposit.id).where(
        or_(
            Deposit.blob_sha256 == sha256,
            Deposit.rendition_sha256 == sha256,
            Deposit.thumbnail_sha256 == sha256,
        )
    )
    if except_id is not None:
        deposit_refs = deposit_refs.where(Deposit.id != except_id)
    if db.session.scalar(deposit_refs.limit(1)) is not None:
        return True
    archive_refs = select(ArchiveDocument.id).where(ArchiveDocument.blob_sha256 == sha256)
    return db.session.scalar(archive_refs.limit(1)) is not None


def _finish(deposit_id: int, **values: object) -> bool:
    """Write the job's result if the deposit is still pending (one UPDATE); commit."""
    result = db.session.execute(
        update(Deposit)
        .where(Deposit.id == deposit_id, Deposit.processing == Processing.PENDING.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _copy_blob(store: BlobStore, sha256: str, target: Path) -> None:
    with store.open(sha256) as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out, COPY_CHUNK)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _store(store: BlobStore, path: Path, stored: list[str]) -> str:
    """Store a file the job made; remember it when this run was the one to store it."""
    digest = file_sha256(path)
    if store.put(path, digest):
        stored.append(digest)
    return digest


def _reuse_processed(deposit: Deposit) -> bool:
    """The original is gone: take the result of a processed deposit of the same bytes."""
    twin = db.session.scalar(
        select(Deposit)
        .where(
            Deposit.sha256 == deposit.sha256,
            Deposit.processing == Processing.DONE.value,
            Deposit.id != deposit.id,
        )
        .limit(1)
    )
    if twin is None:
        return False
    return _finish(
        deposit.id,
        blob_sha256=twin.blob_sha256,
        rendition_sha256=twin.rendition_sha256,
        thumbnail_sha256=twin.thumbnail_sha256,
        processing=Processing.DONE.value,
    )


def process_deposit(deposit_id: int) -> bool:
    """Run the photo job for one deposit; True when this run wrote its result."""
    deposit = db.session.get(Deposit, deposit_id)
    if deposit is None or deposit.processing != Processing.PENDING.value:
        return False
    store = blob_store()
    original = deposit.blob_sha256
    kind = file_kind(deposit)
    stored: list[str] = []
    parent = Path(current_app.instance_path) / "jobs"
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix="photo-") as work:
        work_dir = Path(work)
        source = work_dir / f"original{kind.extension}"
        try:
            _copy_blob(store, original, source)
        except BlobNotFound:
            db.session.rollback()
            if _reuse_processed(deposit):
                return True
            log.error("deposit %s: its blob %s is missing", deposit.public_id, original)
            return _finish(deposit_id, processing=Processing.FAILED.value)
        try:
            result = process_photo(source, kind, work_dir / "out")
        except PhotoUnreadable as unreadable:
            log.warning("deposit %s: photo unreadable: %s", deposit.public_id, unreadable.message)
            db.session.rollback()
            return _finish(deposit_id, processing=Processing.FAILED.value)
        clean = _store(store, result.clean, stored) if result.clean is not None else original
        rendition = (
            _store(store, result.rendition, stored) if result.rendition is not None else None
        )
        thumbnail = _store(store, result.thumbnail, stored)
    db.session.rollback()  # end the read transaction before the write
    won = _finish(
        deposit_id,
        blob_sha256=clean,
        rendition_sha256=rendition,
        thumbnail_sha256=thumbnail,
        processing=Processing.DONE.value,
    )
    if won:
        if clean != original and not referenced(original):
            store.delete(original)  # the copy with the location is gone for good
        log.info(
            "deposit %s processed (location removed: %s)", deposit.public_id, result.gps_removed
        )
    else:
        for digest in stored:
            if not referenced(digest):
                store.delete(digest)
    db.session.rollback()
    return won


def pending_ids(limit: int = 1000) -> list[int]:
    ids = db.session.scalars(
        select(Deposit.id)
        .where(Deposit.processing == Processing.PENDING.value)
        .order_by(Deposit.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    return list(ids)


def run_pending() -> int:
    """Process every deposit still pending (the `portal jobs run` command); how many this run
    finished (done or failed)."""
    finished = 0
    for deposit_id in pending_ids():
        try:
            if process_deposit(deposit_id):
                finished += 1
        except Exception:  # one bad deposit does not stop the others; it stays pending
            db.session.rollback()
            log.exception("deposit id %s: photo job failed", deposit_id)
    return finished
