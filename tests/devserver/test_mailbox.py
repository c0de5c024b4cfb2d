"""The development mailbox: a real email over SMTP, read back from the JSON API and the pages,
escaped, kept in an mbox file across restarts, and cleared."""

from __future__ import annotations

import re
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devserver.mailbox import Mailbox, extract_links
from tests.helpers import free_port, mailbox_messages, mailbox_send

SCRIPT = "<script>alert('objet')</script>"


def test_mailbox_receives_email_and_shows_it_escaped(mailbox: Mailbox, mbox_path: Path) -> None:
    mailbox_send(
        mailbox,
        f"Activez votre compte {SCRIPT}",
        "Bonjour,\nouvrez http://idp.test/activate/abc?x=1&y=2.\n",
        f"<p>Bonjour</p>{SCRIPT}<a href='http://idp.test/activate/abc'>Activer</a>",
    )

    (message,) = mailbox_messages(mailbox)
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
    # The HTML part is only in a sandboxed frame (no allow-scripts, no allow-same-origin), as
    # srcdoc: escaped in the attribute, under the page's CSP, links opening in a new tab.
    frame = re.search(r"<iframe [^>]*>", page.text)
    assert frame is not None
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame.group(0)
    assert "&lt;base target=&#34;_blank&#34;&gt;" in frame.group(0)
    assert "&lt;script&gt;alert(&#39;objet&#39;)&lt;/script&gt;" in frame.group(0)
    page_csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in page_csp and "'unsafe-inline'" not in page_csp.split("style")[0]
    # The same part alone, full page: sandboxed by its CSP, wherever it is opened.
    html = requests.get(f"{mailbox.url}/messages/{message['id']}/html", timeout=5)
    assert html.headers["Content-Security-Policy"].startswith(
        "sandbox allow-popups allow-popups-to-escape-sandbox;"
    )
    assert "default-src 'none'" in html.headers["Content-Security-Policy"]
    assert SCRIPT in html.text  # inert there: no script runs in that sandbox
    assert b"Subject: Activez votre compte" in mbox_path.read_bytes()


def test_mailbox_keeps_messages_across_restarts_newest_first(mbox_path: Path) -> None:
    first = Mailbox(smtp_port=free_port(), http_port=0, mbox_path=mbox_path).start()
    try:
        mailbox_send(first, "Premier", "un")
        mailbox_send(first, "Deuxième", "deux")
    finally:
        first.stop()
    second = Mailbox(smtp_port=free_port(), http_port=0, mbox_path=mbox_path).start()
    try:
        mailbox_send(second, "Troisième", "trois")
        assert [m["subject"] for m in mailbox_messages(second)] == [
            "Troisième",
            "Deuxième",
            "Premier",
        ]
    finally:
        second.stop()


def test_mailbox_clear_button_empties_memory_and_file(mailbox: Mailbox, mbox_path: Path) -> None:
    mailbox_send(mailbox, "À effacer", "texte")
    assert len(mailbox_messages(mailbox)) == 1

    foreign = requests.post(
        f"{mailbox.url}/clear", headers={"Origin": "http://evil.example"}, timeout=5
    )
    assert foreign.status_code == 403 and len(mailbox_messages(mailbox)) == 1

    cleared = requests.post(f"{mailbox.url}/clear", allow_redirects=False, timeout=5)

    assert cleared.status_code == 303 and cleared.headers["Location"] == "/"
    assert mailbox_messages(mailbox) == []
    assert mbox_path.read_bytes() == b""
    assert "Aucun message" in requests.get(f"{mailbox.url}/", timeout=5).text
    restarted = Mailbox(smtp_port=free_port(), http_port=0, mbox_path=mbox_path)
    assert list(restarted) == []  # nothing comes back after a restart either
    restarted.http.server_close()


def test_mailbox_unknown_message_is_404(mailbox: Mailbox) -> None:
    assert requests.get(f"{mailbox.url}/messages/42", timeout=5).status_code == 404
    assert requests.get(f"{mailbox.url}/api/messages/42", timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "french"),
    [
        ("POST", "/clear", {"Origin": "http://evil.example"}, 403, "Action refusée"),
        ("POST", "/clear", {"Origin": "null"}, 403, "Action refusée"),
        ("POST", "/clear", {"Sec-Fetch-Site": "cross-site"}, 403, "Action refusée"),
        ("GET", "/messages/42", {}, 404, "Message introuvable"),
        ("GET", "/nulle-part", {}, 404, "Page introuvable"),
        ("GET", "/clear", {}, 405, "Méthode non autorisée"),
    ],
)
def test_mailbox_errors_are_french_pages(
    mailbox: Mailbox, method: str, path: str, headers: dict[str, str], status: int, french: str
) -> None:
    response = requests.request(method, mailbox.url + path, headers=headers, timeout=5)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/html")
    assert '<html lang="fr">' in response.text and f"<h1>{french}</h1>" in response.text
    assert 'href="/"' in response.text  # a way back
    assert "permission" not in response.text and "Not Found" not in response.text


def test_mailbox_api_errors_are_json_in_french(mailbox: Mailbox) -> None:
    response = requests.get(f"{mailbox.url}/api/messages/42", timeout=5)
    assert response.status_code == 404
    assert response.json() == {"status": 404, "error": "Message introuvable"}
    refused = requests.delete(
        f"{mailbox.url}/api/messages", headers={"Origin": "http://evil.example"}, timeout=5
    )
    assert refused.status_code == 403 and refused.json()["error"] == "Action refusée"


@pytest.mark.parametrize(
    ("date", "shown", "iso"),
    [
        ("Wed, 02 Dec 2026 18:45:00 +0000", "2 déc. 2026 19:45", "2026-12-02T18:45:00+00:00"),
        ("Tue, 30 Jun 2026 23:10:00 +0000", "1 juil. 2026 01:10", "2026-06-30T23:10:00+00:00"),
        ("Mon, 07 Sep 2026 09:05:00 -0400", "7 sept. 2026 15:05", "2026-09-07T09:05:00-04:00"),
    ],
)
def test_mailbox_shows_times_in_paris_time_and_says_so(
    mailbox: Mailbox, date: str, shown: str, iso: str
) -> None:
    mailbox_send(mailbox, "Heure", "texte", date=date)
    (message,) = mailbox_messages(mailbox)
    assert message["date"] == iso  # the API keeps ISO 8601 with the sender's offset
    label = f"{shown} (heure de Paris)"
    index = requests.get(f"{mailbox.url}/", timeout=5).text
    page = requests.get(f"{mailbox.url}/messages/{message['id']}", timeout=5).text
    for html in (index, page):
        assert f'<time datetime="{iso}">{label}</time>' in html


def test_mailbox_list_page_polls_with_a_script_file(mailbox: Mailbox) -> None:
    """New emails appear without a reload: /mailbox.js polls /api/messages/ids, under a CSP
    that allows no inline script."""
    index = requests.get(f"{mailbox.url}/", timeout=5)
    assert '<script src="/mailbox.js" defer></script>' in index.text
    assert 'data-ids=""' in index.text
    script_src = next(
        d for d in index.headers["Content-Security-Policy"].split(";") if "script-src" in d
    )
    assert script_src.strip() == "script-src 'self'"
    script = requests.get(f"{mailbox.url}/mailbox.js", timeout=5)
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert "/api/messages/ids" in script.text

    mailbox_send(mailbox, "Un", "1")
    mailbox_send(mailbox, "Deux", "2")
    ids = requests.get(f"{mailbox.url}/api/messages/ids", timeout=5).json()
    assert ids == [m["id"] for m in mailbox_messages(mailbox)] and len(ids) == 2
    assert f'data-ids="{ids[0]},{ids[1]}"' in requests.get(f"{mailbox.url}/", timeout=5).text


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


def test_mailbox_pipes_a_deposit_address_to_its_command(tmp_path: Path) -> None:
    """`make run` gives the portal's deposit addresses to `portal mailbox receive`, as a mail
    server's pipe transport would; the message is kept in the mailbox too."""
    out = tmp_path / "piped"
    script = (
        "import sys, pathlib; pathlib.Path(sys.argv[1]).write_bytes("
        "sys.argv[3].encode() + b'|' + sys.stdin.buffer.read())"
    )
    box = Mailbox(
        smtp_port=free_port(),
        http_port=0,
        mbox_path=tmp_path / "box.mbox",
        pipes={"depot.test": [sys.executable, "-c", script, str(out)]},
    ).start()
    try:
        mailbox_send(box, "Facture", "ci-joint", to="abc123@depot.test")
        mailbox_send(box, "Autre", "rien", to="marie@cabinet.example")
        deadline = time.monotonic() + 10
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        recipient, _, message = out.read_bytes().partition(b"|")
        assert recipient == b"abc123@depot.test" and b"Subject: Facture" in message
        assert len(mailbox_messages(box)) == 2
    finally:
        box.stop()
