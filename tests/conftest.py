"""Shared fixtures: a real database (SQLite, or PostgreSQL with TEST_DATABASE_URL), real Redis
(REDIS_URL), a real SMTP server (aiosmtpd on loopback), and a fresh transaction per test.

With REQUIRE_SERVICES=1 (CI), a missing PostgreSQL, Redis or Chromium fails the run instead of
skipping the tests that need it. Helpers that are not fixtures are in tests/helpers.py.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy.session import Session as FSASession
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from idp.config import Settings
from idp.extensions import db, limiter
from idp.oidc import keys as idp_keys
from tests.helpers import (
    CHROMIUM_ARGS,
    HAVE_PLAYWRIGHT,
    WORKER,
    Inbox,
    build_app,
    chromium_path,
    empty_g,
    free_port,
    point_mailer,
    postgres_admin_url,
    running_smtp,
)

# Re-exported (`x as x`) for tests/idp/test_i18n.py, which still imports them from here.
from tests.helpers import TEST_PASSWORD as TEST_PASSWORD
from tests.helpers import csrf_token as csrf_token
from tests.helpers import login as login
from tests.helpers import signup as signup

# Processes the tests start (CLI commands, live servers) run with the test settings too; an
# unset SESAME_ENV would mean production (docs/configuration.md).
os.environ.setdefault("SESAME_ENV", "testing")


def _postgres_admin(*statements: str) -> None:
    admin_url = postgres_admin_url()
    assert admin_url
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


@contextmanager
def _postgres_database(name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for the block; yields its URL."""
    _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    admin_url = postgres_admin_url()
    assert admin_url
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _SigningKeyPool:
    """The IdP's signing keys, generated for real once per test process and handed out again in
    each test. Every test starts from an empty key table, and the first token it signs made
    `idp.oidc.keys` generate a current and a next key per algorithm: two RSA-2048 keys, ~0.2 s
    a test, a third of an OIDC test's time. Within a test each key is new (distinct `kid`s, as
    rotation needs); the next test gets the same keys again, in a database that no longer has
    them. Subprocesses (live servers) generate their own."""

    def __init__(self, generate: Any) -> None:
        self._generate = generate
        self._keys: dict[str, list[Any]] = {}
        self._handed: dict[str, int] = {}

    def __call__(self, alg: str) -> Any:
        keys = self._keys.setdefault(alg, [])
        index = self._handed.get(alg, 0)
        self._handed[alg] = index + 1
        if index == len(keys):
            keys.append(self._generate(alg))
        return keys[index]

    def new_test(self) -> None:
        self._handed.clear()


_signing_keys = _SigningKeyPool(idp_keys.generate_key)
idp_keys.generate_key = _signing_keys


def pytest_runtest_setup(item: pytest.Item) -> None:
    _signing_keys.new_test()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per xdist worker, schema created once."""
    if postgres_admin_url():
        with _postgres_database(f"sesame_test_{WORKER}") as url:
            yield url
    else:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "idp.sqlite")


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    application = build_app(database_url)
    with application.app_context():
        db.create_all()
        if _is_sqlite(database_url):
            db.engine.dispose()
            path = _sqlite_path(database_url)
            shutil.copyfile(path, str(path) + ".template")
        yield application
        db.session.remove()
        db.engine.dispose()


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
    transaction rolled back at the end (views' commits become savepoints). Nothing of the
    previous test's requests stays in `g` (the tests share one app context): a session lookup
    cached there would name a session of the previous test's database."""
    if "app" not in request.fixturenames or "own_database_url" in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    empty_g()
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
        with _postgres_database(f"sesame_own_{WORKER}") as url:
            yield url
    else:
        yield "sqlite:///" + str(tmp_path / "own.sqlite")


def _dispose(application: Flask) -> None:
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def committed_app(own_database_url: str) -> Iterator[Flask]:
    """An app with its schema on its own database (see own_database_url); its mailer points
    at a port where nothing listens."""
    application = build_app(own_database_url, schema=True, MAIL_PORT=free_port())
    yield application
    _dispose(application)


@pytest.fixture
def https_app(own_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """An IdP deployed under https, with one active user `jean.dupont`."""
    from tests.factories import create_user

    monkeypatch.setenv("IDP_ISSUER", "https://idp.test")  # what deployments set
    application = build_app(own_database_url, schema=True, IDP_ISSUER="https://idp.test")
    with application.app_context():
        create_user("jean.dupont")
        db.session.remove()
    yield application
    _dispose(application)


# --- SMTP -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[Inbox]:
    with running_smtp() as inbox:
        yield inbox


@pytest.fixture
def smtp(app: Flask, smtp_server: Inbox) -> Iterator[Inbox]:
    """Point the app's mailer at the loopback SMTP server for this test."""
    smtp_server.clear()
    old_port = app.config["MAIL_PORT"]
    point_mailer(app, smtp_server.port)
    yield smtp_server
    point_mailer(app, old_port)


# --- browsers -------------------------------------------------------------------------------

if HAVE_PLAYWRIGHT:

    @pytest.fixture(scope="session")
    def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
        """pytest-playwright's launch, on Debian's Chromium (Playwright cannot download one)."""
        return {
            **browser_type_launch_args,
            "executable_path": str(chromium_path()),
            "args": CHROMIUM_ARGS,
        }
