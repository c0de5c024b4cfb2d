"""Protocol endpoints per second on one core, side by side with node-oidc-provider.

    .venv/bin/python bench/token.py            (~6 minutes; PostgreSQL, Redis, wrk and node)
    .venv/bin/python bench/token.py --profile  (and a cProfile of the token endpoint)

The figures of ADR 0021 (targets per core): client_credentials >= 1,000/s, refresh with
rotation >= the peer's refresh in the same run, userinfo >= 2,000/s, JWKS and discovery
>= 3,000/s. This script:

- creates a scratch PostgreSQL database `sesame_bench_token` (dropped at the end), migrates it
  with `idp db upgrade`, registers one confidential client with `idp clients add --json`
  (client_secret_basic; authorization_code, refresh_token, client_credentials; scopes openid
  profile email offline_access and `delegations`, the one scope that does not speak for a
  user, as client_credentials' scope) and one active account;
- starts `gunicorn -c deploy/gunicorn.conf.py --workers 1 'idp:create_app()'` pinned to CPU 0
  (SESAME_ENV=development, IDP_ISSUER=http://127.0.0.1:PORT; throttles in Redis db 14, the
  per-IP ones raised through the environment: every client is 127.0.0.1); tries sync and
  gthread workers for a few seconds each and keeps the faster;
- in this process (same environment, the app's own code), runs one code flow with the Flask
  test client (login, /authorize, /token) for the access token of userinfo and introspection,
  and pre-mints the refresh tokens: one grant per token, copied from the code flow's grant,
  each refresh token stored as `idp.oidc.tokens` stores it (SHA-256 digest, 30 days). Rotation
  lets a refresh token work once, so wrk's Lua script takes the next token of a file for each
  request (a fresh file per run);
- starts the peer (node-oidc-provider 9, /work/shared/peers/oidc-provider, copied to
  /tmp/peer) pinned to CPU 0 too; its refresh token is reused (no rotation: its figure is
  without rotation), on a fresh peer process per refresh run (its in-memory grant index slows
  as it grows);
- runs `taskset -c 1 wrk -t1 -c16 -d10s` per flow, 3 runs each alternating ours and the peer's,
  and prints the medians, the ratio and the target; wrk's non-2xx/3xx count must be 0.

See bench/README.md for the figures and where the time goes.
"""

from __future__ import annotations

import sys

# This file shares its name with the standard library's `token` (imported by inspect,
# dataclasses, tokenize...): bench/ goes to the end of the path so that it does not shadow it.
sys.path.append(sys.path.pop(0))

import argparse
import base64
import contextlib
import cProfile
import importlib.metadata
import json
import os
import platform
import pstats
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from _common import BENCH_PASSWORD, BIN, Argon2Settings, Server, csrf_token, free_port

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
POSTGRES_DB = "sesame_bench_token"
REDIS_URL = "redis://127.0.0.1:6379/14"
PEER_SOURCE = Path("/work/shared/peers/oidc-provider")
PEER_CLIENT = ("bench", "bench-secret-0123456789abcdef0123456789abcdef")
PEER_REDIRECT_URI = "http://127.0.0.1:9/cb"
REDIRECT_URI = "http://127.0.0.1:9/cb"  # loopback http: allowed outside production
CLIENT_CREDENTIALS_SCOPE = "delegations"  # the only supported scope not speaking for a user
USER_SCOPE = "openid profile email offline_access"
SERVER_CPU, LOAD_CPU = 0, 1

# Every client is 127.0.0.1: per-IP throttles would stop the load, not a guesser.
NO_IP_LIMITS = {
    "LOGIN_FAILURES_PER_IP": "1000000 per minute",
    "SIGNUPS_PER_IP": "1000000 per minute",
    "REJECTED_FORMS_PER_IP": "1000000 per minute",
    "MAIL_PORT": "9",
}

# wrk scripts. `init` reads the token file given after `--` (refresh: one token per request).
LUA_FIXED = """
wrk.method = "{method}"
wrk.body = "{body}"
{headers}
"""
LUA_REFRESH = """
{headers}
local tokens = {{}}
local next_token = 0
init = function(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
end
request = function()
  next_token = next_token + 1
  local value = tokens[next_token] or "exhausted"
  return wrk.format("POST", "{path}", nil, "grant_type=refresh_token&refresh_token=" .. value)
end
"""
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Target:
    text: str
    minimum: float | None  # None: the peer's figure

    def met(self, ours: float, peer: float | None) -> bool | None:
        floor = self.minimum if self.minimum is not None else peer
        return None if floor is None else ours >= floor


@dataclass
class Flow:
    """One endpoint as wrk calls it, on our server and on the peer."""

    name: str
    target: Target
    ours: Request
    peer: Request | None
    ours_rates: list[float] = field(default_factory=list)
    peer_rates: list[float] = field(default_factory=list)
    ours_bad: int = 0  # non-2xx/3xx + socket errors over all runs
    peer_bad: int = 0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    token_files: list[Path] | None = None  # refresh: one file of fresh tokens per run

    def script(self, directory: Path, name: str) -> Path:
        headers = "\n".join(
            f'wrk.headers["{key}"] = "{value}"' for key, value in self.headers.items()
        )
        if self.token_files is not None:
            text = LUA_REFRESH.format(headers=headers, path=self.path)
        else:
            text = LUA_FIXED.format(method=self.method, body=self.body, headers=headers)
        path = directory / f"{name}.lua"
        path.write_text(text)
        return path


@dataclass
class WrkResult:
    rate: float
    requests: int
    non_2xx: int
    socket_errors: int
    latency: str


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}", "Content-Type": FORM}


def wrk(
    base_url: str, request: Request, script: Path, args: argparse.Namespace, run: int = 0
) -> WrkResult:
    command = ["taskset", "-c", str(LOAD_CPU), "wrk", "-t1", f"-c{args.connections}"]
    command += [f"-d{args.duration}s", "-s", str(script), base_url + request.path]
    if request.token_files is not None:
        command += ["--", str(request.token_files[run])]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=args.duration + 60
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    latency = re.search(r"Latency\s+(\S+)", out)
    return WrkResult(
        rate,
        requests,
        int(non_2xx.group(1)) if non_2xx else 0,
        sum(int(n) for n in sockets.groups()) if sockets else 0,
        latency.group(1) if latency else "?",
    )


def check_once(base_url: str, request: Request, expect: str) -> None:
    """One request with urllib before the load: a 200 whose body matches `expect`."""
    body = request.body.encode() if request.method == "POST" else None
    if request.token_files is not None:
        token = request.token_files[-1].read_text().split("\n", 1)[0]
        body = f"grant_type=refresh_token&refresh_token={token}".encode()
    sent = urllib.request.Request(
        base_url + request.path, data=body, headers=request.headers, method=request.method
    )
    with urllib.request.urlopen(sent, timeout=10) as response:
        text = response.read().decode()
        if response.status != 200 or not re.search(expect, text):
            raise RuntimeError(f"{request.path}: {response.status} {text[:300]}")


# --- our server -----------------------------------------------------------------------------


class PostgresServer(Server):
    """The bench server on the scratch PostgreSQL database."""

    postgres_url: str = ""

    @property
    def database_url(self) -> str:
        return self.postgres_url

    def pin(self, cpu: int) -> None:
        """`taskset -c cpu` for the master and its workers (and the workers it forks later)."""
        assert self.process is not None
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                pid = int(stat.parent.name)
                if self.process.pid in (pid, int(fields[1])):
                    os.sched_setaffinity(pid, {cpu})


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{POSTGRES_DB}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{POSTGRES_DB}"'))
    try:
        yield make_url(admin_url).set(database=POSTGRES_DB).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{POSTGRES_DB}" WITH (FORCE)'))
        admin.dispose()


def register_client(server: Server) -> tuple[str, str]:
    """`idp clients add --json`, as an administrator would: (client_id, secret)."""
    command = [str(BIN / "idp"), "clients", "add", "--name", "Banc d'essai", "--first-party"]
    command += ["--redirect-uri", REDIRECT_URI, "--json"]
    for grant_type in ("authorization_code", "refresh_token", "client_credentials"):
        command += ["--grant-type", grant_type]
    for scope in [*USER_SCOPE.split(), CLIENT_CREDENTIALS_SCOPE]:
        command += ["--scope", scope]
    done = subprocess.run(
        command, env=server.env(), cwd=server.workdir, capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"idp clients add: {done.stderr or done.stdout}")
    answer = json.loads(done.stdout[done.stdout.index("{") :])
    return answer["client_id"], answer["client_secret"]


class InProcess:
    """The app in this process, on the server's database and settings: the code flow, the
    pre-minted refresh tokens and the profile go through the project's own code."""

    def __init__(self, server: Server, client_id: str, secret: str) -> None:
        os.environ.update(server.env())
        from idp import create_app

        self.app = create_app()
        self.client_id, self.secret = client_id, secret
        self.headers = basic(client_id, secret)  # wrk
        self.auth = {"Authorization": self.headers["Authorization"]}  # the test client

    def code_flow(self, username: str) -> dict[str, Any]:
        """Log in, authorize (first-party: no consent), redeem the code: the /token JSON."""
        browser = self.app.test_client()
        page = browser.get("/login")
        answer = browser.post(
            "/login",
            data={
                "csrf_token": csrf_token(page.get_data(as_text=True)),
                "username": username,
                "password": BENCH_PASSWORD,
            },
        )
        assert answer.status_code == 302, answer.status_code
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": USER_SCOPE,
            "state": secrets.token_urlsafe(12),
            "nonce": secrets.token_urlsafe(12),
        }
        redirect = browser.get("/authorize", query_string=query)
        location = redirect.headers.get("Location", "")
        assert location.startswith(REDIRECT_URI), (redirect.status_code, location)
        code = parse_qs(urlsplit(location).query)["code"][0]
        redeemed = browser.post(
            "/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
            headers=self.auth,
        )
        assert redeemed.status_code == 200, redeemed.get_data(as_text=True)
        return dict(redeemed.get_json())

    def mint_refresh_tokens(self, like: str, count: int) -> list[str]:
        """`count` refresh tokens, each of its own grant copied from the grant of `like` (a
        refresh token of a real code flow), stored as `idp.oidc.tokens.save_token` stores
        them. Bulk INSERTs: ~1 s per 10,000."""
        from datetime import timedelta

        from sqlalchemy import insert

        from idp.config import settings
        from idp.database import new_public_id, utcnow
        from idp.extensions import db
        from idp.oidc import tokens
        from idp.oidc.models import Grant, RefreshToken

        with self.app.app_context():
            credential = tokens.find_refresh_token(db.session, like)
            assert credential is not None
            model = credential.grant
            now = utcnow()
            grants = [
                {
                    "public_id": new_public_id(),
                    "client_id": model.client_id,
                    "user_id": model.user_id,
                    "session_public_id": model.session_public_id,
                    "scope": model.scope,
                    "auth_time": model.auth_time,
                    "acr": model.acr,
                    "amr": model.amr,
                    "created_at": now,
                }
                for _ in range(count)
            ]
            grant_ids = db.session.scalars(
                insert(Grant).returning(Grant.id, sort_by_parameter_order=True), grants
            ).all()
            values = [tokens.AccessTokenGenerator.new_refresh_token() for _ in range(count)]
            expires = now + timedelta(seconds=settings().oidc.refresh_token_lifetime)
            db.session.execute(
                insert(RefreshToken),
                [
                    {
                        "token_digest": tokens.token_digest(value),
                        "grant_id": grant_id,
                        "scope": credential.token.scope,
                        "created_at": now,
                        "expires_at": expires,
                    }
                    for value, grant_id in zip(values, grant_ids, strict=True)
                ],
            )
            db.session.commit()
        return values

    def refresh_state(self) -> dict[str, int]:
        from sqlalchemy import func, select

        from idp.extensions import db
        from idp.oidc.models import Grant, RefreshToken

        with self.app.app_context():
            used = db.session.scalar(select(func.count()).where(RefreshToken.used_at.is_not(None)))
            revoked = db.session.scalar(select(func.count()).where(Grant.revoked_at.is_not(None)))
            return {"refresh tokens used": int(used or 0), "grants revoked": int(revoked or 0)}


# --- the peer -------------------------------------------------------------------------------


class Peer:
    """node-oidc-provider (server.mjs) on CPU 0; `mint()` drives one code flow (mint.mjs)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def install(self) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in ("server.mjs", "mint.mjs"):
            shutil.copy(PEER_SOURCE / name, self.directory / name)
        if not (self.directory / "node_modules" / "oidc-provider").is_dir():
            subprocess.run(
                ["npm", "init", "-y"], cwd=self.directory, check=True, capture_output=True
            )
            subprocess.run(
                ["npm", "install", "-q", "oidc-provider@9"],
                cwd=self.directory,
                check=True,
                capture_output=True,
                timeout=300,
            )
        package = self.directory / "node_modules" / "oidc-provider" / "package.json"
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
        return f"oidc-provider {json.loads(package.read_text())['version']}, node {node.strip()}"

    def start(self) -> None:
        self.stop()
        self.process = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CPU), "node", "server.mjs"],
            cwd=self.directory,
            env={**os.environ, "PORT": str(self.port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                url = self.base_url + "/.well-known/openid-configuration"
                with urllib.request.urlopen(url, timeout=2):
                    return
            time.sleep(0.2)
        raise RuntimeError("the peer did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def mint(self) -> dict[str, Any]:
        done = subprocess.run(
            ["node", "mint.mjs", self.base_url],
            cwd=self.directory,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return dict(json.loads(done.stdout))


# --- flows ------------------------------------------------------------------------------------


def flows(ours: InProcess, ours_tokens: dict[str, Any], peer_tokens: dict[str, Any]) -> list[Flow]:
    peer_basic = basic(*PEER_CLIENT)
    bearer = {"Authorization": f"Bearer {ours_tokens['access_token']}"}
    peer_bearer = {"Authorization": f"Bearer {peer_tokens.get('access_token')}"}
    return [
        Flow(
            "client_credentials",
            Target(">= 1,000/s", 1000),
            Request(
                "POST",
                "/token",
                ours.headers,
                f"grant_type=client_credentials&scope={CLIENT_CREDENTIALS_SCOPE}",
            ),
            Request("POST", "/token", peer_basic, "grant_type=client_credentials"),
        ),
        Flow(
            "refresh_token",
            Target(">= peer", None),
            Request("POST", "/token", ours.headers, token_files=[]),
            Request(
                "POST",
                "/token",
                peer_basic,
                f"grant_type=refresh_token&refresh_token={peer_tokens.get('refresh_token')}",
            ),
        ),
        Flow(
            "userinfo",
            Target(">= 2,000/s", 2000),
            Request("GET", "/userinfo", bearer),
            Request("GET", "/me", peer_bearer),
        ),
        Flow(
            "introspection",
            Target("(none)", None),
            Request("POST", "/introspect", ours.headers, f"token={ours_tokens['access_token']}"),
            Request(
                "POST",
                "/token/introspection",
                peer_basic,
                f"token={peer_tokens.get('access_token')}",
            ),
        ),
        Flow("jwks", Target(">= 3,000/s", 3000), Request("GET", "/jwks"), Request("GET", "/jwks")),
        Flow(
            "discovery",
            Target(">= 3,000/s", 3000),
            Request("GET", "/.well-known/openid-configuration"),
            Request("GET", "/.well-known/openid-configuration"),
        ),
    ]


EXPECT = {
    "client_credentials": "access_token",
    "refresh_token": "refresh_token",
    "userinfo": '"sub"',
    "introspection": r'"active": ?true',
    "jwks": '"keys"',
    "discovery": '"issuer"',
}


FLOW_INDEX = {
    name: n
    for n, name in enumerate(
        ("client_credentials", "refresh_token", "userinfo", "introspection", "jwks", "discovery")
    )
}


def fresh_peer_refresh(request: Request, peer: Peer) -> None:
    """A fresh peer process and refresh token: its in-memory grant index slows as it grows,
    and its store (an LRU of 1,000 entries) forgets old tokens under load."""
    peer.start()
    token = peer.mint()["refresh_token"]
    request.body = f"grant_type=refresh_token&refresh_token={token}"


TRIAL = ("client_credentials", "userinfo")  # the worker-class trial


def measure(
    flow: Flow,
    ours: InProcess,
    server: Server,
    peer: Peer | None,
    workdir: Path,
    args: argparse.Namespace,
) -> None:
    ours_script = flow.ours.script(workdir, f"ours-{flow.name}")
    check_once(server.base_url, flow.ours, EXPECT[flow.name])
    peer_script = None
    if peer is not None and flow.peer is not None and flow.name == "refresh_token":
        fresh_peer_refresh(flow.peer, peer)
    if peer is not None and flow.name in ("userinfo", "introspection"):
        # The peer's default store is an LRU of 1,000 entries: the client_credentials runs
        # push the code flow's tokens out. A fresh code flow before each of these flows.
        flow.peer = flows(ours, {"access_token": ""}, peer.mint())[FLOW_INDEX[flow.name]].peer
    if peer is not None and flow.peer is not None:
        peer_script = flow.peer.script(workdir, f"peer-{flow.name}")
        check_once(peer.base_url, flow.peer, EXPECT[flow.name])
    for run in range(args.runs):
        result = wrk(server.base_url, flow.ours, ours_script, args, run)
        flow.ours_rates.append(result.rate)
        flow.ours_bad += result.non_2xx + result.socket_errors
        line = f"  {flow.name:<18} run {run + 1}: ours {result.rate:8.0f}/s "
        line += f"(non-2xx {result.non_2xx}, socket errors {result.socket_errors}, "
        line += f"latency avg {result.latency})"
        if peer is not None and flow.peer is not None and peer_script is not None:
            if flow.name == "refresh_token":  # a fresh process, a fresh token (see docstring)
                fresh_peer_refresh(flow.peer, peer)
                peer_script = flow.peer.script(workdir, f"peer-{flow.name}")
            other = wrk(peer.base_url, flow.peer, peer_script, args)
            flow.peer_rates.append(other.rate)
            flow.peer_bad += other.non_2xx + other.socket_errors
            line += f" | peer {other.rate:8.0f}/s (non-2xx {other.non_2xx}, "
            line += f"socket errors {other.socket_errors})"
        print(line, flush=True)


def print_table(results: list[Flow]) -> bool:
    print()
    print(
        f"{'flow':<19} {'ours req/s':>10} {'peer req/s':>10} {'ours/peer':>9}  "
        f"{'target':<11} {'result':<7} non-2xx ours/peer"
    )
    all_met = True
    for flow in results:
        ours = statistics.median(flow.ours_rates)
        peer = statistics.median(flow.peer_rates) if flow.peer_rates else None
        ratio = f"{ours / peer:9.2f}" if peer else f"{'-':>9}"
        met = flow.target.met(ours, peer)
        verdict = "-" if met is None else ("met" if met else "MISSED")
        if flow.name == "introspection":
            verdict = "-"
        elif met is False:
            all_met = False
        peer_text = f"{peer:10.0f}" if peer is not None else f"{'-':>10}"
        print(
            f"{flow.name:<19} {ours:10.0f} {peer_text} {ratio}  {flow.target.text:<11} "
            f"{verdict:<7} {flow.ours_bad}/{flow.peer_bad}"
        )
    return all_met


# --- profile ----------------------------------------------------------------------------------

PACKAGES = (
    ("idp", "/idp/"),
    ("authlib", "/authlib/"),
    ("joserfc", "/joserfc/"),
    ("cryptography", "/cryptography/"),
    ("sqlalchemy", "/sqlalchemy/"),
    ("psycopg", "/psycopg"),
    ("flask_sqlalchemy", "/flask_sqlalchemy/"),
    ("flask_limiter/limits", "/flask_limiter/"),
    ("limits", "/limits/"),
    ("redis", "/redis/"),
    ("flask_babel/babel", "babel"),
    ("flask_wtf/wtforms", "wtf"),
    ("flask", "/flask/"),
    ("werkzeug", "/werkzeug/"),
    ("json", "/json/"),
)


def package_of(filename: str) -> str:
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C: hashing, sockets, json...)"
    for name, marker in PACKAGES:
        if marker in filename:
            return name
    return "other Python (stdlib...)"


def wsgi_environ(
    method: str, path: str, headers: dict[str, str], form: dict[str, str] | None
) -> dict[str, Any]:
    """The WSGI environ of one request, built before the profile starts."""
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(
        path=path,
        method=method,
        base_url="http://127.0.0.1",
        headers=headers,
        data=form,
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    try:
        return dict(builder.get_environ())
    finally:
        builder.close()


def call(app: Any, environ: dict[str, Any]) -> str:
    """One request through the WSGI app, as gunicorn calls it; its status line."""
    status: list[str] = []

    def start_response(line: str, headers: Any, exc_info: Any = None) -> None:
        status.append(line)

    body = app(environ, start_response)
    try:
        for _chunk in body:
            pass
    finally:
        if hasattr(body, "close"):
            body.close()
    return status[0]


def profile(ours: InProcess, refresh_tokens: list[str], access_token: str, count: int) -> None:
    """cProfile of `count` requests per endpoint through the WSGI app in this process (the
    environs are built beforehand: no HTTP server, no socket, no test client in the figures;
    PostgreSQL and Redis as served). The token endpoint, then /userinfo and /jwks."""
    cases: dict[str, Any] = {
        "client_credentials": lambda n: wsgi_environ(
            "POST",
            "/token",
            ours.auth,
            {"grant_type": "client_credentials", "scope": CLIENT_CREDENTIALS_SCOPE},
        ),
        "refresh_token": lambda n: wsgi_environ(
            "POST",
            "/token",
            ours.auth,
            {"grant_type": "refresh_token", "refresh_token": refresh_tokens[n]},
        ),
        "userinfo": lambda n: wsgi_environ(
            "GET", "/userinfo", {"Authorization": f"Bearer {access_token}"}, None
        ),
        "jwks": lambda n: wsgi_environ("GET", "/jwks", {}, None),
    }
    for name, environ_of in cases.items():

        def environs_of(start: int, number: int, environ_of: Any = environ_of) -> list[Any]:
            return [environ_of(n) for n in range(start, start + number)]

        environs = environs_of(0, count + 50)
        for environ in environs[count:]:  # warm caches, the connection pool, the keys
            call(ours.app, environ)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        statuses = [call(ours.app, environ) for environ in environs[:count]]
        profiler.disable()
        elapsed = time.perf_counter() - started
        # Again without the profiler, with new environs (a body is read once, a refresh token
        # works once).
        again = environs_of(count + 50, count)
        unprofiled = time.perf_counter()
        statuses += [call(ours.app, environ) for environ in again]
        unprofiled = (time.perf_counter() - unprofiled) / count
        assert set(statuses) == {"200 OK"}, set(statuses)
        stats = pstats.Stats(profiler)
        entries = stats.stats  # type: ignore[attr-defined]
        per_package: dict[str, float] = defaultdict(float)
        for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in entries.items():
            per_package[package_of(filename)] += tottime
        total = sum(per_package.values())
        print(
            f"\n== profile: {name}, {count} requests through the WSGI app: "
            f"{1e6 * elapsed / count:.0f} µs per request under the profiler"
            + f", {1e6 * unprofiled:.0f} µs without"
            + " =="
        )
        print("own time by package (µs per request, under the profiler):")
        for package, seconds in sorted(per_package.items(), key=lambda item: -item[1]):
            if seconds / total >= 0.01:
                print(f"  {1e6 * seconds / count:7.0f}  {100 * seconds / total:4.1f} %  {package}")
        print("cumulative time of the biggest calls (µs per request, under the profiler):")
        ranked = sorted(entries.items(), key=lambda item: -item[1][3])
        for function, (_cc, calls, _tt, cumulative, _callers) in ranked[:45]:
            where = pstats.func_std_string(function).replace(str(Path(sys.prefix)), "")
            print(f"  {1e6 * cumulative / count:7.0f}  {calls / count:5.1f}x  {where[-100:]}")


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per flow (median)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--refresh-tokens", type=int, default=20000, help="fresh refresh tokens per run"
    )
    parser.add_argument(
        "--worker-class",
        default="try",
        choices=["try", "sync", "gthread"],
        help="gunicorn worker class (try: both for a few seconds, keep the faster)",
    )
    parser.add_argument("--threads", type=int, default=4, help="threads of a gthread worker")
    parser.add_argument("--flows", default="", help="comma-separated subset of the flows")
    parser.add_argument("--postgres", default=POSTGRES_ADMIN, help="admin URL (scratch DB)")
    parser.add_argument("--redis", default=REDIS_URL, help="REDIS_URL for the throttles")
    parser.add_argument("--peer-dir", type=Path, default=Path("/tmp/peer"))
    parser.add_argument("--no-peer", action="store_true", help="our figures only")
    parser.add_argument("--check", action="store_true", help="exit 2 when a target is missed")
    parser.add_argument("--profile", type=int, nargs="?", const=2000, default=0, metavar="N")
    return parser.parse_args(argv)


def start_server(server: PostgresServer, worker_class: str, threads: int) -> None:
    server.stop()
    server.worker_class = worker_class
    server.threads = threads if worker_class == "gthread" else 1
    server.start()
    server.pin(SERVER_CPU)


def pick_worker_class(server: PostgresServer, trial: list[Flow], args: argparse.Namespace) -> str:
    """4 s of each trial flow per worker class; the faster by the product of the rates."""
    quick = argparse.Namespace(**{**vars(args), "duration": 4})
    rates: dict[str, list[float]] = {}
    for worker_class in ("sync", "gthread"):
        start_server(server, worker_class, args.threads)
        rates[worker_class] = []
        for flow in trial:
            script = flow.ours.script(server.workdir, f"try-{worker_class}-{flow.name}")
            rates[worker_class].append(wrk(server.base_url, flow.ours, script, quick).rate)
    best = max(rates, key=lambda name: statistics.geometric_mean(rates[name]))
    print(
        f"worker class ({', '.join(flow.name for flow in trial)}; 4 s each): "
        + "; ".join(
            f"{name} " + ", ".join(f"{rate:.0f}/s" for rate in values)
            for name, values in rates.items()
        )
        + f" -> {best}"
    )
    return best


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like an exception: the servers stop and the scratch database is dropped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)")
        return 1
    load_start = os.getloadavg()
    print("== Sésame protocol endpoints vs node-oidc-provider, one core each ==")
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores, "
        f"{platform.machine()}, Python {platform.python_version()}, "
        f"gunicorn {importlib.metadata.version('gunicorn')}, "
        f"Authlib {importlib.metadata.version('authlib')}, "
        f"joserfc {importlib.metadata.version('joserfc')}"
    )
    print("load average at start: " + " ".join(f"{x:.2f}" for x in load_start))
    tmp = tempfile.TemporaryDirectory(prefix="sesame-bench-token-")
    workdir = Path(tmp.name)
    peer = None if args.no_peer else Peer(args.peer_dir)
    secret_key = secrets.token_urlsafe(48)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(scratch_database(args.postgres))
        server = PostgresServer(
            workdir,
            Argon2Settings(),
            workers=1,
            redis_url=args.redis,
            # One secret for the server and this process: both decrypt the signing keys.
            extra_env={
                **NO_IP_LIMITS,
                "DATABASE_URL": url,
                "SECRET_KEY": secret_key,
                "OIDC_KEY_ENCRYPTION_KEY": secrets.token_urlsafe(48),
            },
        )
        server.postgres_url = url
        stack.callback(server.stop)
        server.migrate()
        username = server.create_users(1)[0]
        client_id, secret = register_client(server)
        ours = InProcess(server, client_id, secret)
        start_server(server, "sync", 1)
        ours_tokens = ours.code_flow(username)
        token_files: list[Path] = []
        if not args.flows or "refresh_token" in args.flows.split(","):
            t0 = time.monotonic()
            for run in range(args.runs + 1):
                values = ours.mint_refresh_tokens(ours_tokens["refresh_token"], args.refresh_tokens)
                token_files.append(workdir / f"refresh-{run}.txt")
                token_files[-1].write_text("\n".join(values) + "\n")
            print(
                f"setup: {args.runs + 1} files of {args.refresh_tokens} refresh tokens minted "
                f"({time.monotonic() - t0:.0f} s; the last file's first token checks the flow)"
            )
        peer_tokens: dict[str, Any] = {}
        if peer is not None:
            print(f"peer: {peer.install()}, taskset CPU {SERVER_CPU}")
            stack.callback(peer.stop)
            peer.start()
            peer_tokens = peer.mint()
        results = flows(ours, ours_tokens, peer_tokens)
        if args.flows:
            results = [flow for flow in results if flow.name in args.flows.split(",")]
        worker_class = args.worker_class
        if worker_class == "try":
            trial = [flows(ours, ours_tokens, peer_tokens)[FLOW_INDEX[name]] for name in TRIAL]
            worker_class = pick_worker_class(server, trial, args)
        start_server(server, worker_class, args.threads)
        print(
            f"server: gunicorn 1 {worker_class} worker"
            + (f" x {args.threads} threads" if worker_class == "gthread" else "")
            + f", taskset CPU {SERVER_CPU}; PostgreSQL {POSTGRES_DB}; throttles in Redis "
            f"({args.redis}), per-IP limits raised; SESAME_ENV=development, "
            f"IDP_ISSUER={server.base_url}"
        )
        print(
            f"load: taskset -c {LOAD_CPU} wrk -t1 -c{args.connections} -d{args.duration}s, "
            f"{args.runs} runs per flow, ours then the peer's in turn"
        )
        # Fresh tokens (ours live 10 minutes); the refresh flow comes last because it
        # restarts the peer, whose in-memory store then forgets the other tokens.
        ours_tokens = ours.code_flow(username)
        if peer is not None:
            peer.start()
            peer_tokens = peer.mint()
        fresh = {flow.name: flow for flow in flows(ours, ours_tokens, peer_tokens)}
        for flow in results:
            flow.ours, flow.peer = fresh[flow.name].ours, fresh[flow.name].peer
            if flow.name == "refresh_token":
                flow.ours.token_files = token_files
        cpu_before = server.cpu_seconds()
        for flow in sorted(results, key=lambda flow: flow.name == "refresh_token"):
            measure(flow, ours, server, peer, workdir, args)
        cpu = server.cpu_seconds() - cpu_before
        all_met = print_table(results)
        if any(flow.name == "refresh_token" for flow in results):
            state = ours.refresh_state()
            print(
                "refresh, database after the runs: "
                + ", ".join(f"{k} {v}" for k, v in state.items())
            )
        print(f"gunicorn CPU over all runs: {cpu:.0f} s")
        log = server.log_counts()
        print("server log: " + ", ".join(f'"{name}" {n}' for name, n in log.items()))
        load_end = os.getloadavg()
        print("load average at end: " + " ".join(f"{x:.2f}" for x in load_end))
        if args.profile:
            server.stop()
            tokens_for_profile = ours.mint_refresh_tokens(
                ours_tokens["refresh_token"], 2 * args.profile + 50
            )
            access_token = ours.code_flow(username)["access_token"]
            profile(ours, tokens_for_profile, access_token, args.profile)
    tmp.cleanup()
    bad = sum(flow.ours_bad + flow.peer_bad for flow in results)
    if bad or any(log.values()):
        return 1
    return 2 if args.check and not all_met else 0


if __name__ == "__main__":
    sys.exit(main())
