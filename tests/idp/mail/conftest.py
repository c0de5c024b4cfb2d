"""Fixtures of the outbox tests: an SMTP server that records connections and can refuse or
stall, an app on its own committed database (for worker threads), and outbox rows."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from idp.extensions import mailer
from idp.mail.models import OutboxMessage
from tests.conftest import (
    WORKER,
    free_port,
)


@dataclass
class RecordingSmtp:
    """A loopback SMTP server noting which connection delivered what.

    Recipients starting with `refused` get a permanent 550; `delay` slows every DATA down so
    that two workers really overlap.
    """

    port: int
    delay: float = 0.0
    received: list[tuple[tuple[str, int], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.startswith("refused"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.received.append((session.peer, envelope.original_content))
        return "250 Message accepted"

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
            for _, raw in self.received
        ]

    @property
    def connections(self) -> set[tuple[str, int]]:
        return {peer for peer, _ in self.received}


@pytest.fixture
def recording_smtp() -> Iterator[RecordingSmtp]:
    server = RecordingSmtp(port=free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    yield server
    controller.stop()


def point_mailer(app: Flask, port: int) -> None:
    """Flask-Mail reads MAIL_* at init_app time: change the port and re-init."""
    app.config["MAIL_PORT"] = port
    mailer.init_app(app)


@pytest.fixture
def smtp_down(app: Flask) -> Iterator[int]:
    """The app's mailer points at a port where nothing listens (connection refused)."""
    old = app.config["MAIL_PORT"]
    port = free_port()
    point_mailer(app, port)
    yield port
    point_mailer(app, old)


def outbox_message(n: int, recipient: str | None = None) -> OutboxMessage:
    """A ready-to-send outbox row (what `enqueue` stores, without a template)."""
    return OutboxMessage(
        message_id=f"<test-{n}-{WORKER}@idp.test>",
        template="test",
        recipient=recipient or f"destinataire{n}@cabinet.example",
        subject=f"Message n°{n}",
        body_text=f"Bonjour, ceci est le message {n}.\n",
        body_html=f"<p>Bonjour, ceci est le message {n}.</p>",
    )
