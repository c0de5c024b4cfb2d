"""Plumbing shared by the benchmarks: a throw-away IdP served by gunicorn on 127.0.0.1.

Everything lives in a temporary directory (SQLite database, server log) and every wait is
bounded, so a benchmark always stops by itself and leaves nothing running.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from idp.config import Argon2Parameters

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GUNICORN_CONF = REPO / "deploy" / "gunicorn.conf.py"
BENCH_PASSWORD = "cheval agrafe batterie correcte"

CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


# One representation of the argon2 cost: the app's own (idp.config, ADR 0009).
Argon2Settings = Argon2Parameters


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A gunicorn serving `idp:create_app()` on a migrated SQLite database in `workdir`."""

    workdir: Path
    argon2: Argon2Settings
    workers: int = 4
    worker_class: str = "sync"
    threads: int = 1
    redis_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.workdir / "idp.sqlite"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database_path}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "gunicorn.log"

    def env(self) -> dict[str, str]:
        """The server's environment: nothing inherited but PATH and the locale."""
        env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL") if key in os.environ}
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "SECRET_KEY": secrets.token_urlsafe(48),
                "SESAME_ENV": "development",
                "IDP_ISSUER": self.base_url,
                # Every client is 127.0.0.1: per-IP throttles would stop the load, not a guesser.
                "LOGIN_FAILURES_PER_IP": "1000000 per minute",
                "SIGNUPS_PER_IP": "1000000 per minute",
                "MAIL_PORT": "9",  # discard: nothing is mailed by an active account's login
                "PYTHONUNBUFFERED": "1",
                **self.argon2.env(),
            }
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
            env["RATELIMIT_KEY_PREFIX"] = f"sesame-bench-{os.getpid()}-{self.port}"
        env.update(self.extra_env)
        return env

    def migrate(self) -> None:
        """`idp db upgrade`: the schema as production gets it (Alembic, not create_all)."""
        subprocess.run(
            [str(BIN / "idp"), "db", "upgrade"],
            env=self.env(),
            cwd=self.workdir,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def create_users(self, count: int, password: str = BENCH_PASSWORD) -> list[str]:
        """Active accounts `bench0000`..., created in one process (one app, one commit)."""
        code = (
            "import sys\n"
            "from idp import create_app\n"
            "from idp.accounts.models import UserStatus\n"
            "from idp.accounts.services import NewAccount, register_user\n"
            "from idp.extensions import db\n"
            "app = create_app()\n"
            "with app.app_context():\n"
            "    for n in range(int(sys.argv[1])):\n"
            "        register_user(db.session, NewAccount(f'bench{n:04d}',\n"
            "            f'bench{n:04d}@cabinet.example', 'Banc', 'Essai', sys.argv[2]),\n"
            "            status=UserStatus.ACTIVE)\n"
            "    db.session.commit()\n"
        )
        subprocess.run(
            [sys.executable, "-c", code, str(count), password],
            env=self.env(),
            cwd=self.workdir,
            check=True,
            capture_output=True,
            timeout=300,
        )
        return [f"bench{n:04d}" for n in range(count)]

    def start(self, timeout: float = 60.0) -> None:
        """Start gunicorn and wait until every worker answers /health (bounded)."""
        command = [
            str(BIN / "gunicorn"),
            "--config",
            str(GUNICORN_CONF),
            "--workers",
            str(self.workers),
            "--worker-class",
            self.worker_class,
            "--threads",
            str(self.threads),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--error-logfile",
            str(self.log_path),
            "--capture-output",
            "idp:create_app()",
        ]
        self.process = subprocess.Popen(
            command,
            env=self.env(),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start-up; see {self.log_path}")
            if self._healthy() and self.booted_workers() >= self.workers:
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s; see {self.log_path}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def booted_workers(self) -> int:
        return self.log_text().count("Booting worker with pid")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (graceful), then SIGKILL of the process group if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the gunicorn master and its workers."""
        if self.process is None:
            return 0.0
        master = self.process.pid
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            pid, ppid = int(stat.parent.name), int(fields[1])
            if master in (pid, ppid):
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_counts(self) -> dict[str, int]:
        """What the server log says went wrong (docs/security.md 54 and 57)."""
        text = self.log_text()
        return {
            "database is locked": text.count("database is locked"),
            "unhandled error": text.count("unhandled error"),
            "Traceback": text.count("Traceback"),
            "WORKER TIMEOUT": text.count("WORKER TIMEOUT"),
        }


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        server.start()
        yield server
    finally:
        server.stop()


def csrf_token(page: str) -> str:
    match = CSRF_FIELD.search(page)
    if match is None:
        raise ValueError("no csrf_token field on the page")
    return match.group(1)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (`share` 0.95 for p95)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def throwaway_postgres(url: str, prefix: str) -> tuple[str, str]:
    """A new database on the server of `url` (so a bench never touches that database's
    tables): its URL and its name."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False), name


def drop_postgres(url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def portal_config(database_url: str, port: int, workdir: Path) -> dict[str, object]:
    """A portal (client_portal_rp:create_app) for a bench on 127.0.0.1:port: its database,
    login records in memory (one process), files under `workdir`."""
    return {
        "TESTING": False,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "PORTAL_DATABASE_URL": "sqlite://",
        "PORTAL_IDP_ISSUER": "https://sesame.example",
        "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
        "PORTAL_CLIENT_ID": "bench",
        "PORTAL_CLIENT_SECRET": "bench-secret-0123456789abcdef0123456789",
        "PORTAL_STORAGE_PATH": str(workdir / "documents"),
        "PORTAL_BACKGROUND_INLINE": True,
        "SERVER_NAME": None,
    }


def portal_login_cookie(app: object, user: object, *, advanced: bool) -> str:
    """The portal's session cookie of a login record for `user`, at the MFA level
    ("sécurité avancée") or the password level, as tests/client_portal_rp/conftest.py
    `sign_in` makes it (inside an app context)."""
    from relying_party.logins import ACR_ADVANCED
    from relying_party.views import SESSION_KEY, relying_party

    claims = {
        "sub": user.subject,  # type: ignore[attr-defined]
        "email": user.email,  # type: ignore[attr-defined]
        "email_verified": True,
        "name": user.name,  # type: ignore[attr-defined]
        "acr": ACR_ADVANCED if advanced else "urn:sesame:acr:pwd",
        "amr": ["pwd", "otp", "mfa"] if advanced else ["pwd"],
    }
    login_id = relying_party().store.start(
        subject=user.subject,  # type: ignore[attr-defined]
        sid="sid-bench",
        claims=claims,
        id_token="x.y.z",
        hours=1,
    )
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return f"{app.config['SESSION_COOKIE_NAME']}={serializer.dumps({SESSION_KEY: login_id})}"  # type: ignore[attr-defined]


def wait_ready(process: subprocess.Popen[bytes], ready_file: Path, seconds: float) -> str:
    """Wait for a bench server child to write `ready_file`; its text. Exits if it dies."""
    deadline = time.monotonic() + seconds
    while not ready_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the portal server did not start")
        time.sleep(0.1)
    return ready_file.read_text()
