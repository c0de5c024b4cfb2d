"""SECURITY.md 54: SQLite under several processes (WAL + busy timeout) serves a burst of
concurrent logins and signups from 4 gunicorn workers without a single "database is locked".

The server is a real gunicorn on 127.0.0.1 with a database migrated by `idp db upgrade`;
argon2 runs at its minimum cost so that requests are short and writes collide as often as
possible. bench/login.py runs the same set-up at the real cost and measures it.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from idp import create_app
from idp.accounts.models import UserStatus
from idp.accounts.services import NewAccount, register_user
from idp.config import TESTING_ARGON2
from idp.extensions import db
from tests.helpers import TEST_PASSWORD, csrf_in, free_port, service_missing

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
GUNICORN_CONF = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"
WORKERS = 4
CONCURRENCY = 16
ACCOUNTS = 20
LOGINS_OK = 120
LOGINS_BAD = 20
SIGNUPS = 40


@dataclass
class LiveServer:
    base_url: str
    database: Path
    log: Path


def _server_env(database_url: str, port: int, busy_timeout_ms: int) -> dict[str, str]:
    env = {key: os.environ[key] for key in ("PATH", "LANG") if key in os.environ}
    env.update(TESTING_ARGON2.env())
    env.update(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "multiprocess-test-secret-0123456789abcdef",
            "SESAME_ENV": "development",
            "IDP_ISSUER": f"http://127.0.0.1:{port}",
            "SQLITE_BUSY_TIMEOUT_MS": str(busy_timeout_ms),
            # every client is 127.0.0.1: per-IP throttles would turn the burst into 429s
            "LOGIN_FAILURES_PER_IP": "100000 per minute",
            "LOGIN_FAILURES_PER_ACCOUNT": "100000 per minute",
            "SIGNUPS_PER_IP": "100000 per minute",
            "MAIL_PORT": "9",
        }
    )
    return env


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated by `idp db upgrade` with ACCOUNTS active accounts, made once and
    copied by each test (the migration costs ~2 s)."""
    if not (BIN / "gunicorn").exists():
        service_missing("gunicorn is not installed in the virtualenv")
    database = tmp_path_factory.mktemp("multiprocess") / "template.sqlite"
    database_url = f"sqlite:///{database}"
    env = _server_env(database_url, 0, 15000)
    subprocess.run(
        [str(BIN / "idp"), "db", "upgrade"], env=env, check=True, capture_output=True, timeout=60
    )
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, **TESTING_ARGON2.env()})
    with app.app_context():
        for n in range(ACCOUNTS):
            register_user(
                db.session,
                NewAccount(
                    f"charge{n:02d}",
                    f"charge{n:02d}@cabinet.example",
                    "Claire",
                    "Martin",
                    TEST_PASSWORD,
                ),
                status=UserStatus.ACTIVE,
            )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    with sqlite3.connect(database) as conn:  # fold the WAL into the file before copying it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return database


def _start_server(template: Path, tmp_path: Path, busy_timeout_ms: int) -> Iterator[LiveServer]:
    database = tmp_path / "idp.sqlite"
    shutil.copyfile(template, database)
    port = free_port()
    env = _server_env(f"sqlite:///{database}", port, busy_timeout_ms)
    log = tmp_path / "gunicorn.log"
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--config",
            str(GUNICORN_CONF),
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--error-logfile",
            str(log),
            "--capture-output",
            "idp:create_app()",
        ],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, base_url, log)
        yield LiveServer(base_url, database, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _wait_until_up(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"gunicorn exited:\n{log.read_text()}"
        booted = log.exists() and log.read_text().count("Booting worker") >= WORKERS
        try:
            with urllib.request.urlopen(base_url + "/health", timeout=2) as response:
                if response.status == 200 and booted:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not start within 30 s:\n{log.read_text()}")


@pytest.fixture
def gunicorn_server(migrated_database: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """The configuration production runs: WAL and the default 15 s busy timeout."""
    yield from _start_server(migrated_database, tmp_path, busy_timeout_ms=15000)


@pytest.fixture
def gunicorn_server_without_busy_timeout(
    migrated_database: Path, tmp_path: Path
) -> Iterator[LiveServer]:
    yield from _start_server(migrated_database, tmp_path, busy_timeout_ms=0)


@dataclass(frozen=True)
class Outcome:
    kind: str  # "login", "bad-login", "signup"
    status: int
    location: str


def _form_post(base_url: str, path: str, fields: dict[str, str]) -> Outcome:
    """GET the page (CSRF token + cookie), then POST the form, as a browser does."""
    with requests.Session() as http:
        page = http.get(base_url + path, timeout=20)
        if page.status_code != 200:
            return Outcome("", page.status_code, "")
        answer = http.post(
            base_url + path,
            data={"csrf_token": csrf_in(page.text, path), **fields},
            allow_redirects=False,
            timeout=20,
        )
        return Outcome("", answer.status_code, answer.headers.get("Location", ""))


def _burst(base_url: str) -> list[Outcome]:
    """LOGINS_OK + LOGINS_BAD + SIGNUPS form submissions, CONCURRENCY at a time, interleaved."""
    jobs: list[tuple[str, str, dict[str, str]]] = []
    for n in range(max(LOGINS_OK, LOGINS_BAD, SIGNUPS)):
        if n < LOGINS_OK:
            user = f"charge{n % ACCOUNTS:02d}"
            jobs.append(("login", "/login", {"username": user, "password": TEST_PASSWORD}))
        if n < SIGNUPS:
            fields = {
                "username": f"nouveau{n:03d}",
                "given_name": "Lucie",
                "family_name": "Bernard",
                "email": f"nouveau{n:03d}@cabinet.example",
                "password": TEST_PASSWORD,
                "password_confirm": TEST_PASSWORD,
            }
            jobs.append(("signup", "/signup/autre", fields))
        if n < LOGINS_BAD:
            user = f"charge{n % ACCOUNTS:02d}"
            jobs.append(("bad-login", "/login", {"username": user, "password": "pas le bon"}))
    start = threading.Barrier(CONCURRENCY)

    def run(job: tuple[str, str, dict[str, str]], index: int) -> Outcome:
        if index < CONCURRENCY:  # the first wave starts together
            start.wait(timeout=20)
        kind, path, fields = job
        outcome = _form_post(base_url, path, fields)
        return Outcome(kind, outcome.status, outcome.location)

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        futures = [pool.submit(run, job, i) for i, job in enumerate(jobs)]
        return [future.result(timeout=60) for future in futures]


def _count(database: Path, query: str) -> int:
    with sqlite3.connect(database) as conn:
        return int(conn.execute(query).fetchone()[0])


def test_sqlite_multiprocess_burst_has_no_5xx_and_no_locked_database(
    gunicorn_server: LiveServer,
) -> None:
    outcomes = _burst(gunicorn_server.base_url)

    statuses = [o.status for o in outcomes]
    assert [s for s in statuses if s >= 500] == []
    logins = [o for o in outcomes if o.kind == "login"]
    bad_logins = [o for o in outcomes if o.kind == "bad-login"]
    signups = [o for o in outcomes if o.kind == "signup"]
    assert all(o.status == 302 and o.location.endswith("/account") for o in logins), logins
    assert all(o.status == 200 for o in bad_logins), bad_logins
    assert all(o.status == 302 and o.location.endswith("/signup/done") for o in signups), signups

    log = gunicorn_server.log.read_text()
    assert "database is locked" not in log
    assert "unhandled error" not in log and "Traceback" not in log
    assert log.count("Booting worker") == WORKERS  # no worker died and was replaced

    database = gunicorn_server.database
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert _count(database, "SELECT count(*) FROM user_sessions") == LOGINS_OK
    assert _count(database, "SELECT count(*) FROM users") == ACCOUNTS + SIGNUPS
    assert _count(database, "SELECT count(*) FROM users WHERE status = 'pending'") == SIGNUPS
    assert _count(database, "SELECT count(*) FROM mail_outbox") == SIGNUPS
    events = "SELECT count(*) FROM audit_events WHERE event_type = '{}'"
    assert _count(database, events.format("login_succeeded")) == LOGINS_OK
    assert _count(database, events.format("login_failed")) == LOGINS_BAD
    assert _count(database, events.format("signup")) == ACCOUNTS + SIGNUPS


def test_sqlite_multiprocess_burst_without_busy_timeout_hits_locked_database(
    gunicorn_server_without_busy_timeout: LiveServer,
) -> None:
    """The same burst really makes 4 processes collide: without the busy timeout SQLite
    answers "database is locked" at once, and the test above would fail."""
    outcomes = _burst(gunicorn_server_without_busy_timeout.base_url)

    assert any(o.status >= 500 for o in outcomes)
    log = gunicorn_server_without_busy_timeout.log.read_text()
    assert "database is locked" in log
    # a failed login left no session row behind: the transaction was rolled back whole
    database = gunicorn_server_without_busy_timeout.database
    logins_ok = sum(1 for o in outcomes if o.kind == "login" and o.status == 302)
    assert _count(database, "SELECT count(*) FROM user_sessions") == logins_ok < LOGINS_OK
