"""docs/security.md 56: two IdP processes behind one address share codes, token families and
replay detection through the database (PostgreSQL with TEST_DATABASE_URL, else one SQLite
file).

Two real gunicorn servers of `idp:create_app()` run on one database with the same settings
(one issuer, one secret); a relying party talks to them over HTTP as a load balancer would
send it: a code issued by one is redeemed on the other, and its second redemption on the
first fails and revokes what the first redemption minted; a refresh token rotated on one is
recognised as reused on the other; two processes refreshing one token at the same moment
issue tokens once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from idp.config import TESTING_ARGON2
from idp.extensions import db
from tests.factories import create_user
from tests.helpers import TEST_PASSWORD, build_app, csrf_in, free_port, service_missing
from tests.idp.oidc.helpers import (
    RegisteredClient,
    basic_authorization,
    pkce_pair,
    register_client,
)

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
ISSUER = "http://idp.test"  # one address in front of both processes


@dataclass(frozen=True)
class Server:
    url: str
    log: Path


@dataclass(frozen=True)
class Deployment:
    first: Server
    second: Server
    rp: RegisteredClient


def _env(database_url: str) -> dict[str, str]:
    env = {key: os.environ[key] for key in ("PATH", "LANG", "REDIS_URL") if key in os.environ}
    env.update(TESTING_ARGON2.env())
    env.update(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "two-processes-test-secret-0123456789abcdef",
            "SESAME_ENV": "development",
            "IDP_ISSUER": ISSUER,
            "MAIL_PORT": "9",
            "RATELIMIT_KEY_PREFIX": f"sesame-processes-{os.getpid()}",
        }
    )
    return env


def _start(database_url: str, tmp_path: Path, name: str) -> tuple[subprocess.Popen[bytes], Server]:
    port = free_port()
    log = tmp_path / f"{name}.log"
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--workers",
            "1",
            "--threads",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "--error-logfile",
            str(log),
            "--capture-output",
            "idp:create_app()",
        ],
        env=_env(database_url),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return process, Server(f"http://127.0.0.1:{port}", log)


def _wait_until_up(process: subprocess.Popen[bytes], server: Server) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"gunicorn exited:\n{server.log.read_text()}"
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not start within 30 s:\n{server.log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture
def deployment(own_database_url: str, tmp_path: Path) -> Iterator[Deployment]:
    if not (BIN / "gunicorn").exists():
        service_missing("gunicorn is not installed in the virtualenv")
    app = build_app(own_database_url, schema=True)
    with app.app_context():  # the signing keys: made by whichever server needs them first
        rp = register_client(name="Site partenaire")
        create_user("jean.dupont")
        db.session.remove()
        db.engine.dispose()
    started = [_start(own_database_url, tmp_path, name) for name in ("first", "second")]
    try:
        for process, server in started:
            _wait_until_up(process, server)
        yield Deployment(started[0][1], started[1][1], rp)
    finally:
        for process, _ in started:
            _stop(process)


# --- a relying party and a browser, over HTTP -----------------------------------------------


def _log_in(browser: requests.Session, server: Server) -> None:
    page = browser.get(server.url + "/login", timeout=20)
    answer = browser.post(
        server.url + "/login",
        data={
            "csrf_token": csrf_in(page.text, "/login"),
            "username": "jean.dupont",
            "password": TEST_PASSWORD,
        },
        allow_redirects=False,
        timeout=20,
    )
    assert answer.status_code == 302, answer.text[:2000]


def _code(browser: requests.Session, server: Server, rp: RegisteredClient) -> tuple[str, str]:
    """(code, PKCE verifier) of an authorization request answered by `server`."""
    verifier, challenge = pkce_pair()
    answer = browser.get(
        server.url + "/authorize",
        params={
            "response_type": "code",
            "client_id": rp.client_id,
            "redirect_uri": rp.redirect_uri,
            "scope": "openid profile email",
            "state": "st",
            "nonce": "n",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=20,
    )
    assert answer.status_code in (302, 303), answer.text[:2000]
    location = answer.headers["Location"]
    assert location.startswith(rp.redirect_uri), location
    query = parse_qs(urlsplit(location).query)
    return query["code"][0], verifier


def _token(server: Server, rp: RegisteredClient, **data: str) -> requests.Response:
    assert rp.secret is not None
    return requests.post(
        server.url + "/token",
        data=data,
        headers={"Authorization": basic_authorization(rp.client_id, rp.secret)},
        timeout=30,
    )


def _redeem(server: Server, rp: RegisteredClient, code: str, verifier: str) -> requests.Response:
    return _token(
        server,
        rp,
        grant_type="authorization_code",
        code=code,
        redirect_uri=rp.redirect_uri,
        code_verifier=verifier,
    )


def _refresh(server: Server, rp: RegisteredClient, token: str) -> requests.Response:
    return _token(server, rp, grant_type="refresh_token", refresh_token=token)


def _userinfo(server: Server, access_token: str) -> int:
    answer = requests.get(
        server.url + "/userinfo",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=20,
    )
    return answer.status_code


# --- the tests ------------------------------------------------------------------------------


def test_processes_code_issued_by_one_is_redeemed_once_across_both(deployment):
    first, second, rp = deployment.first, deployment.second, deployment.rp
    browser = requests.Session()
    _log_in(browser, first)
    code, verifier = _code(browser, first, rp)
    redeemed = _redeem(second, rp, code, verifier)
    assert redeemed.status_code == 200, redeemed.text
    tokens = redeemed.json()
    assert _userinfo(first, tokens["access_token"]) == 200
    replay = _redeem(first, rp, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # what the first redemption minted is revoked, in both processes
    assert _userinfo(first, tokens["access_token"]) == 401
    assert _userinfo(second, tokens["access_token"]) == 401
    refreshed = _refresh(second, rp, tokens["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_processes_refresh_token_rotated_on_one_is_reused_on_the_other(deployment):
    first, second, rp = deployment.first, deployment.second, deployment.rp
    browser = requests.Session()
    _log_in(browser, second)
    code, verifier = _code(browser, second, rp)
    tokens = _redeem(first, rp, code, verifier).json()
    rotated = _refresh(first, rp, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert _userinfo(second, new["access_token"]) == 200
    reused = _refresh(second, rp, tokens["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # the whole family is revoked, whichever process is asked
    assert _refresh(first, rp, new["refresh_token"]).json()["error"] == "invalid_grant"
    assert _userinfo(first, new["access_token"]) == 401
    assert _userinfo(second, new["access_token"]) == 401


def test_processes_refreshing_one_token_at_once_on_both_issues_tokens_once(deployment):
    first, second, rp = deployment.first, deployment.second, deployment.rp
    browser = requests.Session()
    _log_in(browser, first)
    code, verifier = _code(browser, first, rp)
    tokens = _redeem(second, rp, code, verifier).json()
    attempts = 8  # four at each process (each runs four threads)
    barrier = threading.Barrier(attempts)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def attempt(server: Server) -> None:
        barrier.wait()
        answer = _refresh(server, rp, tokens["refresh_token"])
        with lock:
            answers.append(answer)

    servers = (first, second) * (attempts // 2)
    threads = [threading.Thread(target=attempt, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [400] * (attempts - 1), [a.text for a in answers]
    winner = next(answer.json() for answer in answers if answer.status_code == 200)
    assert _refresh(first, rp, winner["refresh_token"]).status_code == 400
    assert _userinfo(second, winner["access_token"]) == 401
