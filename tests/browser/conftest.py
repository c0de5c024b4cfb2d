"""Browser tests: Debian's headless Chromium driven by Playwright, against a live IdP (werkzeug
in a thread, on its own database) and the loopback SMTP server of tests/conftest.py.

Playwright cannot download a browser here (ENVIRONMENT.md): tests/conftest.py points its launch
at /usr/bin/chromium. Without Chromium or Playwright the tests skip (fail under
REQUIRE_SERVICES=1).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import Inbox, LiveIdP, require_browser, running_idp


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    """Runs before the Playwright fixtures: skip with a reason instead of a launch error."""
    require_browser()


@pytest.fixture
def live_idp(own_database_url: str, smtp_server: Inbox) -> Iterator[LiveIdP]:
    with running_idp(own_database_url, smtp_server) as idp:
        yield idp
