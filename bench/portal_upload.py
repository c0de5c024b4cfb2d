"""What streaming an upload through `receive_upload` costs next to writing the raw body to disk.

Run: .venv/bin/python bench/portal_upload.py [--runs 7] [--size-mb 25]

Two servers start in child processes on 127.0.0.1 (Werkzeug's WSGI server, one request at a
time): (a) a bare endpoint that only copies the request body to a file, (b) one that calls
client_portal_rp.uploads.receive_upload (multipart decoding, SHA-256, limits). The same file is
uploaded N times to each as multipart/form-data over loopback HTTP; the script prints the
median throughput of each, the ratio ours/bare (target >= 0.8), and the server process's peak
RSS growth during an upload (target <= 10 MB), from /proc/<pid>/status VmHWM after resetting
it through /proc/<pid>/clear_refs (VmRSS sampled every 2 ms where that is not allowed).

`upload()` and `measure()` take any URL (with headers and cookies), so the same measure can
point at the portal's real deposit view; pass the server's pid to get its memory.

(c) `portal`: the real deposit view, POST /entreprises/<id>/depots of client_portal_rp (its
own SQLite database and blob store in a temporary folder, a firm, a company, a member signed in
the way tests/client_portal_rp/conftest.py `sign_in` does: a login record, its id in the
session cookie; the CSRF token read from the deposit page). The whole path is measured:
company_view, receive_upload, sniff, the copy into the content-addressed store (fsync), the
deposit row, its audit line and the redirect. Each answer must be the 303 of a stored deposit;
the blob is removed after each request (teardown), so every upload really stores its 25 MB.
`--only portal` runs it alone (still against the bare endpoint, in the same run).
"""

# ruff: noqa: E402 - the import path is fixed before the imports (bench/token.py)
from __future__ import annotations

import sys

# bench/token.py would shadow the standard library's `token` (imported by dataclasses): this
# folder leaves the import path, the repository joins it.
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("bench")]

import argparse
import http.client
import os
import secrets
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHUNK = 64 * 1024
MB = 1_000_000


@dataclass
class UploadResult:
    status: int
    seconds: float
    peak_rss_growth: int | None  # bytes, when the server's pid was given
    location: str | None = None  # the redirect's target (the portal answers 303)


@dataclass
class Figures:
    median_mb_per_s: float
    peak_rss_growth: int | None
    results: list[UploadResult]


def _multipart(
    path: Path, field: str, fields: Mapping[str, str], boundary: str
) -> tuple[bytes, bytes]:
    head = b""
    for name, value in fields.items():
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    return head, f"\r\n--{boundary}--\r\n".encode()


def _body(head: bytes, path: Path, tail: bytes, rate: float | None = None) -> Iterator[bytes]:
    """The body in 64 KiB chunks; `rate` (bytes/s) paces them like a slower network would."""
    yield head
    start, sent = time.perf_counter(), 0
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk
            sent += len(chunk)
            if rate:
                ahead = sent / rate - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)
    yield tail


class MemoryWatch:
    """Peak RSS growth of a process while a block runs: VmHWM reset through clear_refs (Linux,
    own or root process), else VmRSS sampled every 2 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.status = Path(f"/proc/{pid}/status")
        self.sampled_peak = 0
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.hwm_reset = False

    def read_kb(self, key: str) -> int:
        for line in self.status.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise LookupError(key)

    def __enter__(self) -> MemoryWatch:
        self.baseline = self.read_kb("VmRSS")
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self.hwm_reset = True
        except OSError:
            self.sampled_peak = self.baseline
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.stop.is_set():
            self.sampled_peak = max(self.sampled_peak, self.read_kb("VmRSS"))
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()

    @property
    def growth(self) -> int:
        peak = self.read_kb("VmHWM") if self.hwm_reset else self.sampled_peak
        return max(0, peak - self.baseline) * 1024


def upload(
    url: str,
    path: Path,
    *,
    field: str = "documents",
    fields: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    cookies: Mapping[str, str] | None = None,
    server_pid: int | None = None,
    timeout: float = 120,
    rate: float | None = None,
) -> UploadResult:
    """POST `path` as one file of a multipart/form-data form to `url`, streamed from disk;
    `fields` are text fields sent before it (a CSRF token...)."""
    boundary = "----bench" + secrets.token_hex(12)
    head, tail = _multipart(path, field, fields or {}, boundary)
    length = len(head) + path.stat().st_size + len(tail)
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.netloc, timeout=timeout)
    all_headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(length),
        **(headers or {}),
    }
    if cookies:
        all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    watch = MemoryWatch(server_pid) if server_pid else None
    start = time.perf_counter()
    if watch:
        watch.__enter__()
    try:
        body = _body(head, path, tail, rate)
        connection.request("POST", target or "/", body=body, headers=all_headers)
        answer = connection.getresponse()
        answer.read()
    finally:
        seconds = time.perf_counter() - start
        if watch:
            watch.__exit__()
        connection.close()
    return UploadResult(
        answer.status, seconds, watch.growth if watch else None, answer.getheader("Location")
    )


def measure(url: str, path: Path, runs: int, **options: object) -> Figures:
    """One warm-up upload, then `runs` measured ones; every answer must be 2xx or 3xx."""
    upload(url, path, **options)  # type: ignore[arg-type]
    results = [upload(url, path, **options) for _ in range(runs)]  # type: ignore[arg-type]
    bad = [r.status for r in results if not 200 <= r.status < 400]
    if bad:
        raise SystemExit(f"{url} answered {bad}")
    size_mb = path.stat().st_size / MB
    growths = [r.peak_rss_growth for r in results if r.peak_rss_growth is not None]
    return Figures(
        statistics.median(size_mb / r.seconds for r in results),
        max(growths) if growths else None,
        results,
    )


# --- the two servers (child processes) ------------------------------------------------------


def serve(kind: str, port: int, workdir: Path) -> None:
    from flask import Flask, request
    from werkzeug.serving import make_server

    from client_portal_rp.uploads import receive_upload

    app = Flask("bench_upload")

    @app.post("/bare")
    def bare() -> str:
        fd, name = tempfile.mkstemp(dir=workdir)
        with os.fdopen(fd, "wb") as out:
            while chunk := request.stream.read(CHUNK):
                out.write(chunk)
        os.unlink(name)
        return "ok"

    @app.post("/ours")
    def ours() -> str:
        with receive_upload(
            request, max_file_bytes=25 * MB, max_total_bytes=30 * MB, tmp_dir=workdir
        ) as received:
            return received.files[0].sha256

    server = make_server("127.0.0.1", port, app, threaded=False)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


def serve_portal(port: int, workdir: Path, ready_file: Path) -> None:
    """The portal app on 127.0.0.1:port with one member signed in; writes the cookie, the
    CSRF token and the upload URL to `ready_file` (JSON) once it listens."""
    import json
    import shutil

    from werkzeug.serving import make_server

    from client_portal_rp import create_app
    from client_portal_rp.companies import add_company, create_firm
    from client_portal_rp.extensions import db
    from client_portal_rp.models import Membership, Module, PortalUser, Role
    from relying_party.views import SESSION_KEY, relying_party

    root = workdir / "portal"
    root.mkdir(exist_ok=True)
    app = create_app(
        {
            "TESTING": False,
            "SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(root / "portal.sqlite"),
            "PORTAL_DATABASE_URL": "sqlite://",  # login records in memory (one process)
            "PORTAL_IDP_ISSUER": "https://sesame.example",
            "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
            "PORTAL_CLIENT_ID": "bench",
            "PORTAL_CLIENT_SECRET": "bench-secret-0123456789abcdef0123456789",
            "PORTAL_STORAGE_PATH": str(root / "documents"),
            "PORTAL_BACKGROUND_INLINE": True,
            "SERVER_NAME": None,
        }
    )
    documents = root / "documents"

    def forget_blobs() -> None:
        for entry in documents.iterdir() if documents.exists() else ():
            if entry.name != ".incoming":
                shutil.rmtree(entry, ignore_errors=True)

    @app.after_request
    def forget_after_sending(response: Any) -> Any:
        # Every upload stores its bytes for real (the same file must not find them there);
        # removed once the answer is sent, outside the measured time.
        response.call_on_close(forget_blobs)
        return response

    with app.app_context():
        db.create_all()
        firm = create_firm("Cabinet Bench")
        company = add_company(firm, siren="732829320", name="Bench SARL")
        user = PortalUser(subject="bench-sub", email="bench@example.test", name="Bench")
        db.session.add(user)
        db.session.flush()
        membership = Membership(company_id=company.id, user_id=user.id, role=Role.USER.value)
        membership.set_modules({Module.DEPOSIT})
        db.session.add(membership)
        db.session.commit()
        company_id = company.public_id
        login_id = relying_party().store.start(
            subject=user.subject,
            sid="sid-bench",
            claims={
                "sub": user.subject,
                "email": user.email,
                "email_verified": True,
                "name": user.name,
                "acr": "urn:sesame:acr:pwd",
                "amr": ["pwd"],
            },
            id_token="x.y.z",
            hours=1,
        )
    client = app.test_client()
    with client.session_transaction() as session:
        session[SESSION_KEY] = login_id
    path = f"/entreprises/{company_id}/depots"
    page = client.get(path).get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    token = page[page.index(marker) + len(marker) :].split('"', 1)[0]
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None

    server = make_server("127.0.0.1", port, app, threaded=False)
    ready_file.write_text(
        json.dumps(
            {
                "url": f"http://127.0.0.1:{port}{path}",
                "cookie": {cookie.key: cookie.value},
                "csrf_token": token,
            }
        )
    )
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


def start_portal(workdir: Path) -> tuple[subprocess.Popen[bytes], dict[str, object]]:
    import json

    port = free_port()
    ready = workdir / "portal-ready.json"
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "portal",
            "--port",
            str(port),
            "--dir",
            str(workdir),
            "--ready",
            str(ready),
        ]
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ready.exists() and ready.stat().st_size:
            try:
                return process, json.loads(ready.read_text())
            except ValueError:
                pass
        if process.poll() is not None:
            raise SystemExit("the portal server stopped")
        time.sleep(0.1)
    process.kill()
    raise SystemExit("the portal server did not start")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(kind: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port), "--dir", str(workdir)]
    )
    url = f"http://127.0.0.1:{port}/{kind}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the {kind} server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--size-mb", type=int, default=25)
    parser.add_argument(
        "--rate-mb",
        type=float,
        default=None,
        help="pace the client at this many MB/s (a network slower than loopback)",
    )
    parser.add_argument(
        "--only",
        choices=["portal"],
        help="measure only the portal's deposit view (and the bare endpoint to compare)",
    )
    parser.add_argument("--serve", choices=["bare", "ours", "portal"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ready", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "portal":
        serve_portal(args.port, args.dir, args.ready)
        return
    if args.serve:
        serve(args.serve, args.port, args.dir)
        return

    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        workdir = Path(tmp)
        sample = workdir / "releve.pdf"
        with open(sample, "wb") as out:
            out.write(b"%PDF-1.7\n")
            remaining = args.size_mb * MB - 9
            while remaining > 0:
                out.write(os.urandom(min(remaining, MB)))
                remaining -= MB
        figures: dict[str, Figures] = {}
        rate = args.rate_mb * MB if args.rate_mb else None
        kinds = ("bare",) if args.only == "portal" else ("bare", "ours")
        for kind in kinds:
            process, url = start_server(kind, workdir)
            try:
                figures[kind] = measure(url, sample, args.runs, server_pid=process.pid, rate=rate)
            finally:
                process.terminate()
                process.wait(timeout=10)
        process, portal = start_portal(workdir)
        try:
            figures["portal"] = measure(
                str(portal["url"]),
                sample,
                args.runs,
                fields={"csrf_token": str(portal["csrf_token"]), "type": "achats"},
                cookies=portal["cookie"],
                server_pid=process.pid,
                rate=rate,
            )
        finally:
            process.terminate()
            process.wait(timeout=10)
        deposit_page = urlsplit(str(portal["url"])).path
        wrong = [r for r in figures["portal"].results if r.location != deposit_page]
        if wrong:  # a redirect to /login would also be a 3xx: every upload must be stored
            raise SystemExit(f"the portal did not take the uploads: {wrong[0]}")
        incoming = workdir / "portal" / "documents" / ".incoming"
        leftovers = [p.name for p in workdir.iterdir() if p.is_file() and p != sample]
        leftovers += [p.name for p in incoming.iterdir()] if incoming.exists() else []
        leftovers = [name for name in leftovers if name != "portal-ready.json"]
    paced = f", client paced at {args.rate_mb:g} MB/s" if args.rate_mb else ""
    print(f"{args.size_mb} MB file, {args.runs} uploads each over loopback HTTP{paced} (median):")
    labels = (
        ("bare", "bare body copy"),
        ("ours", "receive_upload"),
        ("portal", "portal deposit view"),
    )
    for kind, label in labels:
        if kind not in figures:
            continue
        f = figures[kind]
        growth = f"{f.peak_rss_growth / MB:.1f} MB" if f.peak_rss_growth is not None else "?"
        print(f"  {label:20} {f.median_mb_per_s:7.1f} MB/s   peak RSS growth {growth}")
    bare = figures["bare"].median_mb_per_s
    if "ours" in figures:
        print(f"  ratio receive_upload/bare  {figures['ours'].median_mb_per_s / bare:.2f}")
    print(
        f"  ratio portal/bare          {figures['portal'].median_mb_per_s / bare:.2f}"
        " (target >= 0.8; peak RSS growth target <= 10 MB)"
    )
    print(f"  temporary files left: {len(leftovers)}")


if __name__ == "__main__":
    main()
