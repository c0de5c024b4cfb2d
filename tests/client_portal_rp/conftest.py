"""Fixtures of the portal's tests: one portal app per xdist worker on its own database (SQLite
file restored from a template per test, or PostgreSQL with a transaction rolled back per test,
like the IdP's fixtures), SMTP on loopback, and people logged in without an IdP (their login
record put in the cookie, as the callback would).

The portal's login records (relying_party/logins.py) live in an in-memory SQLite database of the
app's own: they are not part of a test's state.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy.session import Session as FSASession
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from client_portal_rp import create_app
from client_portal_rp.extensions import db
from client_portal_rp.models import Company, Firm, Membership, Module, PortalUser, Role
from relying_party.logins import ACR_ADVANCED
from relying_party.views import SESSION_KEY
from tests.helpers import WORKER, Inbox, postgres_admin_url

PORTAL_ISSUER = "https://sesame.example"


class BoundSession(FSASession):
    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        return self.bind if self.bind is not None else super().get_bind(*args, **kwargs)


def _admin(*statements: str) -> None:
    url = postgres_admin_url()
    assert url
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def portal_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    admin = postgres_admin_url()
    if admin:
        name = f"sesame_portal_{WORKER}"
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("portal") / "portal.sqlite")


def portal_test_config(database_url: str, root: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "PORTAL_DATABASE_URL": "sqlite://",  # login records: in memory (see the docstring)
        "PORTAL_IDP_ISSUER": PORTAL_ISSUER,
        "PORTAL_BASE_URL": "http://portal.test",
        "PORTAL_CLIENT_ID": "portal-client-id",
        "PORTAL_CLIENT_SECRET": "portal-client-secret-0123456789abcdef",
        "PORTAL_STORAGE_PATH": str(root / "documents"),
        "PORTAL_BACKGROUND_INLINE": True,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": 9,  # nothing listens: tests that read mail use `portal_smtp`
        "MAIL_TIMEOUT": 2,
        "SERVER_NAME": None,
        # The API's per-token limit: high enough for the fuzzing run (test_api_ratelimit
        # builds its own limiter).
        "PORTAL_API_RATE_LIMIT": 1_000_000,
        **overrides,
    }


@pytest.fixture(scope="session")
def portal_app(
    portal_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    root = tmp_path_factory.mktemp("portal-files")
    """The app, schema created. No app context stays pushed between tests (the IdP's tests in
    the same worker need theirs on top): `portal_isolation` pushes one per test."""
    application = create_app(portal_test_config(portal_database_url, root))
    with application.app_context():
        db.create_all()
        db.engine.dispose()
    if portal_database_url.startswith("sqlite"):
        path = Path(make_url(portal_database_url).database or "")
        shutil.copyfile(path, str(path) + ".template")
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def portal_isolation(request: pytest.FixtureRequest) -> Iterator[None]:
    """A fresh SQLite file, or a PostgreSQL transaction rolled back, for every portal test."""
    if "portal_app" not in request.fixturenames:
        yield
        return
    app: Flask = request.getfixturevalue("portal_app")
    url = str(app.config["SQLALCHEMY_DATABASE_URI"])
    with app.app_context():
        if url.startswith("sqlite"):
            db.session.remove()
            db.engine.dispose()
            path = Path(make_url(url).database or "")
            for suffix in ("-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            shutil.copyfile(str(path) + ".template", path)
            yield
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
def portal_client(portal_app: Flask) -> FlaskClient:
    return portal_app.test_client()


@pytest.fixture
def portal_smtp(portal_app: Flask, smtp_server: Inbox) -> Iterator[Inbox]:
    """The portal's emails go to the loopback SMTP server for this test."""
    smtp_server.clear()
    old = portal_app.config["MAIL_PORT"]
    portal_app.config["MAIL_PORT"] = smtp_server.port
    yield smtp_server
    portal_app.config["MAIL_PORT"] = old


# --- data --------------------------------------------------------------------------------

_serial = itertools.count(1)


def valid_siren(prefix: int | None = None) -> str:
    """A SIREN with a correct Luhn key (8 digits + key)."""
    base = f"{(prefix if prefix is not None else 10_000_000 + next(_serial) * 7919) % 10**8:08d}"
    for key in range(10):
        candidate = base + str(key)
        total = 0
        for index, char in enumerate(reversed(candidate)):
            digit = int(char) * (2 if index % 2 else 1)
            total += digit - 9 if digit > 9 else digit
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def make_firm(name: str = "Cabinet Durand") -> Firm:
    from client_portal_rp.companies import create_firm

    firm = create_firm(f"{name} {next(_serial)}")
    db.session.commit()
    return firm


def make_company(firm: Firm, name: str = "Boulangerie Martin", **fields: Any) -> Company:
    from client_portal_rp.companies import add_company

    company = add_company(firm, siren=valid_siren(), name=name, **fields)
    db.session.commit()
    return company


def make_user(email: str | None = None, name: str = "Claire Martin") -> PortalUser:
    n = next(_serial)
    user = PortalUser(
        subject=f"sub-{n}", email=email or f"user{n}@client.test", email_verified=True, name=name
    )
    db.session.add(user)
    db.session.commit()
    return user


def make_member(
    company: Company,
    user: PortalUser | None = None,
    *,
    role: Role = Role.USER,
    modules: set[Module] | None = None,
) -> PortalUser:
    user = user or make_user()
    membership = Membership(company_id=company.id, user_id=user.id, role=role.value)
    membership.set_modules(set(Module) if modules is None else modules)
    db.session.add(membership)
    db.session.commit()
    return user


def make_staff(firm: Firm, user: PortalUser | None = None) -> PortalUser:
    from client_portal_rp.models import FirmStaff

    user = user or make_user(name="Paul Comptable")
    db.session.add(FirmStaff(firm_id=firm.id, user_id=user.id))
    db.session.commit()
    return user


def sign_in(client: FlaskClient, app: Flask, user: PortalUser, *, advanced: bool = False) -> None:
    """Log `user` in on `client` as the callback would (a login record, its id in the
    cookie); `advanced`: the ID token carried the MFA level (acr) and amr otp."""
    from relying_party.views import relying_party

    claims: dict[str, Any] = {
        "sub": user.subject,
        "email": user.email,
        "email_verified": True,
        "name": user.name,
        "acr": ACR_ADVANCED if advanced else "urn:sesame:acr:pwd",
        "amr": ["pwd", "otp", "mfa"] if advanced else ["pwd"],
    }
    with app.app_context():
        login_id = relying_party().store.start(
            subject=user.subject,
            sid=f"sid-{user.subject}",
            claims=claims,
            id_token="x.y.z",
            hours=1,
        )
    with client.session_transaction() as session:
        session[SESSION_KEY] = login_id


@pytest.fixture
def committed_portal(tmp_path: Path) -> Iterator[Flask]:
    """A portal on a database of its own where commits are real: for threads and live
    servers (the per-test rollback of `portal_app` cannot reach other connections)."""
    admin = postgres_admin_url()
    name = f"sesame_portal_own_{WORKER}"
    if admin:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    else:
        url = "sqlite:///" + str(tmp_path / "portal-own.sqlite")
    application = create_app(portal_test_config(url, tmp_path))
    with application.app_context():
        db.create_all()
        db.session.remove()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    if admin:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
