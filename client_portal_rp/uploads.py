"""Receiving a multipart/form-data upload straight to disk, hashed and measured as it arrives.

Werkzeug's `request.files` keeps each file in memory up to 500 KB, then in a spooled temporary
file, and knows no per-file limit: a 25 MB limit would only be checked once the whole file was
received. Here the request body is read in 256 KiB chunks and fed to Werkzeug's own multipart
decoder (`werkzeug.sansio.multipart.MultipartDecoder`, the one `request.form` uses); each file
part goes to its own temporary file while its SHA-256 and size are computed, and reading stops at
the first byte over a file's limit or the request's limit. Memory stays at a few chunks whatever
the size.

CSRF: Flask-WTF's CSRFProtect reads `request.form` before the view, which would parse the body
the usual way (and, under the portal's 1 MB MAX_CONTENT_LENGTH, refuse it). The upload view is
therefore exempted from CSRFProtect and passes `check_fields=csrf_check`: the token, sent as a
normal form field placed BEFORE the file inputs, is checked as soon as the first file part
begins, so a forged request is refused before a byte of its files reaches the disk. After
`receive_upload`, `request.form` holds the text fields (so a FlaskForm can read them).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from flask import Request, current_app
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

MB = 1_000_000
DEFAULT_MAX_FILE_BYTES = 25 * MB
DEFAULT_MAX_TOTAL_BYTES = 100 * MB
CHUNK_BYTES = 256 * 1024  # bench/portal_upload.py: 64 KiB chunks cost ~15 % in decoding
MAX_FIELD_BYTES = 64 * 1024  # one text field (a comment, a token): never a document
MAX_PARTS = 100

FieldCheck = Callable[[Mapping[str, list[str]]], None]


def megabytes(limit: int) -> str:
    """25000000 -> « 25 Mo », 1500000 -> « 1,5 Mo » (French decimal comma)."""
    value = f"{limit / MB:.1f}".rstrip("0").rstrip(".").replace(".", ",")
    return f"{value} Mo"


class UploadError(Exception):
    """An upload the portal refuses; `message` is the French text to show, `status` the HTTP
    status of the page that shows it."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UploadTooLarge(UploadError):
    """A file over its limit (`filename` as sent), or the whole request (`filename` None)."""

    status = 413

    def __init__(self, filename: str | None, limit: int) -> None:
        if filename is None:
            message = f"L'envoi dépasse la taille totale maximale de {megabytes(limit)}."
        else:
            message = f"Le fichier « {filename} » dépasse la taille maximale de {megabytes(limit)}."
        super().__init__(message)
        self.filename = filename
        self.limit = limit


class UploadInvalid(UploadError):
    """A request that is no well-formed upload form, was cut off, or failed `check_fields`."""


@dataclass
class ReceivedFile:
    """One file of the request, on disk in `path` (a temporary file the caller moves, stores
    or lets `Upload.cleanup` remove). `filename` is what the client sent: unsafe, for display
    through files.safe_display_name only."""

    field_name: str
    filename: str
    path: Path
    size: int
    sha256: str


@dataclass
class Upload:
    """The text fields and the files of one request. Use it as a context manager, or call
    `cleanup()`, so no temporary file outlives the request."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[ReceivedFile] = field(default_factory=list)
    # With skip_oversized: the names (as sent) of the files over the limit, read and dropped.
    oversized: list[str] = field(default_factory=list)

    def field(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None

    def files_named(self, field_name: str) -> list[ReceivedFile]:
        return [received for received in self.files if received.field_name == field_name]

    def cleanup(self) -> None:
        """Remove the temporary files that are still there (a stored one may have been moved)."""
        for received in self.files:
            received.path.unlink(missing_ok=True)

    def __enter__(self) -> Upload:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cleanup()


def csrf_check(fields: Mapping[str, list[str]]) -> None:
    """`check_fields` for Flask-WTF: the CSRF token of the form (or the X-CSRFToken header),
    checked the way CSRFProtect would. Raises UploadInvalid."""
    from flask import request
    from flask_wtf.csrf import validate_csrf
    from wtforms import ValidationError

    name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    values = fields.get(name) or []
    token = values[0] if values else request.headers.get("X-CSRFToken")
    try:
        validate_csrf(token)
    except ValidationError:
        raise UploadInvalid(
            "La page d'envoi a expiré : rechargez-la puis choisissez de nouveau vos fichiers."
        ) from None


class _HashingWriter:
    """A temporary file that hashes what it writes."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.hasher = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self.hasher.update(chunk)
        self.out.write(chunk)

    def close(self) -> str:
        """Close the file; its SHA-256 hex digest."""
        self.out.close()
        return self.hasher.hexdigest()

    def abort(self) -> None:
        self.out.close()


class _Receiver:
    """The state of one request's reading: the decoder, the part being received, the files."""

    def __init__(
        self,
        *,
        max_file_bytes: int,
        tmp_dir: Path,
        check_fields: FieldCheck | None,
        max_parts: int,
        skip_oversized: bool = False,
    ) -> None:
        self.skip_oversized = skip_oversized
        self.skipping = False  # the current part is over the limit: its bytes are dropped
        self.max_file_bytes = max_file_bytes
        self.max_parts = max_parts
        self.parts = 0
        self.tmp_dir = tmp_dir
        self.check_fields = check_fields
        self.fields_checked = False
        self.upload = Upload()
        self.field_name: str | None = None
        self.field_chunks: list[bytes] = []
        self.field_size = 0
        self.file: ReceivedFile | None = None
        self.out: _HashingWriter | None = None
        self.complete = False

    def run_check(self) -> None:
        if not self.fields_checked:
            self.fields_checked = True
            if self.check_fields is not None:
                self.check_fields(self.upload.fields)

    def count_part(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise UploadInvalid(
                f"Un envoi compte au plus {self.max_parts} éléments : envoyez vos fichiers en "
                "plusieurs fois."
            )

    def start_field(self, event: Field) -> None:
        self.count_part()
        self.field_name, self.field_chunks, self.field_size = event.name, [], 0

    def start_file(self, event: File) -> None:
        self.count_part()
        self.run_check()
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="upload-", suffix=".part")
        self.out = _HashingWriter(os.fdopen(fd, "wb"))
        self.file = ReceivedFile(event.name, event.filename, Path(name), 0, "")
        self.upload.files.append(self.file)  # listed at once, so a failure removes it too

    def data(self, event: Data) -> None:
        if self.skipping:
            self.skipping = event.more_data
            return
        if self.file is not None and self.out is not None:
            self.file.size += len(event.data)
            if self.file.size > self.max_file_bytes:
                if not self.skip_oversized:
                    raise UploadTooLarge(self.file.filename, self.max_file_bytes)
                self._drop_file(more=event.more_data)
                return
            self.out.write(event.data)
            if not event.more_data:
                self.end_file()
        elif self.field_name is not None:
            self.field_size += len(event.data)
            if self.field_size > MAX_FIELD_BYTES:
                raise UploadInvalid(f"Le champ « {self.field_name} » est trop long.")
            self.field_chunks.append(event.data)
            if not event.more_data:
                value = b"".join(self.field_chunks).decode("utf-8", "replace")
                self.upload.fields.setdefault(self.field_name, []).append(value)
                self.field_name = None

    def _drop_file(self, *, more: bool) -> None:
        """The file passed the limit: its temporary file goes, its name is reported, and the
        rest of its bytes are read and dropped (the next files still arrive)."""
        assert self.file is not None and self.out is not None
        self.out.abort()
        self.out = None
        self.file.path.unlink(missing_ok=True)
        self.upload.files.remove(self.file)
        self.upload.oversized.append(self.file.filename)
        self.file = None
        self.skipping = more

    def end_file(self) -> None:
        assert self.file is not None and self.out is not None
        self.file.sha256 = self.out.close()
        self.out = None
        if self.file.filename == "" and self.file.size == 0:
            # A file input left empty: browsers send a part with no name and no bytes.
            self.file.path.unlink(missing_ok=True)
            self.upload.files.remove(self.file)
        self.file = None

    def close(self) -> None:
        if self.out is not None:
            self.out.abort()
            self.out = None


def receive_upload(
    request: Request,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    tmp_dir: Path,
    check_fields: FieldCheck | None = None,
    max_parts: int = MAX_PARTS,
    drain_on_error: bool = False,
    skip_oversized: bool = False,
) -> Upload:
    """Read the multipart/form-data body of `request` into an Upload: text fields in memory,
    each file in a temporary file of `tmp_dir` (the same file system as the blob store, so that
    storing it is a rename), with its SHA-256 and size.

    `check_fields(fields)` runs once, when the first file part begins (or at the end when there
    is none), with the text fields sent before it: raise UploadError there to stop (CSRF).
    With `skip_oversized`, a file over `max_file_bytes` is read and dropped instead, its name
    in `Upload.oversized`, and the other files still arrive (a form posting several files).
    Raises UploadTooLarge as soon as a file passes `max_file_bytes` or the body passes
    `max_total_bytes` (a Content-Length over it is refused before reading anything), and
    UploadInvalid for a body that is no upload form; the temporary files are removed then.

    With `drain_on_error`, a refused body whose Content-Length is within `max_total_bytes` is
    read to its end and thrown away (nothing more is written), so that a browser still sending
    it reads the error page instead of a reset connection."""
    if "form" in request.__dict__ or "stream" in request.__dict__:
        raise RuntimeError(
            "the request body was already read (request.form): exempt the upload view from "
            "CSRFProtect and check the token with check_fields=csrf_check"
        )
    boundary = request.mimetype_params.get("boundary", "")
    if request.mimetype != "multipart/form-data" or not boundary:
        raise UploadInvalid("L'envoi n'est pas un formulaire de fichiers valide.")
    length = request.content_length
    if length is not None and length > max_total_bytes:
        raise UploadTooLarge(None, max_total_bytes)
    request.max_content_length = max_total_bytes  # the stream itself refuses more than that
    receiver = _Receiver(
        max_file_bytes=max_file_bytes,
        tmp_dir=tmp_dir,
        check_fields=check_fields,
        max_parts=max_parts,
        skip_oversized=skip_oversized,
    )
    decoder = MultipartDecoder(boundary.encode("latin-1"))
    stream = request.stream
    try:
        try:
            while not receiver.complete:
                chunk = stream.read(CHUNK_BYTES)
                decoder.receive_data(chunk or None)
                _dispatch(decoder, receiver)
                if not chunk:
                    break
        except RequestEntityTooLarge:
            # Werkzeug's stream refuses to read past max_content_length (a chunked body).
            raise UploadTooLarge(None, max_total_bytes) from None
        except ClientDisconnected:
            raise UploadInvalid("L'envoi a été interrompu : veuillez réessayer.") from None
        except ValueError:
            if decoder.complete:  # the body ended in the middle of a part
                raise UploadInvalid("L'envoi a été interrompu : veuillez réessayer.") from None
            raise UploadInvalid("L'envoi n'est pas un formulaire de fichiers valide.") from None
        if not receiver.complete:
            raise UploadInvalid("L'envoi a été interrompu : veuillez réessayer.")
        receiver.run_check()
    except BaseException as error:
        receiver.close()
        receiver.upload.cleanup()
        if drain_on_error and isinstance(error, UploadError) and length is not None:
            _drain(stream)
        raise
    # Later readers of request.form (a FlaskForm) see the text fields, not an empty body.
    request.__dict__["form"] = ImmutableMultiDict(
        [(name, value) for name, values in receiver.upload.fields.items() for value in values]
    )
    request.__dict__["files"] = ImmutableMultiDict()
    return receiver.upload


def _dispatch(decoder: MultipartDecoder, receiver: _Receiver) -> None:
    event = decoder.next_event()
    while not isinstance(event, NeedData):
        if isinstance(event, Field):
            receiver.start_field(event)
        elif isinstance(event, File):
            receiver.start_file(event)
        elif isinstance(event, Data):
            receiver.data(event)
        elif isinstance(event, Epilogue):
            receiver.complete = True
            return
        event = decoder.next_event()


def _drain(stream: IO[bytes]) -> None:
    try:
        while stream.read(CHUNK_BYTES):
            pass
    except (ClientDisconnected, RequestEntityTooLarge, OSError):
        pass
