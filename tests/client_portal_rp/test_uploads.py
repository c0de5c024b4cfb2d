"""Receiving uploads: files streamed to disk with their digest and size, limits enforced while
reading, temporary files removed on every failure, hostile names kept as sent and never used."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect, generate_csrf

from client_portal_rp.uploads import (
    CHUNK_BYTES,
    ReceivedFile,
    UploadError,
    UploadInvalid,
    UploadTooLarge,
    csrf_check,
    megabytes,
    receive_upload,
)

BOUNDARY = "----sesameBoundary7MA4YWxkTrZu0gW"
FILE_LIMIT = 100_000
TOTAL_LIMIT = 1_000_000

Part = tuple[str, str | None, bytes]  # field name, filename (None: a text field), content


def multipart(parts: list[Part], *, end: bool = True) -> bytes:
    """A body as a browser sends it (raw UTF-8 names in the headers, CRLF everywhere)."""
    out = io.BytesIO()
    for name, filename, content in parts:
        out.write(f"--{BOUNDARY}\r\n".encode())
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            quoted = filename.replace("\\", "\\\\")  # a quoted-pair, as RFC 7578 reads it
            disposition += f'; filename="{quoted}"'
        out.write(f"Content-Disposition: {disposition}\r\n".encode())
        if filename is not None:
            out.write(b"Content-Type: application/octet-stream\r\n")
        out.write(b"\r\n" + content + b"\r\n")
    if end:
        out.write(f"--{BOUNDARY}--\r\n".encode())
    return out.getvalue()


class CountingStream(io.RawIOBase):
    """The server's input stream, counting the bytes the application took from it."""

    def __init__(self, data: bytes) -> None:
        self.inner = io.BytesIO(data)
        self.taken = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.inner.readinto(buffer)
        self.taken += count
        return count


def tmp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    return folder


@pytest.fixture
def upload_app(upload_dir: Path) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test", MAX_CONTENT_LENGTH=1024 * 1024 // 4)
    csrf = CSRFProtect(app)

    @app.errorhandler(UploadError)
    def refused(error: UploadError) -> ResponseReturnValue:
        return jsonify(message=error.message), error.status

    @app.get("/form")
    def form() -> str:
        return generate_csrf()

    @app.post("/upload")
    @csrf.exempt
    def upload() -> ResponseReturnValue:
        with receive_upload(
            request,
            max_file_bytes=FILE_LIMIT,
            max_total_bytes=TOTAL_LIMIT,
            tmp_dir=upload_dir,
            check_fields=csrf_check,
        ) as received:
            files = [
                {
                    "field": f.field_name,
                    "filename": f.filename,
                    "size": f.size,
                    "sha256": f.sha256,
                    "on_disk": hashlib.sha256(f.path.read_bytes()).hexdigest(),
                    "path": str(f.path),
                }
                for f in received.files
            ]
            return jsonify(
                fields=received.fields, files=files, form_comment=request.form.get("comment")
            )

    return app


def post(app: Flask, body: bytes, *, token: bool = True) -> Any:
    client = app.test_client()
    if token:
        csrf_token = client.get("/form").get_data(as_text=True)
        body = multipart([("csrf_token", None, csrf_token.encode())], end=False) + body
    return client.post(
        "/upload", data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}"
    )


def test_several_files_arrive_hashed_on_disk(upload_app: Flask, upload_dir: Path) -> None:
    first, second = os.urandom(FILE_LIMIT), b"Compte;Solde\n401;12\n"
    body = multipart(
        [
            ("comment", None, "Relevés de mars".encode()),
            ("documents", "releve.pdf", first),
            ("documents", "balance.csv", second),
            ("vide", "", b""),  # a file input left empty
        ]
    )
    answer = post(upload_app, body)
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_json()
    assert data["fields"]["comment"] == ["Relevés de mars"]
    assert data["form_comment"] == "Relevés de mars"  # request.form still works after
    assert [(f["field"], f["filename"], f["size"]) for f in data["files"]] == [
        ("documents", "releve.pdf", FILE_LIMIT),
        ("documents", "balance.csv", len(second)),
    ]
    assert data["files"][0]["sha256"] == hashlib.sha256(first).hexdigest()
    assert all(f["sha256"] == f["on_disk"] for f in data["files"])
    assert all(Path(f["path"]).parent == upload_dir for f in data["files"])
    assert tmp_files(upload_dir) == []  # the view's `with` removed them


def test_file_over_limit_is_stopped_while_reading(upload_app: Flask, upload_dir: Path) -> None:
    """The request carries 3 MB; reading stops within a chunk or two of the 100 KB limit and the
    partial files (the good first one too) are removed."""
    body = multipart(
        [
            ("csrf_token", None, b"ignored: checked below"),
            ("documents", "petit.pdf", b"%PDF-1.4 small"),
            ("documents", "gros.pdf", b"x" * 3_000_000),
        ]
    )
    stream = CountingStream(body)
    with upload_app.test_request_context(
        "/upload",
        method="POST",
        data=body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    ):
        request.environ["wsgi.input"] = stream
        with pytest.raises(UploadTooLarge) as refused:
            receive_upload(
                request,
                max_file_bytes=FILE_LIMIT,
                max_total_bytes=5 * TOTAL_LIMIT,
                tmp_dir=upload_dir,
            )
    assert refused.value.message == (
        "Le fichier « gros.pdf » dépasse la taille maximale de 0,1 Mo."
    )
    assert refused.value.filename == "gros.pdf" and refused.value.status == 413
    assert stream.taken <= FILE_LIMIT + 2 * CHUNK_BYTES
    assert stream.taken < len(body) / 4
    assert tmp_files(upload_dir) == []


def test_skip_oversized_drops_that_file_and_keeps_the_others(
    upload_app: Flask, upload_dir: Path
) -> None:
    """A form posting several files at once: the one over the limit is read and dropped (its
    name reported, nothing of it on disk), the files before and after it arrive whole."""
    body = multipart(
        [
            ("documents", "avant.pdf", b"%PDF-1.4 before"),
            ("documents", "gros.pdf", b"x" * 300_000),
            ("documents", "apres.pdf", b"%PDF-1.4 after"),
        ]
    )
    with (
        upload_app.test_request_context(
            "/upload",
            method="POST",
            data=body,
            content_type=f"multipart/form-data; boundary={BOUNDARY}",
        ),
        receive_upload(
            request,
            max_file_bytes=FILE_LIMIT,
            max_total_bytes=5 * TOTAL_LIMIT,
            tmp_dir=upload_dir,
            skip_oversized=True,
        ) as upload,
    ):
        assert upload.oversized == ["gros.pdf"]
        assert [f.filename for f in upload.files] == ["avant.pdf", "apres.pdf"]
        assert [f.path.read_bytes() for f in upload.files] == [
            b"%PDF-1.4 before",
            b"%PDF-1.4 after",
        ]
        assert len(tmp_files(upload_dir)) == 2
    assert tmp_files(upload_dir) == []


def test_drain_on_error_reads_the_rest_without_writing(upload_dir: Path) -> None:
    app = Flask(__name__)
    body = multipart([("f", "gros.pdf", b"x" * 500_000)])
    stream = CountingStream(body)
    with app.test_request_context(
        "/", method="POST", data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}"
    ):
        request.environ["wsgi.input"] = stream
        with pytest.raises(UploadTooLarge):
            receive_upload(
                request,
                max_file_bytes=FILE_LIMIT,
                max_total_bytes=TOTAL_LIMIT,
                tmp_dir=upload_dir,
                drain_on_error=True,
            )
    assert stream.taken == len(body)
    assert tmp_files(upload_dir) == []


def test_too_large_request_is_refused_before_reading(upload_app: Flask, upload_dir: Path) -> None:
    body = multipart([("documents", f"f{i}.pdf", b"y" * 90_000) for i in range(12)])
    assert len(body) > TOTAL_LIMIT
    answer = post(upload_app, body)
    assert answer.status_code == 413
    assert answer.get_json()["message"] == ("L'envoi dépasse la taille totale maximale de 1 Mo.")
    assert tmp_files(upload_dir) == []


def test_request_without_length_is_bounded_while_reading(upload_dir: Path) -> None:
    """A chunked body (no Content-Length) still stops at the total limit."""
    app = Flask(__name__)
    body = multipart([("documents", f"f{i}.pdf", b"y" * 90_000) for i in range(15)])
    stream = CountingStream(body)
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
        "wsgi.input": stream,
        "wsgi.input_terminated": True,
    }
    with app.test_request_context("/", environ_overrides=environ):
        request.environ.pop("CONTENT_LENGTH", None)
        with pytest.raises(UploadTooLarge) as refused:
            receive_upload(
                request, max_file_bytes=FILE_LIMIT, max_total_bytes=TOTAL_LIMIT, tmp_dir=upload_dir
            )
    assert refused.value.filename is None
    assert stream.taken <= TOTAL_LIMIT + CHUNK_BYTES
    assert tmp_files(upload_dir) == []


@pytest.mark.parametrize(
    "sent",
    [
        "../../etc/passwd",
        "..\\..\\windows\\system.ini",
        "facture\x00.pdf.exe",
        "a" * 300 + ".pdf",
        "Relevé bancaire – 日本 🧾.pdf",
        "/absolute/path.pdf",
    ],
)
def test_hostile_names_are_kept_as_sent_and_never_used(
    upload_app: Flask, upload_dir: Path, sent: str
) -> None:
    answer = post(upload_app, multipart([("documents", sent, b"contenu")]))
    assert answer.status_code == 200, answer.get_json()
    (received,) = answer.get_json()["files"]
    assert received["filename"] == sent
    stored = Path(received["path"])
    assert stored.parent == upload_dir and stored.name.startswith("upload-")
    assert not (upload_dir.parent.parent / "etc").exists()


def test_missing_csrf_token_stops_before_any_file_is_written(
    upload_app: Flask, upload_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real_mkstemp = __import__("tempfile").mkstemp

    def watching_mkstemp(*args: Any, **kwargs: Any) -> Any:
        opened.append("file")
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr("client_portal_rp.uploads.tempfile.mkstemp", watching_mkstemp)
    answer = post(upload_app, multipart([("documents", "a.pdf", b"x" * 1000)]), token=False)
    assert answer.status_code == 400
    assert answer.get_json()["message"] == (
        "La page d'envoi a expiré : rechargez-la puis choisissez de nouveau vos fichiers."
    )
    assert opened == []
    forged = multipart([("csrf_token", None, b"forged"), ("documents", "a.pdf", b"x")])
    assert post(upload_app, forged, token=False).status_code == 400
    assert opened == [] and tmp_files(upload_dir) == []


def test_csrf_checked_even_without_files(upload_app: Flask) -> None:
    answer = post(upload_app, multipart([("comment", None, b"rien")]), token=False)
    assert answer.status_code == 400
    assert post(upload_app, multipart([("comment", None, b"rien")])).status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"a=1", "application/x-www-form-urlencoded", "n'est pas un formulaire de fichiers"),
        (b"x", "multipart/form-data", "n'est pas un formulaire de fichiers"),
        (
            multipart([("documents", "coupe.pdf", b"x" * 5000)])[:-200],
            f"multipart/form-data; boundary={BOUNDARY}",
            "L'envoi a été interrompu",
        ),
        (
            b"--"
            + BOUNDARY.encode()
            + b"\r\nX-Nothing: 1\r\n\r\nabc\r\n--"
            + BOUNDARY.encode()
            + b"--\r\n",
            f"multipart/form-data; boundary={BOUNDARY}",
            "n'est pas un formulaire de fichiers",
        ),
    ],
)
def test_malformed_bodies_get_a_french_message(
    upload_dir: Path, body: bytes, content_type: str, message: str
) -> None:
    app = Flask(__name__)
    with (
        app.test_request_context("/", method="POST", data=body, content_type=content_type),
        pytest.raises(UploadInvalid, match=message),
    ):
        receive_upload(request, tmp_dir=upload_dir)
    assert tmp_files(upload_dir) == []


def test_too_many_parts_and_long_fields_are_refused(upload_dir: Path) -> None:
    app = Flask(__name__)
    many = multipart([("documents", f"{i}.pdf", b"x") for i in range(5)])
    with (
        app.test_request_context(
            "/", method="POST", data=many, content_type=f"multipart/form-data; boundary={BOUNDARY}"
        ),
        pytest.raises(UploadInvalid, match="au plus 3 éléments"),
    ):
        receive_upload(request, tmp_dir=upload_dir, max_parts=3)
    long_field = multipart([("comment", None, b"z" * 70_000)])
    with (
        app.test_request_context(
            "/",
            method="POST",
            data=long_field,
            content_type=f"multipart/form-data; boundary={BOUNDARY}",
        ),
        pytest.raises(UploadInvalid, match="« comment » est trop long"),
    ):
        receive_upload(request, tmp_dir=upload_dir)
    assert tmp_files(upload_dir) == []


def test_body_already_parsed_is_a_wiring_error(upload_dir: Path) -> None:
    app = Flask(__name__)
    body = multipart([("comment", None, b"x")])
    with app.test_request_context(
        "/", method="POST", data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}"
    ):
        assert request.form["comment"] == "x"
        with pytest.raises(RuntimeError, match="CSRFProtect"):
            receive_upload(request, tmp_dir=upload_dir)


def test_received_file_and_megabytes() -> None:
    assert megabytes(25_000_000) == "25 Mo"
    assert megabytes(1_500_000) == "1,5 Mo"
    error = UploadTooLarge("relevé.pdf", 25_000_000)
    assert error.message == "Le fichier « relevé.pdf » dépasse la taille maximale de 25 Mo."
    assert ReceivedFile("f", "a", Path("/tmp/x"), 1, "0" * 64).size == 1
