"""Test helpers that are not fixtures, in one place: test apps and their settings, forms filled
as a browser fills them (CSRF token, signup, activation, login), free ports, the loopback SMTP
and WSGI servers, the outbox as tests read it, and the development mailbox.

Fixtures live in tests/conftest.py (and the conftest.py of a folder); data builders in
tests/factories.py. Test modules import from here, never from a conftest.py.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import importlib.util
import os
import re
import smtplib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.serving import make_server

from idp import create_app
from idp.config import TESTING_ARGON2
from idp.database import utcnow
from idp.extensions import db, mailer
from idp.mail.delivery import DeliveryReport, deliver_pending
from idp.mail.models import OutboxMessage

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
TEST_PASSWORD = "cheval agrafe batterie correcte"  # the password of tests.factories.create_user
SIGNUP_PASSWORD = "radium polonium nobel 1903"  # the password `signup` types


def service_missing(reason: str) -> None:
    """Skip locally; fail in CI (REQUIRE_SERVICES=1), where every service is required."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def postgres_admin_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


# --- test apps ----------------------------------------------------------------------------------


def base_config(database_url: str, **overrides: Any) -> dict[str, Any]:
    """A test app's settings: environment variables (as deployments set them) plus Flask's
    TESTING. Throttle keys are namespaced per worker process (they may share one Redis)."""
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
        "REDIS_URL": os.environ.get("REDIS_URL"),
        **TESTING_ARGON2.env(),
    }
    cfg.update(overrides)
    return cfg


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
    application.before_request_funcs.setdefault(None, []).insert(0, empty_g)


def empty_g() -> None:
    """Forget what the current app context's `g` holds (a request's cached session lookup)."""
    for name in list(g):
        g.pop(name)


def build_app(database_url: str, *, schema: bool = False, **overrides: Any) -> Flask:
    """A prepared test app on `database_url` (settings: `base_config` with `overrides`), with
    the tables created when `schema` is true."""
    application = create_app(base_config(database_url, **overrides))
    prepare_test_app(application)
    if schema:
        with application.app_context():
            db.create_all()
            db.session.remove()
    return application


# --- forms, as a browser fills them -------------------------------------------------------------

CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
# The passkey script reads the same token from a data attribute (idp/static/js/passkeys.js).
CSRF_DATA = re.compile(r'data-csrf="[^"]+"')


# `next=` targets that must never be followed (docs/security.md 17): other sites, schemes,
# and what one decoding step or a header injection would turn into one.
HOSTILE_NEXT_TARGETS = [
    "//evil.example",
    "//evil.example/account",
    "https://evil.example",
    "https://idp.test@evil.example/",
    "/\\evil.example",
    "\\/\\/evil.example",
    "/%5Cevil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http:evil.example",
    "http:/evil.example",
    "/account\r\nSet-Cookie: pwned=1",
    "/account\nLocation: https://evil.example",
    "/\tevil.example",
    " //evil.example",
    "evil.example",
]


def csrf_in(page: str, where: str = "the page") -> str:
    """The CSRF token of a form in an HTML page."""
    match = CSRF_FIELD.search(page)
    assert match, f"no CSRF token on {where}"
    return match.group(1)


def csrf_token(client: FlaskClient, url: str, **get: Any) -> str:
    """Open `url` (keyword arguments go to `client.get`) and return its form's CSRF token."""
    return csrf_in(client.get(url, **get).get_data(as_text=True), url)


def without_tokens(page: str) -> str:
    """A page minus its CSRF tokens (timestamped to the second): for "same answer" comparisons.
    Both copies go: the form field and the passkey script's data attribute (two requests that
    straddle a second would otherwise differ there)."""
    page = CSRF_FIELD.sub('name="csrf_token" type="hidden" value=""', page)
    return CSRF_DATA.sub('data-csrf=""', page)


def signup(
    client: FlaskClient,
    *,
    password: str = SIGNUP_PASSWORD,
    headers: dict[str, str] | None = None,
    **fields: str,
) -> Any:
    """Fill and post the "Autre" signup form as a person would (Marie Curie by default)."""
    data = {
        "csrf_token": csrf_token(client, SIGNUP_AUTRE),
        "username": "marie.curie",
        "given_name": "Marie",
        "family_name": "Curie",
        "email": "marie@cabinet.example",
        "password": password,
        "password_confirm": password,
        **fields,
    }
    return client.post(SIGNUP_AUTRE, data=data, headers=headers or {})


SIGNUP_AUTRE = "/signup/autre"  # the "Autre" form; /signup chooses the profile
CANDIDATE_RADIO = re.compile(r'name="candidate" value="([^"]+)"')


def registry_candidates(client: FlaskClient, flow: str, query: str) -> list[str]:
    """The signed tokens of the names the registry search lists (the plain form's radios)."""
    page = client.get(f"/signup/{flow}/name", query_string={"q": query})
    return CANDIDATE_RADIO.findall(page.get_data(as_text=True))


def registry_choose(
    client: FlaskClient, flow: str, *, query: str | None = None, number: str | None = None
) -> Any:
    """Pick the first name the search for `query` lists, or type the registration number."""
    token = csrf_token(client, f"/signup/{flow}/name")
    data = {"csrf_token": token}
    if number is not None:
        data["registration_number"] = number
    else:
        candidates = registry_candidates(client, flow, query or "")
        assert candidates, f"no registry entry listed for {query!r}"
        data["candidate"] = candidates[0]
    return client.post(f"/signup/{flow}/name", data=data)


def registry_birth_date(client: FlaskClient, flow: str, birth_date: str) -> Any:
    path = f"/signup/{flow}/birth-date"
    return client.post(
        path, data={"csrf_token": csrf_token(client, path), "birth_date": birth_date}
    )


def registry_account(
    client: FlaskClient, flow: str, username: str, password: str = SIGNUP_PASSWORD
) -> Any:
    path = f"/signup/{flow}/account"
    return client.post(
        path,
        data={
            "csrf_token": csrf_token(client, "/signup"),  # the session's token, on any page
            "username": username,
            "password": password,
            "password_confirm": password,
        },
    )


def registry_signup(
    client: FlaskClient,
    *,
    flow: str = "expert-comptable",
    query: str | None = "lefevre jean",
    number: str | None = None,
    birth_date: str = "12/04/1975",
    username: str = "jf.lefevre",
    password: str = SIGNUP_PASSWORD,
) -> Any:
    """The whole registry signup as a person does it (Jean-François Lefèvre of
    tests.factories.create_registry_entry by default); returns the last response."""
    chosen = registry_choose(client, flow, query=query, number=number)
    if chosen.status_code != 302:
        return chosen
    matched = registry_birth_date(client, flow, birth_date)
    if matched.status_code != 302:
        return matched
    return registry_account(client, flow, username, password)


def activate(client: FlaskClient, path: str, password: str = SIGNUP_PASSWORD) -> Any:
    """Open an activation link and confirm it with the password chosen at signup."""
    token = csrf_token(client, path)
    return client.post(path, data={"csrf_token": token, "password": password})


def login(client: FlaskClient, username: str, password: str = TEST_PASSWORD) -> Any:
    token = csrf_token(client, "/login")
    return client.post(
        "/login", data={"csrf_token": token, "username": username, "password": password}
    )


def change_password(
    client: FlaskClient, current: str, new: str, *, confirm: str | None = None, **fields: str
) -> Any:
    """Post the "Mon compte" password change form (logged in)."""
    return client.post(
        "/account/password",
        data={
            "csrf_token": csrf_token(client, "/account/password"),
            "current_password": current,
            "password": new,
            "password_confirm": new if confirm is None else confirm,
            **fields,
        },
    )


# --- servers on loopback ------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nothing listens on (yet): aiosmtpd's Controller(port=0) does not report the
    port it gets, and a live IdP must know its URL before it starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: Any, port: int = 0) -> Iterator[str]:
    """Serve a WSGI app over real HTTP on 127.0.0.1 (werkzeug, in a thread); yield its URL."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@dataclass
class Inbox:
    """What a loopback SMTP server received, and from which connection.

    With `refuse`, recipients starting with `refused` get a permanent 550; `delay` slows every
    DATA down (so that two delivery workers really overlap).
    """

    port: int
    refuse: bool = False
    delay: float = 0.0
    envelopes: list[Any] = field(default_factory=list)
    peers: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.refuse and address.startswith("refused"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.envelopes.append(envelope)
            self.peers.append(session.peer)
        return "250 Message accepted"

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.original_content, policy=email.policy.default)  # type: ignore[misc]
            for e in self.envelopes
        ]

    @property
    def connections(self) -> set[tuple[str, int]]:
        return set(self.peers)

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
        with self.lock:
            self.envelopes.clear()
            self.peers.clear()


@contextmanager
def running_smtp(**options: Any) -> Iterator[Inbox]:
    """An SMTP server on a free loopback port for the block; `options` go to `Inbox`. A port
    taken between `free_port` and the bind (by another test process) means another port."""
    for attempt in range(3):
        inbox = Inbox(port=free_port(), **options)
        controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
        try:
            controller.start()
            break
        except OSError:
            if attempt == 2:
                raise
    try:
        yield inbox
    finally:
        controller.stop()


def point_mailer(app: Flask, port: int) -> None:
    """Flask-Mail reads MAIL_* at init_app time: change the port and re-init."""
    app.config["MAIL_PORT"] = port
    mailer.init_app(app)


# --- the outbox ---------------------------------------------------------------------------------


def outbox(app: Flask | None = None) -> list[OutboxMessage]:
    """Every outbox row, fresh from the database, oldest first; read in an app context of its
    own when `app` is given (an app on its own committed database, used by other threads)."""
    if app is not None:
        with app.app_context():
            rows = outbox()
            db.session.expunge_all()
            return rows
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def time_passes() -> None:
    """Every pending message becomes due (as if its backoff had elapsed)."""
    db.session.execute(
        update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


# --- browsers -----------------------------------------------------------------------------------

HAVE_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Screenshots for a human to review. pytest-playwright empties test-results/ at the start of
# every pytest session run from the repository: SCREENSHOTS_DIR keeps them elsewhere.
RESULTS_DIR = Path(
    os.environ.get("SCREENSHOTS_DIR")
    or Path(__file__).resolve().parents[1] / "test-results" / "screenshots"
)


def console_errors(page: Any) -> list[str]:
    """The console errors of a Playwright page from now on (Chromium reports a CSP violation
    as one), the browser's own favicon.ico request aside; the list fills as the page runs."""
    errors: list[str] = []

    def record(message: Any) -> None:
        url = message.location.get("url", "")
        if message.type == "error" and not url.endswith("/favicon.ico"):
            errors.append(f"{message.text} ({url})")

    page.on("console", record)
    return errors


def chromium_path() -> Path:
    return Path("/usr/bin/chromium")


def require_browser() -> None:
    """Skip (fail in CI) without Playwright or Debian's Chromium, rather than a launch error."""
    if not HAVE_PLAYWRIGHT:
        service_missing("Playwright is not installed (make install brings it)")
    if not chromium_path().exists():
        service_missing(f"{chromium_path()} is missing (make browser-deps installs Chromium)")


@dataclass
class LiveIdP:
    """The IdP served over real HTTP, and what a test needs to reach behind it."""

    app: Flask
    url: str
    inbox: Inbox

    def deliver_mail(self) -> DeliveryReport:
        """What the outbox worker does (`idp mail deliver`): process the email requests the
        server has not processed yet (it does so just after answering, in its own thread), then
        send the queued emails to the SMTP server."""
        from idp.accounts.email_requests import process_pending

        with self.app.app_context():
            process_pending(db.session)
            report = deliver_pending(db.session)
            db.session.remove()
        assert report.ok, report
        return report


@contextmanager
def running_idp(
    database_url: str, inbox: Inbox, *, host: str = "127.0.0.1", **overrides: Any
) -> Iterator[LiveIdP]:
    """The IdP with its schema on `database_url` (a database of its own: its commits are real),
    served over real HTTP on a free loopback port, which is its issuer (`host`: `localhost`
    for passkeys, which refuse an IP address as relying party id); its mail goes to `inbox`.
    `overrides` are settings (`base_config`)."""
    port = free_port()
    url = f"http://{host}:{port}"
    app = build_app(database_url, schema=True, IDP_ISSUER=url, MAIL_PORT=inbox.port, **overrides)
    inbox.clear()
    try:
        with serving(app, port):
            yield LiveIdP(app=app, url=url, inbox=inbox)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# --- the development mailbox (devserver/mailbox.py) ---------------------------------------------


def mailbox_send(
    box: Any,
    subject: str,
    text: str,
    html: str | None = None,
    *,
    date: str | None = None,
    to: str = "marie@cabinet.example",
) -> None:
    """Send one email to the development mailbox over SMTP."""
    message = EmailMessage()
    message["From"] = "Sésame <no-reply@idp.test>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = "<essai@idp.test>"
    if date is not None:
        message["Date"] = date
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP(box.smtp_host, box.smtp_port, timeout=5) as smtp:
        smtp.send_message(message)


def mailbox_messages(box: Any) -> list[dict[str, Any]]:
    """The messages the development mailbox's JSON API lists."""
    response = requests.get(f"{box.url}/api/messages", timeout=5)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]
