"""Browser tests: Debian's headless Chromium driven by Playwright, against a live IdP (werkzeug
in a thread, on its own database) and the loopback SMTP server of tests/conftest.py.

Playwright cannot download a browser here (ENVIRONMENT.md): the launch fixture points at
/usr/bin/chromium. Without Chromium or Playwright the tests skip (fail under REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from idp import create_app
from idp.extensions import db
from idp.mail.delivery import DeliveryReport, deliver_pending
from tests.conftest import (
    Inbox,
    base_config,
    chromium_path,
    free_port,
    service_missing,
)

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
    or Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
)
HAVE_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    """Runs before the Playwright fixtures: skip with a reason instead of a launch error."""
    if not HAVE_PLAYWRIGHT:
        service_missing("Playwright is not installed (make install brings it)")
    if not chromium_path().exists():
        service_missing(f"{chromium_path()} is missing (make browser-deps installs Chromium)")


if HAVE_PLAYWRIGHT:

    @pytest.fixture(scope="session")
    def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
        return {
            **browser_type_launch_args,
            "executable_path": str(chromium_path()),
            "args": CHROMIUM_ARGS,
        }


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


@pytest.fixture
def live_idp(own_database_url: str, smtp_server: Inbox) -> Iterator[LiveIdP]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(base_config(own_database_url, IDP_ISSUER=url, MAIL_PORT=smtp_server.port))
    with app.app_context():
        db.create_all()
        db.session.remove()
    server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    smtp_server.clear()
    try:
        yield LiveIdP(app=app, url=url, inbox=smtp_server)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
