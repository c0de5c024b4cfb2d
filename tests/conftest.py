"""Shared fixtures: a real database (SQLite, or PostgreSQL with TEST_DATABASE_URL), real Redis
(REDIS_URL), a real SMTP server (aiosmtpd on loopback), and a fresh transaction per test.

With REQUIRE_SERVICES=1 (CI), a missing PostgreSQL, Redis or Chromium fails the run instead of
skipping the tests that need it.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import os
import re
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask, g
from flask.testing import FlaskClient
from flask_sqlalchemy.session import Session as FSASession
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from idp import create_app
from idp.config import TESTING_ARGON2, Settings
from idp.extensions import db, limiter, mailer

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
# Processes the tests start (CLI commands, live servers) run with the test settings too; an
# unset SESAME_ENV would mean production (docs/configuration.md).
os.environ.setdefault("SESAME_ENV", "testing")
TEST_PASSWORD = "cheval agrafe batterie correcte"


def service_missing(reason: str) -> None:
    """Skip locally; fail in CI, where every service is required."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def postgres_admin_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


def create_postgres_database(name: str) -> str:
    admin_url = postgres_admin_url()
    assert admin_url
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    admin_url = postgres_admin_url()
    assert admin_url
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def base_config(database_url: str, **overrides: Any) -> dict[str, Any]:
    """A test app's settings: environment variables (as deployments set them) plus Flask's
    TESTING. Throttle keys are namespaced per worker process (they may share one Redis)."""
    redis_url = os.environ.get("REDIS_URL")
    cfg: dict[str, Any] = {
        "TESTING": True,
        "SESAME_ENV": "testing",
        "SECRET_KEY": "test-secret-key-0123456789abcdef0123456789",
        "DATABASE_URL": database_url,
        "IDP_ISSUER": "http://idp.test",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": 9,  # discard: nothing listens; tests that read mail use the smtp fixture
        "MAIL_DEFAULT_SENDER": "Sésame <no-reply@idp.test>",
        "RATELIMIT_KEY_PREFIX": f"sesame-test-{WORKER}-{os.getpid()}",
        "REDIS_URL": redis_url,
        **TESTING_ARGON2.env(),
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per xdist worker, schema created once."""
    if postgres_admin_url():
        name = f"sesame_test_{WORKER}"
        yield create_postgres_database(name)
        drop_postgres_database(name)
    else:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "idp.sqlite")


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    application = create_app(base_config(database_url))
    prepare_test_app(application)
    with application.app_context():
        db.create_all()
        if _is_sqlite(database_url):
            db.engine.dispose()
            path = _sqlite_path(database_url)
            shutil.copyfile(path, str(path) + ".template")
        yield application
        db.session.remove()
        db.engine.dispose()


class ClosingClient(FlaskClient):
    """Closes each response, as a WSGI server does once it has sent it: what the app does
    after its answer (`call_on_close`: the anonymous email requests) runs before the test
    goes on."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def prepare_test_app(application: Flask) -> None:
    """Test clients close their responses (`ClosingClient`). Requests of a test reuse the
    test's app context, hence its `g`; in production every request has its own. Empty `g`
    first thing in each request, as production would have it."""
    application.test_client_class = ClosingClient

    def fresh_g() -> None:
        for name in list(g):
            g.pop(name)

    application.before_request_funcs.setdefault(None, []).insert(0, fresh_g)


class BoundSession(FSASession):
    """Flask-SQLAlchemy 3.1's get_bind() ignores Session(bind=...): honour it."""

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        return self.bind if self.bind is not None else super().get_bind(*args, **kwargs)


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def restore_sqlite_template(url: str) -> None:
    """Put a fresh copy of the schema-only database file in place (~1 ms).

    SQLite gets a new file per test rather than a rolled-back transaction: pysqlite's implicit
    transactions make savepoints commit, and tests must see production's transaction semantics.
    """
    path = _sqlite_path(url)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.copyfile(str(path) + ".template", path)


@pytest.fixture(autouse=True)
def db_isolation(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts from an empty schema: a fresh SQLite file, or on PostgreSQL a
    transaction rolled back at the end (views' commits become savepoints)."""
    if "app" not in request.fixturenames or "own_database_url" in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.test_request_context():
        limiter.reset()
    if _is_sqlite(url):
        db.session.remove()
        db.engine.dispose()
        restore_sqlite_template(url)
        try:
            yield
        finally:
            db.session.remove()
        return
    conn = db.engine.connect()
    outer = conn.begin()
    session = db._make_scoped_session(
        {"class_": BoundSession, "bind": conn, "join_transaction_mode": "create_savepoint"}
    )
    old, db.session = db.session, session
    try:
        yield
    finally:
        session.remove()
        db.session = old
        outer.rollback()
        conn.close()


@pytest.fixture
def configure(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Change the app's settings for one test: `configure(session_idle=timedelta(minutes=10))`,
    nested with `__` (`configure(throttles__login_failures_per_ip="3 per 15 minutes")`).
    The password hasher follows the argon2 parameters. Undone after the test."""
    from idp.accounts.passwords import PasswordHasher
    from idp.accounts.services import HASHER_EXTENSION
    from idp.config import SETTINGS_EXTENSION

    def apply(**changes: Any) -> Settings:
        current: Settings = app.extensions[SETTINGS_EXTENSION]
        flat: dict[str, Any] = {}
        for name, value in changes.items():
            if "__" in name:
                group, field_name = name.split("__", 1)
                base = flat.get(group, getattr(current, group))
                flat[group] = dataclasses.replace(base, **{field_name: value})
            else:
                flat[name] = value
        new = current.replace(**flat)
        monkeypatch.setitem(app.extensions, SETTINGS_EXTENSION, new)
        if new.argon2 != current.argon2:
            monkeypatch.setitem(app.extensions, HASHER_EXTENSION, PasswordHasher(new.argon2))
        return new

    return apply


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def own_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's own, where commits are real: for threads, live servers,
    migrations (the per-test rollback cannot reach other connections)."""
    if postgres_admin_url():
        name = f"sesame_own_{WORKER}"
        yield create_postgres_database(name)
        drop_postgres_database(name)
    else:
        yield "sqlite:///" + str(tmp_path / "own.sqlite")


@pytest.fixture
def committed_app(own_database_url: str) -> Iterator[Flask]:
    """An app with its schema on its own database (see own_database_url)."""
    application = create_app(base_config(own_database_url, MAIL_PORT=free_port()))
    prepare_test_app(application)
    with application.app_context():
        db.create_all()
        db.session.remove()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def https_app(own_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """An IdP deployed under https, with one active user `jean.dupont`."""
    from tests.factories import create_user

    monkeypatch.setenv("IDP_ISSUER", "https://idp.test")  # what deployments set
    application = create_app(base_config(own_database_url, IDP_ISSUER="https://idp.test"))
    prepare_test_app(application)
    with application.app_context():
        db.create_all()
        create_user("jean.dupont")
        db.session.remove()
    yield application
    with application.app_context():
        db.engine.dispose()


# --- SMTP -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:  # aiosmtpd's Controller(port=0) does not report the port
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """Messages received by the loopback SMTP server."""

    port: int
    envelopes: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted"

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.original_content, policy=email.policy.default)  # type: ignore[misc]
            for e in self.envelopes
        ]

    def text_of(self, message: EmailMessage) -> str:
        part = message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())

    def links(self, to: str | None = None) -> list[str]:
        found = []
        for message in self.messages:
            if to is None or to in str(message["To"]):
                found += re.findall(r"https?://\S+", self.text_of(message))
        return found

    def clear(self) -> None:
        self.envelopes.clear()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[Inbox]:
    inbox = Inbox(port=free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def smtp(app: Flask, smtp_server: Inbox) -> Iterator[Inbox]:
    """Point the app's mailer at the loopback SMTP server for this test."""
    smtp_server.clear()
    old_port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = smtp_server.port
    mailer.init_app(app)
    yield smtp_server
    app.config["MAIL_PORT"] = old_port
    mailer.init_app(app)


# --- helpers shared by tests ----------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    match = _CSRF.search(page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def without_tokens(page: str) -> str:
    """A page minus its CSRF tokens (timestamped to the second): for "same answer" comparisons."""
    return _CSRF.sub('name="csrf_token" type="hidden" value=""', page)


SIGNUP_PASSWORD = "radium polonium nobel 1903"


def signup(
    client: FlaskClient,
    *,
    password: str = SIGNUP_PASSWORD,
    headers: dict[str, str] | None = None,
    **fields: str,
) -> Any:
    """Fill and post the "Autre" signup form as a person would (Marie Curie by default)."""
    data = {
        "csrf_token": csrf_token(client, "/signup"),
        "username": "marie.curie",
        "given_name": "Marie",
        "family_name": "Curie",
        "email": "marie@cabinet.example",
        "password": password,
        "password_confirm": password,
        **fields,
    }
    return client.post("/signup", data=data, headers=headers or {})


def activate(client: FlaskClient, path: str, password: str = SIGNUP_PASSWORD) -> Any:
    """Open an activation link and confirm it with the password chosen at signup."""
    token = csrf_token(client, path)
    return client.post(path, data={"csrf_token": token, "password": password})


def login(client: FlaskClient, username: str, password: str = TEST_PASSWORD) -> Any:
    token = csrf_token(client, "/login")
    return client.post(
        "/login", data={"csrf_token": token, "username": username, "password": password}
    )


def chromium_path() -> Path:
    return Path("/usr/bin/chromium")
