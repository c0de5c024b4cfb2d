"""A local mailbox for development: every email the apps send, readable in a browser.

An SMTP server (aiosmtpd) on 127.0.0.1:1025 keeps each message in memory and appends it to an
mbox file (instance/mailbox.mbox by default), so messages survive a restart; a small web UI on
http://127.0.0.1:8025 lists them and shows one, and `GET /api/messages` returns them as JSON
(with the links of the text part) for browser tests and curious people. The list page keeps
itself current: /mailbox.js polls `GET /api/messages/ids` and swaps the list in when it changes.
Times are shown in Paris time, and say so; the API gives ISO 8601 with the sender's offset.

Everything in an email is attacker-controlled text: it is escaped in the pages, and the HTML
part is only ever shown in a sandboxed frame (`srcdoc`, without allow-scripts nor
allow-same-origin): it runs no script, has an opaque origin (so no access to the mailbox with
its credentials), submits no form and, under the page's CSP, loads nothing beyond inline styles
and data: images. Its links open in a new tab, outside the sandbox, as a mail client does.

    python -m devserver.mailbox [--smtp-port 1025] [--http-port 8025] [--mbox PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import email.utils
import mailbox
import re
import shlex
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from babel.dates import format_datetime
from flask import Flask, Response, abort, jsonify, redirect, render_template, request
from jinja2 import DictLoader
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

# instance/ of the repository, next to the IdP's SQLite database, whatever the working directory.
DEFAULT_MBOX = Path(__file__).resolve().parents[1] / "instance" / "mailbox.mbox"
MAX_MESSAGES = 1000  # in memory; the oldest go first (the mbox file keeps them)
_LINK = re.compile(r"https?://[^\s<>\"'«»]+")
_TRAILING = ".,;:!?)]}"
PARIS = ZoneInfo("Europe/Paris")
POLL_PATH = "/api/messages/ids"
# The pages. The email's HTML is a srcdoc frame of the message page, so it lives under this
# policy too: its inline styles apply (style-src 'unsafe-inline'), nothing else loads. No
# inline script anywhere: the only script is /mailbox.js. A srcdoc frame needs no frame-src.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "img-src data:; form-action 'self'; frame-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
# The iframe's sandbox and, for the HTML part opened alone, the CSP sandbox: a unique origin
# where nothing runs; links may open a new tab that is not sandboxed (the IdP's own page).
SANDBOX = "allow-popups allow-popups-to-escape-sandbox"
HTML_PART_CSP = (
    f"sandbox {SANDBOX}; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
# Links of the HTML part open in a new tab, as in a mail client: clicked in the frame, they
# would load the IdP inside it, which the page's CSP (and the IdP's own) refuses.
_NEW_TAB = '<base target="_blank">'
_DOCTYPE = re.compile(r"\A\s*<!doctype[^>]*>", re.IGNORECASE)


def extract_links(text: str) -> list[str]:
    """The http(s) URLs of a text, in order, without trailing punctuation."""
    return [match.rstrip(_TRAILING) for match in _LINK.findall(text)]


def paris_time(moment: datetime) -> str:
    """`2 déc. 2026 19:45 (heure de Paris)`: what a French reader expects, labelled."""
    return format_datetime(moment, "d MMM y HH:mm", tzinfo=PARIS, locale="fr_FR") + (
        " (heure de Paris)"
    )


def links_in_new_tab(html: str) -> str:
    """The HTML part with `<base target="_blank">` first, after the doctype if any (so the
    email keeps the rendering mode it asked for)."""
    doctype = _DOCTYPE.match(html)
    end = doctype.end() if doctype else 0
    return html[:end] + _NEW_TAB + html[end:]


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

    def ids(self) -> list[int]:
        """Newest first: what the list page compares to know it is out of date."""
        with self._lock:
            return [m.id for m in reversed(self._messages)]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            if self.mbox_path is not None and self.mbox_path.exists():
                self.mbox_path.write_bytes(b"")


class _SmtpHandler:
    """Keeps every message; those for a piped domain also go to its command, as a mail
    server's pipe transport would deliver them (the portal's deposit addresses)."""

    def __init__(self, store: MailStore, pipes: dict[str, list[str]] | None = None) -> None:
        self.store = store
        self.pipes = {domain.lower(): command for domain, command in (pipes or {}).items()}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = bytes(envelope.original_content)
        self.store.add(raw, str(envelope.mail_from or ""))
        for recipient in envelope.rcpt_tos:
            command = self.pipes.get(str(recipient).rpartition("@")[2].lower())
            if command:
                await asyncio.to_thread(_pipe, command, str(recipient), raw)
        return "250 Message accepted for delivery"


def _pipe(command: list[str], recipient: str, raw: bytes) -> None:
    try:
        done = subprocess.run(
            [*command, "--recipient", recipient], input=raw, capture_output=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"[mailbox] {recipient}: {error!r}", flush=True)
        return
    said = (done.stdout + done.stderr).decode("utf-8", "replace").strip()
    print(f"[mailbox] {recipient} → code {done.returncode} {said}", flush=True)


# --- web UI ---------------------------------------------------------------------------------

_LAYOUT = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · Boîte mail de développement</title>
<style>
body{font-family:system-ui,Arial,sans-serif;margin:0;color:#1b1f24;background:#f5f7fa;
 line-height:1.4}
header{background:#1d3f8c;color:#fff;padding:12px 24px;display:flex;flex-wrap:wrap;
 align-items:center;gap:4px 16px}
header a{color:#fff}main{padding:16px 24px;max-width:1100px}
h1{font-size:1.6rem;margin:0;overflow-wrap:anywhere}h2{font-size:1.25rem;margin:20px 0 8px}
@media (max-width:480px){main,header{padding-left:12px;padding-right:12px}h1{font-size:1.35rem}}
.toolbar{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;
 gap:8px 16px;margin:4px 0 12px}
.messages{list-style:none;margin:0;padding:0;background:#fff;border:1px solid #d0d7de}
.messages li{padding:10px 12px;border-top:1px solid #d0d7de}
.messages li:first-child{border-top:0}.messages a{font-weight:600;overflow-wrap:anywhere}
.meta{color:#4a5563;font-size:.9rem;overflow-wrap:anywhere;margin-top:2px}
.state{color:#4a5563;font-size:.9rem;min-height:1.4em}
pre{white-space:pre-wrap;word-break:break-word;background:#fff;padding:12px;
 border:1px solid #d0d7de;margin:0}
iframe{display:block;box-sizing:border-box;width:100%;height:80vh;min-height:420px;
 border:1px solid #d0d7de;background:#fff}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;background:#fff;padding:12px;
 margin:12px 0}
dt{font-weight:bold}dd{margin:0;overflow-wrap:anywhere}
button{font:inherit;padding:6px 12px;cursor:pointer}
</style>{% block scripts %}{% endblock %}</head><body>
<header><strong>Boîte mail de développement</strong><a href="/">Messages</a>
<a href="/api/messages">API JSON</a></header>
<main>{% block main %}{% endblock %}</main></body></html>"""

_INDEX = """{% extends "layout.html" %}
{% block scripts %}<script src="/mailbox.js" defer></script>{% endblock %}
{% block main %}
<section id="messages" data-ids="{{ messages|map(attribute='id')|join(',') }}">
<div class="toolbar"><h1>Messages reçus ({{ messages|length }})</h1>
{% if messages %}<form method="post" action="/clear"><button type="submit">Tout effacer</button>
</form>{% endif %}</div>
{% if messages %}<ul class="messages">
{% for m in messages %}<li>
<a href="/messages/{{ m.id }}">{{ m.header("Subject") or "(sans objet)" }}</a>
<div class="meta">À {{ m.recipients|join(", ") }} · {{ time_tag(m.date) }}</div></li>
{% endfor %}</ul>
{% else %}<p>Aucun message pour l'instant. Les emails envoyés par les applications
(SMTP 127.0.0.1:{{ smtp_port }}) apparaîtront ici.</p>{% endif %}
</section>
<p id="state" class="state" role="status"></p>
{% endblock %}"""

_MESSAGE = """{% extends "layout.html" %}{% block main %}
<h1>{{ m.header("Subject") or "(sans objet)" }}</h1>
<dl>
<dt>De</dt><dd>{{ m.header("From") }}</dd>
<dt>À</dt><dd>{{ m.header("To") }}</dd>
<dt>Date</dt><dd>{{ time_tag(m.date) }}</dd>
<dt>Message-ID</dt><dd>{{ m.header("Message-ID") }}</dd>
</dl>
{% if m.html %}<h2>HTML</h2>
<iframe sandbox="{{ sandbox }}" srcdoc="{{ html_document }}" title="Partie HTML du message">
</iframe>
<p><a href="/messages/{{ m.id }}/html" target="_blank">Ouvrir la partie HTML seule</a></p>
{% endif %}<h2>Texte</h2>
<pre>{{ text_with_links }}</pre>
<p><a href="/messages/{{ m.id }}/source">Source du message</a> ·
<a href="/">Retour à la liste</a></p>
{% endblock %}"""

_ERROR = """{% extends "layout.html" %}{% block main %}
<h1>{{ title }}</h1>
<p>{{ detail }}</p>
<p><a href="/">Retour à la liste des messages</a></p>
{% endblock %}"""

# The list page's only script. A file, not inline: the pages' CSP allows no inline script.
_SCRIPT = """// Keeps the message list current. Every 2 seconds, while the tab is visible, it asks
// the JSON API which messages exist; when that differs from the list shown, it fetches the
// page again and swaps the list in. Not a <meta http-equiv="refresh">: that reloads the page
// whether anything changed or not, losing the scroll position, interrupting a click or a
// text selection, and adding a log line to the `make run` console every time.
"use strict";
(function () {
  var INTERVAL_MS = 2000;
  var busy = false;
  var failing = false;
  var state = document.getElementById("state");

  function say(text) {
    if (state && state.textContent !== text) state.textContent = text;
  }

  async function poll() {
    var list = document.getElementById("messages");
    if (!list || busy || document.hidden) return;
    busy = true;
    try {
      var answer = await fetch("/api/messages/ids", { cache: "no-store" });
      if (!answer.ok) throw new Error("HTTP " + answer.status);
      if ((await answer.json()).join(",") !== list.dataset.ids) {
        var page = await fetch("/", { cache: "no-store" });
        if (!page.ok) throw new Error("HTTP " + page.status);
        var fresh = new DOMParser().parseFromString(await page.text(), "text/html");
        var freshList = fresh.getElementById("messages");
        if (freshList) {
          list.replaceWith(document.adoptNode(freshList));
          document.title = fresh.title;
          var now = new Date().toLocaleTimeString("fr-FR", { timeZone: "Europe/Paris" });
          say("Liste mise à jour à " + now + " (heure de Paris).");
          failing = false;
          return;
        }
      }
      if (failing) say("La liste se met à jour toute seule.");
      failing = false;
    } catch (error) {
      failing = true;
      say("Boîte mail injoignable (arrêtée ?) : nouvel essai dans quelques secondes.");
    } finally {
      busy = false;
    }
  }

  say("La liste se met à jour toute seule.");
  setInterval(poll, INTERVAL_MS);
  document.addEventListener("visibilitychange", poll);
})();
"""

# French title and explanation of each error the mailbox can answer (pages and API alike).
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("Requête invalide", "La boîte mail n'a pas compris cette requête."),
    403: (
        "Action refusée",
        "Cette action ne peut venir que d'une page de la boîte mail elle-même : elle est "
        "refusée quand elle vient d'un autre site (protection contre la falsification de "
        "requête). Revenez à la liste et réessayez.",
    ),
    404: ("Page introuvable", "Cette adresse ne correspond à aucune page de la boîte mail."),
    405: (
        "Méthode non autorisée",
        "Cette adresse ne s'ouvre pas ainsi : passez par les liens et boutons de la boîte mail.",
    ),
    500: (
        "Erreur interne",
        "La boîte mail a rencontré une erreur ; le détail est dans la console de « make run ».",
    ),
}


class MessageNotFound(NotFound):
    """A message the mailbox does not hold: never received, or cleared since."""

    title = "Message introuvable"
    detail = (
        "Ce message n'est pas (ou plus) dans la boîte mail : elle a peut-être été vidée "
        "depuis. La liste montre ceux qu'elle contient."
    )


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


def time_tag(moment: datetime) -> Markup:
    """`<time datetime="ISO 8601">2 déc. 2026 19:45 (heure de Paris)</time>`."""
    return Markup('<time datetime="{}">{}</time>').format(moment.isoformat(), paris_time(moment))


def create_mailbox_app(store: MailStore, smtp_port: int = 1025) -> Flask:
    """The web UI and JSON API over `store`."""
    app = Flask(__name__)
    app.jinja_loader = DictLoader(  # .html names: autoescaped
        {
            "layout.html": _LAYOUT,
            "index.html": _INDEX,
            "message.html": _MESSAGE,
            "error.html": _ERROR,
        }
    )
    app.jinja_env.globals["time_tag"] = time_tag

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        # same-origin, not no-referrer: with no-referrer the browser sends `Origin: null` on
        # the page's own form posts, which refuse_cross_site_writes has to refuse. Links to
        # other sites (the email's, in the text or the HTML part) still send no Referer.
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HTTPException)
    def french_error(error: HTTPException) -> tuple[Response | str, int, list[tuple[str, str]]]:
        """Every error in French: a page, or JSON under /api/ (with Allow on a 405)."""
        code = error.code or 500
        title, detail = _ERRORS.get(code, (f"Erreur {code}", error.description or ""))
        if isinstance(error, MessageNotFound):
            title, detail = error.title, error.detail
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        if request.path.startswith("/api/"):
            return jsonify({"status": code, "error": title}), code, headers
        page = render_template("error.html", title=title, detail=detail)
        return page, code, headers

    @app.before_request
    def refuse_cross_site_writes() -> Response | None:
        """No CSRF token on a dev tool: refuse state changes coming from another site. The
        browser says where a request comes from (Sec-Fetch-Site, Origin); the pages' referrer
        policy lets it send their real origin."""
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
            raise MessageNotFound()
        return stored

    @app.get("/")
    def index() -> str:
        messages = store.newest_first()
        return render_template(
            "index.html",
            title=f"Messages ({len(messages)})",
            messages=messages,
            smtp_port=smtp_port,
        )

    @app.get("/mailbox.js")
    def script() -> Response:
        return Response(_SCRIPT, mimetype="text/javascript")

    @app.get("/messages/<int:message_id>")
    def show(message_id: int) -> str:
        stored = find(message_id)
        return render_template(
            "message.html",
            title=stored.header("Subject") or "(sans objet)",
            m=stored,
            text_with_links=linkify(stored.text),
            sandbox=SANDBOX,
            html_document=links_in_new_tab(stored.html),
        )

    @app.get("/messages/<int:message_id>/html")
    def html_part(message_id: int) -> Response:
        response = Response(links_in_new_tab(find(message_id).html), mimetype="text/html")
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

    @app.get(POLL_PATH)
    def api_ids() -> Response:
        return jsonify(store.ids())

    @app.get("/api/messages/<int:message_id>")
    def api_show(message_id: int) -> Response:
        return jsonify(find(message_id).as_json())

    @app.delete("/api/messages")
    def api_clear() -> tuple[str, int]:
        store.clear()
        return "", 204

    return app


# --- running it -----------------------------------------------------------------------------


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's, without a log line for each poll of the list page (one every 2 seconds)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.path == POLL_PATH and str(code).startswith("2"):
            return
        super().log_request(code, size)


class Mailbox:
    """The SMTP server and the web UI, started and stopped together: in threads (`start`,
    `stop`; the tests) or until interrupted (`serve_forever`; `make run`)."""

    def __init__(
        self,
        smtp_host: str = "127.0.0.1",
        smtp_port: int = 1025,
        http_host: str = "127.0.0.1",
        http_port: int = 8025,
        mbox_path: Path | str | None = None,
        pipes: dict[str, list[str]] | None = None,
    ) -> None:
        self.store = MailStore(Path(mbox_path) if mbox_path is not None else None)
        self.smtp_host, self.smtp_port = smtp_host, smtp_port
        self.controller = Controller(
            _SmtpHandler(self.store, pipes), hostname=smtp_host, port=smtp_port
        )
        self.app = create_mailbox_app(self.store, smtp_port)
        self.http: BaseWSGIServer = make_server(
            http_host, http_port, self.app, threaded=True, request_handler=_RequestHandler
        )
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

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C), then close both servers."""
        self.controller.start()
        print(
            f"Boîte mail : SMTP {self.smtp_host}:{self.smtp_port}, messages sur {self.url}/ "
            f"({len(self.store.ids())} conservés dans {self.store.mbox_path})",
            flush=True,
        )
        try:
            self.http.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.http.server_close()
            self.controller.stop()

    def __iter__(self) -> Iterator[StoredMessage]:
        return iter(self.store.newest_first())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devserver.mailbox", description="Local development mailbox."
    )
    parser.add_argument("--smtp-host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--mbox", default=str(DEFAULT_MBOX), help="mbox file (kept across runs)")
    parser.add_argument(
        "--pipe",
        nargs=2,
        action="append",
        default=[],
        metavar=("DOMAIN", "COMMAND"),
        help="also give messages for DOMAIN to COMMAND (split on spaces) on stdin, with "
        "--recipient ADDRESS, as a mail server's pipe transport does",
    )
    args = parser.parse_args(argv)
    pipes = {domain: shlex.split(command) for domain, command in args.pipe}
    Mailbox(
        args.smtp_host, args.smtp_port, args.http_host, args.http_port, args.mbox, pipes
    ).serve_forever()


if __name__ == "__main__":
    main()
