"""Fixtures of the outbox tests: an SMTP server that records connections and refuses
`refused…` recipients, and a mailer pointing where nothing listens. Outbox rows come from
tests.factories.create_outbox_message."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.helpers import Inbox, free_port, point_mailer, running_smtp


@pytest.fixture
def recording_smtp() -> Iterator[Inbox]:
    with running_smtp(refuse=True) as server:
        yield server


@pytest.fixture
def smtp_down(app: Flask) -> Iterator[int]:
    """The app's mailer points at a port where nothing listens (connection refused)."""
    old = app.config["MAIL_PORT"]
    port = free_port()
    point_mailer(app, port)
    yield port
    point_mailer(app, old)
