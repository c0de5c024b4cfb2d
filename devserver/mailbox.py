"""A local mailbox for development: every email the apps send, readable in a browser.

An SMTP server (aiosmtpd) on 127.0.0.1:1025 keeps each message in memory and appends it to an
mbox file (instance/mailbox.mbox by default), so messages survive a restart; a small web UI on
http://127.0.0.1:8025 lists them and shows one, and `GET /api/messages` returns them as JSON
(with the links of the text part) for browser tests and curious people.

Everything in an email is attacker-controlled text: it is escaped in the pages, and the HTML
part is only ever shown in a sandboxed frame served with `Content-Security-Policy: sandbox`
(no script, no same-origin access, no form, no network beyond inline styles and data: images).

    python -m devserver.mailbox [--smtp-port 1025] [--http-port 8025] [--mbox PATH]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import email.utils
import mailbox
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask, Response, abort, jsonify, redirect, render_template, request
from jinja2 import DictLoader
from markupsafe import Markup, escape
from werkzeug.serving import BaseWSGIServer, make_server

# instance/ of the repository, next to the IdP's SQLite database, whatever the working directory.
DEFAULT_MBOX = Path(__file__).resolve().parents[1] / "instance" / "mailbox.mbox"
MAX_MESSAGES = 1000  # in memory; the oldest go first (the mbox file keeps them)
_LINK = re.compile(r"https?://[^\s<>\"'«»]+")
_TRAILING = ".,;:!?)]}"
# The HTML part: inline styles and embedded images only; `sandbox` (without allow-scripts,
# allow-same-origin) gives it a unique origin where nothing runs.
HTML_PART_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'none'; frame-ancestors 'self'"
)
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; form-action 'self'"


def extract_links(text: str) -> list[str]:
    """The http(s) URLs of a text, in order, without trailing punctuation."""
    return [match.rstrip(_TRAILING) for match in _LINK.findall(text)]


@dataclass(frozen=True)
class StoredMessage:
    """One received email, parsed once."""

    id: int
    received_at: datetime
    raw: bytes
    message: EmailMessage

    def header(self, name: str) -> str:
        value = self.message.get(name)
        return "" if value is None else str(value)

    @property
    def recipients(self) -> list[str]:
        return [address for _, address in email.utils.getaddresses(self.message.get_all("To", []))]

    @property
    def date(self) -> datetime:
        try:
            parsed = email.utils.parsedate_to_datetime(self.header("Date"))
        except (TypeError, ValueError):
            return self.received_at
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def _part(self, subtype: str) -> str:
        part = self.message.get_body((subtype,))
        if part is None:
            return ""
        try:
            return str(part.get_content())
        except (LookupError, ValueError):  # unknown charset, broken encoding
            payload = part.get_payload(decode=True)
            return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""

    @property
    def text(self) -> str:
        return self._part("plain")

    @property
    def html(self) -> str:
        return self._part("html")

    def as_json(self) -> dict[str, Any]:
        text = self.text
        return {
            "id": self.id,
            "message_id": self.header("Message-ID"),
            "from": self.header("From"),
            "to": self.recipients,
            "subject": self.header("Subject"),
            "date": self.date.isoformat(),
            "text": text,
            "html": self.html,
            "links": extract_links(text),
        }


class MailStore:
    """The messages in memory, mirrored to an mbox file (appended to, truncated by clear)."""

    def __init__(self, mbox_path: Path | None) -> None:
        self.mbox_path = mbox_path
        self._lock = threading.Lock()
        self._messages: list[StoredMessage] = []
        self._next_id = 1
        if mbox_path is not None and mbox_path.exists():
            box = mailbox.mbox(mbox_path, create=False)
            try:
                for key in box.iterkeys():
                    self._remember(box.get_bytes(key))
            finally:
                box.close()

    def _remember(self, raw: bytes) -> StoredMessage:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        stored = StoredMessage(self._next_id, datetime.now(UTC), raw, parsed)
        self._next_id += 1
        self._messages.append(stored)
        del self._messages[:-MAX_MESSAGES]
        return stored

    def add(self, raw: bytes, mail_from: str = "MAILER-DAEMON") -> StoredMessage:
        with self._lock:
            stored = self._remember(raw)
            if self.mbox_path is not None:
                self.mbox_path.parent.mkdir(parents=True, exist_ok=True)
                box = mailbox.mbox(self.mbox_path)
                try:
                    box.lock()
                    entry = mailbox.mboxMessage(raw)
                    entry.set_from(mail_from or "MAILER-DAEMON", True)
                    box.add(entry)
                    box.flush()
                finally:
                    box.unlock()
                    box.close()
            return stored

    def newest_first(self) -> list[StoredMessage]:
        with self._lock:
            return list(reversed(self._messages))

    def get(self, message_id: int) -> StoredMessage | None:
        with self._lock:
            return next((m for m in self._messages if m.id == message_id), None)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            if self.mbox_path is not None and self.mbox_path.exists():
                self.mbox_path.write_bytes(b"")


class _SmtpHandler:
    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.store.add(bytes(envelope.original_content), str(envelope.mail_from or ""))
        return "250 Message accepted for delivery"


# --- web UI ---------------------------------------------------------------------------------

_LAYOUT = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · Boîte mail de développement</title>
<style>
body{font-family:system-ui,Arial,sans-serif;margin:0;color:#1b1f24;background:#f5f7fa}
header{background:#1d3f8c;color:#fff;padding:12px 24px;display:flex;align-items:center;gap:16px}
header a{color:#fff}main{padding:16px 24px;max-width:1100px}
header{flex-wrap:wrap}td{overflow-wrap:anywhere}
@media (max-width:480px){main,header{padding-left:12px;padding-right:12px}th,td{padding:6px 4px}}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:8px;border-bottom:1px solid #d0d7de;vertical-align:top}
pre{white-space:pre-wrap;word-break:break-word;background:#fff;padding:12px;
 border:1px solid #d0d7de}
iframe{width:100%;height:600px;border:1px solid #d0d7de;background:#fff}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;background:#fff;padding:12px}
dt{font-weight:bold}dd{margin:0;word-break:break-word}
button{font:inherit;padding:6px 12px;cursor:pointer}
</style></head><body>
<header><strong>Boîte mail de développement</strong><a href="/">Messages</a>
<a href="/api/messages">API JSON</a></header>
<main>{% block main %}{% endblock %}</main></body></html>"""

_INDEX = """{% extends "layout.html" %}{% block main %}
<h1>Messages reçus ({{ messages|length }})</h1>
<form method="post" action="/clear"><button type="submit">Tout effacer</button></form>
{% if messages %}
<table><thead><tr><th>Date</th><th>À</th><th>Objet</th></tr></thead><tbody>
{% for m in messages %}
<tr><td>{{ m.date.astimezone().strftime("%d/%m/%Y %H:%M:%S") }}</td>
<td>{{ m.recipients|join(", ") }}</td>
<td><a href="/messages/{{ m.id }}">{{ m.header("Subject") or "(sans objet)" }}</a></td></tr>
{% endfor %}</tbody></table>
{% else %}<p>Aucun message pour l'instant. Les emails envoyés par les applications
(SMTP 127.0.0.1:{{ smtp_port }}) apparaîtront ici.</p>{% endif %}
{% endblock %}"""

_MESSAGE = """{% extends "layout.html" %}{% block main %}
<h1>{{ m.header("Subject") or "(sans objet)" }}</h1>
<dl>
<dt>De</dt><dd>{{ m.header("From") }}</dd>
<dt>À</dt><dd>{{ m.header("To") }}</dd>
<dt>Date</dt><dd>{{ m.date.astimezone().strftime("%d/%m/%Y %H:%M:%S") }}</dd>
<dt>Message-ID</dt><dd>{{ m.header("Message-ID") }}</dd>
</dl>
<h2>Texte</h2>
<pre>{{ text_with_links }}</pre>
{% if m.html %}<h2>HTML</h2>
<iframe sandbox src="/messages/{{ m.id }}/html" title="Partie HTML du message"></iframe>{% endif %}
<p><a href="/messages/{{ m.id }}/source">Source du message</a> ·
<a href="/">Retour à la liste</a></p>
{% endblock %}"""


def linkify(text: str) -> Markup:
    """Escape a text, then make its http(s) URLs clickable (each URL escaped as well)."""
    out: list[str] = []
    position = 0
    for match in _LINK.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        start, end = match.start(), match.start() + len(url)
        out.append(str(escape(text[position:start])))
        out.append(f'<a href="{escape(url)}" rel="noreferrer noopener">{escape(url)}</a>')
        position = end
    out.append(str(escape(text[position:])))
    return Markup("".join(out))  # noqa: S704 - every piece was escaped above


def create_mailbox_app(store: MailStore, smtp_port: int = 1025) -> Flask:
    """The web UI and JSON API over `store`."""
    app = Flask(__name__)
    app.jinja_loader = DictLoader(  # .html names: autoescaped
        {"layout.html": _LAYOUT, "index.html": _INDEX, "message.html": _MESSAGE}
    )

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.before_request
    def refuse_cross_site_writes() -> Response | None:
        """No CSRF token on a dev tool: refuse state changes coming from another site."""
        if request.method in {"GET", "HEAD", "OPTIONS"}:
            return None
        site = request.headers.get("Sec-Fetch-Site")
        origin = request.headers.get("Origin")
        if (site and site not in {"same-origin", "none"}) or (
            origin and origin != request.host_url.rstrip("/")
        ):
            abort(403)
        return None

    def find(message_id: int) -> StoredMessage:
        stored = store.get(message_id)
        if stored is None:
            abort(404)
        return stored

    @app.get("/")
    def index() -> str:
        return render_template(
            "index.html", title="Messages", messages=store.newest_first(), smtp_port=smtp_port
        )

    @app.get("/messages/<int:message_id>")
    def show(message_id: int) -> str:
        stored = find(message_id)
        return render_template(
            "message.html",
            title=stored.header("Subject") or "(sans objet)",
            m=stored,
            text_with_links=linkify(stored.text),
        )

    @app.get("/messages/<int:message_id>/html")
    def html_part(message_id: int) -> Response:
        response = Response(find(message_id).html, mimetype="text/html")
        response.headers["Content-Security-Policy"] = HTML_PART_CSP
        return response

    @app.get("/messages/<int:message_id>/source")
    def source(message_id: int) -> Response:
        raw = find(message_id).raw.decode("utf-8", "replace")
        return Response(raw, mimetype="text/plain")

    @app.post("/clear")
    def clear() -> Any:
        store.clear()
        return redirect("/", code=303)

    @app.get("/api/messages")
    def api_list() -> Response:
        return jsonify([m.as_json() for m in store.newest_first()])

    @app.get("/api/messages/<int:message_id>")
    def api_show(message_id: int) -> Response:
        return jsonify(find(message_id).as_json())

    @app.delete("/api/messages")
    def api_clear() -> tuple[str, int]:
        store.clear()
        return "", 204

    return app


# --- running it -----------------------------------------------------------------------------


class Mailbox:
    """The SMTP server and the web UI, started and stopped together (tests use this)."""

    def __init__(
        self,
        smtp_host: str = "127.0.0.1",
        smtp_port: int = 1025,
        http_host: str = "127.0.0.1",
        http_port: int = 8025,
        mbox_path: Path | str | None = None,
    ) -> None:
        self.store = MailStore(Path(mbox_path) if mbox_path is not None else None)
        self.smtp_host, self.smtp_port = smtp_host, smtp_port
        self.controller = Controller(_SmtpHandler(self.store), hostname=smtp_host, port=smtp_port)
        self.app = create_mailbox_app(self.store, smtp_port)
        self.http: BaseWSGIServer = make_server(http_host, http_port, self.app, threaded=True)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.http.host}:{self.http.server_port}"

    def start(self) -> Mailbox:
        self.controller.start()
        self._thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.controller.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __iter__(self) -> Iterator[StoredMessage]:
        return iter(self.store.newest_first())


def serve(
    smtp_host: str = "127.0.0.1",
    smtp_port: int = 1025,
    http_host: str = "127.0.0.1",
    http_port: int = 8025,
    mbox_path: Path | str | None = None,
) -> None:
    """Run the mailbox until interrupted (blocks). `mbox_path` defaults to
    instance/mailbox.mbox."""
    box = Mailbox(smtp_host, smtp_port, http_host, http_port, mbox_path or DEFAULT_MBOX)
    box.controller.start()
    print(
        f"Boîte mail : SMTP {smtp_host}:{smtp_port}, messages sur {box.url}/ "
        f"({len(box.store.newest_first())} conservés dans {box.store.mbox_path})",
        flush=True,
    )
    try:
        box.http.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        box.http.server_close()
        box.controller.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devserver.mailbox", description="Local development mailbox."
    )
    parser.add_argument("--smtp-host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--mbox", default=str(DEFAULT_MBOX), help="mbox file (kept across runs)")
    args = parser.parse_args(argv)
    serve(args.smtp_host, args.smtp_port, args.http_host, args.http_port, args.mbox)


if __name__ == "__main__":
    main()
