"""The development mailbox (devserver/mailbox.py) on free loopback ports, its mbox file in the
test's own folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devserver.mailbox import Mailbox
from tests.helpers import free_port


@pytest.fixture
def mbox_path(tmp_path: Path) -> Path:
    return tmp_path / "instance" / "mailbox.mbox"


@pytest.fixture
def mailbox(mbox_path: Path) -> Iterator[Mailbox]:
    box = Mailbox(smtp_port=free_port(), http_port=0, mbox_path=mbox_path).start()
    yield box
    box.stop()
