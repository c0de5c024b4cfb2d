"""Browser tests: Debian's headless Chromium driven by Playwright, against a live IdP (werkzeug
in a thread, on its own database) and the loopback SMTP server of tests/conftest.py.

Playwright cannot download a browser here (ENVIRONMENT.md): tests/conftest.py points its launch
at /usr/bin/chromium. Without Chromium or Playwright the tests skip (fail under
REQUIRE_SERVICES=1).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idp.extensions import db
from tests.helpers import Inbox, LiveIdP, build_app, free_port, require_browser, serving


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    """Runs before the Playwright fixtures: skip with a reason instead of a launch error."""
    require_browser()


@pytest.fixture
def live_idp(own_database_url: str, smtp_server: Inbox) -> Iterator[LiveIdP]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = build_app(own_database_url, schema=True, IDP_ISSUER=url, MAIL_PORT=smtp_server.port)
    smtp_server.clear()
    try:
        with serving(app, port):
            yield LiveIdP(app=app, url=url, inbox=smtp_server)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
