"""The development mailbox: a real email over SMTP, read back from the JSON API and the pages,
escaped, kept in an mbox file across restarts, and cleared."""

from __future__ import annotations

import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from devserver.mailbox import Mailbox, extract_links
from tests.conftest import free_port

SCRIPT = "<script>alert('objet')</script>"


@pytest.fixture
def mbox_path(tmp_path: Path) -> Path:
    return tmp_path / "instance" / "mailbox.mbox"


@pytest.fixture
def mailbox(mbox_path: Path) -> Iterator[Mailbox]:
    box = Mailbox(smtp_port=free_port(), http_port=0, mbox_path=mbox_path).start()
    yield box
    box.stop()


def send(box: Mailbox, subject: str, text: str, html: str | None = None) -> None:
    message = EmailMessage()
    message["From"] = "Sésame <no-reply@idp.test>"
    message["To"] = "marie@cabinet.example"
    message["Subject"] = subject
    message["Message-ID"] = "<essai@idp.test>"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP(box.smtp_host, box.smtp_port, timeout=5) as smtp:
        smtp.send_message(message)


def api(box: Mailbox) -> list[dict[str, Any]]:
    response = requests.get(f"{box.url}/api/messages", timeout=5)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_mailbox_receives_email_and_shows_it_escaped(mailbox: Mailbox, mbox_path: Path) -> None:
    send(
        mailbox,
        f"Activez votre compte {SCRIPT}",
        "Bonjour,\nouvrez http://idp.test/activate/abc?x=1&y=2.\n",
        f"<p>Bonjour</p>{SCRIPT}<a href='http://idp.test/activate/abc'>Activer</a>",
    )

    (message,) = api(mailbox)
    assert message["subject"] == f"Activez votre compte {SCRIPT}"
    assert message["to"] == ["marie@cabinet.example"]
    assert message["from"] == "Sésame <no-reply@idp.test>"
    assert message["links"] == ["http://idp.test/activate/abc?x=1&y=2"]
    assert "Bonjour" in message["text"] and SCRIPT in message["html"]

    index = requests.get(f"{mailbox.url}/", timeout=5)
    assert index.status_code == 200 and "Tout effacer" in index.text
    assert SCRIPT not in index.text
    assert "Activez votre compte &lt;script&gt;alert(&#39;objet&#39;)&lt;/script&gt;" in index.text
    assert f'href="/messages/{message["id"]}"' in index.text

    page = requests.get(f"{mailbox.url}/messages/{message['id']}", timeout=5)
    assert page.status_code == 200 and SCRIPT not in page.text
    assert "marie@cabinet.example" in page.text and "&lt;essai@idp.test&gt;" in page.text
    # The text part's link is clickable, its & escaped in the attribute and the text.
    link = "http://idp.test/activate/abc?x=1&amp;y=2"
    assert f'<a href="{link}" rel="noreferrer noopener">{link}</a>.' in page.text
    # The HTML part is only in a sandboxed frame, served under a sandbox CSP.
    assert f'<iframe sandbox src="/messages/{message["id"]}/html"' in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"]
    html = requests.get(f"{mailbox.url}/messages/{message['id']}/html", timeout=5)
    assert html.headers["Content-Security-Policy"].startswith("sandbox;")
    assert "default-src 'none'" in html.headers["Content-Security-Policy"]
    assert SCRIPT in html.text  # inert there: no script runs in that sandbox
    assert b"Subject: Activez votre compte" in mbox_path.read_bytes()


def test_mailbox_keeps_messages_across_restarts_newest_first(mbox_path: Path) -> None:
    first = Mailbox(smtp_port=free_port(), http_port=0, mbox_path=mbox_path).start()
    try:
        send(first, "Premier", "un")
        send(first, "Deuxième", "deux")
    finally:
        first.stop()
    second = Mailbox(smtp_port=free_port(), http_port=0, mbox_path=mbox_path).start()
    try:
        send(second, "Troisième", "trois")
        assert [m["subject"] for m in api(second)] == ["Troisième", "Deuxième", "Premier"]
    finally:
        second.stop()


def test_mailbox_clear_button_empties_memory_and_file(mailbox: Mailbox, mbox_path: Path) -> None:
    send(mailbox, "À effacer", "texte")
    assert len(api(mailbox)) == 1

    foreign = requests.post(
        f"{mailbox.url}/clear", headers={"Origin": "http://evil.example"}, timeout=5
    )
    assert foreign.status_code == 403 and len(api(mailbox)) == 1

    cleared = requests.post(f"{mailbox.url}/clear", allow_redirects=False, timeout=5)

    assert cleared.status_code == 303 and cleared.headers["Location"] == "/"
    assert api(mailbox) == []
    assert mbox_path.read_bytes() == b""
    assert "Aucun message" in requests.get(f"{mailbox.url}/", timeout=5).text
    restarted = Mailbox(smtp_port=free_port(), http_port=0, mbox_path=mbox_path)
    assert list(restarted) == []  # nothing comes back after a restart either
    restarted.http.server_close()


def test_mailbox_unknown_message_is_404(mailbox: Mailbox) -> None:
    assert requests.get(f"{mailbox.url}/messages/42", timeout=5).status_code == 404
    assert requests.get(f"{mailbox.url}/api/messages/42", timeout=5).status_code == 404


def test_mailbox_link_extraction_drops_trailing_punctuation() -> None:
    text = "Lien : https://a.test/x?t=1. Autre (http://b.test/y), fin «http://c.test/z»"
    assert extract_links(text) == ["https://a.test/x?t=1", "http://b.test/y", "http://c.test/z"]


def test_mailbox_command_line_serves_both_ports(tmp_path: Path) -> None:
    """`python -m devserver.mailbox` (`serve`, what `make run` starts) blocks and answers on the
    ports it is given, storing into the mbox it is given."""
    smtp_port, http_port = free_port(), free_port()
    mbox = tmp_path / "m.mbox"
    command = [sys.executable, "-m", "devserver.mailbox", "--smtp-port", str(smtp_port)]
    command += ["--http-port", str(http_port), "--mbox", str(mbox)]
    process = subprocess.Popen(command, cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{http_port}/api/messages", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert response.json() == []
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as smtp:
            smtp.sendmail("a@idp.test", ["b@cabinet.example"], b"Subject: essai\r\n\r\ncorps\r\n")
        messages = requests.get(f"http://127.0.0.1:{http_port}/api/messages", timeout=5).json()
        assert [(m["subject"], m["text"].strip()) for m in messages] == [("essai", "corps")]
        assert b"Subject: essai" in mbox.read_bytes()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
