"""The installable web app (ADR 0026): its manifest, its service worker, its offline page, and
the session endpoint of the offline deposit queue.

- `/manifest.webmanifest`: name, icons (static/icons/, see its README), standalone display,
  the portal's colours (css/portal.css: --brand, --bg).
- `/sw.js`: static/js/sw.js served from the root so that its scope is the whole portal (a
  worker under /static/ could only control /static/). Its cache name carries a hash of the app
  shell's files and of the worker itself: change a stylesheet and the browser finds a new
  worker, which fills a new cache and drops the old one. `Cache-Control: no-cache`: the browser
  asks again (conditionally) every time it checks for an update.
- `/hors-ligne`: what the worker shows for a page it never kept; it names no one (it is cached
  at install, under the session of that moment, and must not show that person to the next).
- `/app/session`: who is logged in (public id) and a CSRF token of this session, as JSON,
  never cached. The queue flushes deposits made hours ago, from a page (or the worker) whose
  form token may be stale; the session cookie still holds, so it fetches a fresh token here
  first. Same-origin only: no CORS header, so another site cannot read it; it changes nothing.
  The public id tells the queue whose deposits it may send (a queued file is sent only by
  the person who chose it).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, url_for
from flask_wtf.csrf import generate_csrf

from client_portal_rp.accounts import current_user

bp = Blueprint("pwa", __name__)

THEME_COLOR = "#0f5a4a"  # --brand in static/css/portal.css
BACKGROUND_COLOR = "#f4f6f5"  # --bg
# The app shell: what the worker caches at install (static/ paths), so the app opens offline.
SHELL_FILES = (
    "css/portal.css",
    "css/deposits.css",
    "css/archives.css",
    "js/pwa.js",
    "js/deposits.js",
    "js/deposit-queue.js",
    "icons/icon-192.png",
    "icons/icon-maskable-192.png",
)
SHELL_MARKER = "/*__SHELL__*/"
VERSION_MARKER = "__SHELL_VERSION__"


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    icons: list[dict[str, Any]] = [
        {
            "src": url_for("static", filename=f"icons/{name}-{size}.png"),
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": purpose,
        }
        for name, purpose in (("icon", "any"), ("icon-maskable", "maskable"))
        for size in (192, 512)
    ]
    body = {
        "id": "/",
        "name": "Portail client",
        "short_name": "Portail",
        "description": "Déposez vos pièces, consultez votre compta et vos archives.",
        "lang": "fr",
        "dir": "ltr",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": icons,
    }
    response = Response(
        json.dumps(body, ensure_ascii=False, indent=1), mimetype="application/manifest+json"
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


@lru_cache(maxsize=4)
def _worker_source(static_folder: str, static_url: str) -> str:
    """sw.js with the shell's URLs and version filled in (files read once per process)."""
    root = Path(static_folder)
    source = (root / "js" / "sw.js").read_text(encoding="utf-8")
    digest = hashlib.sha256(source.encode())
    for name in SHELL_FILES:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    offline = "/hors-ligne"
    urls = [f"{static_url}/{name}" for name in SHELL_FILES] + [offline]
    return source.replace(SHELL_MARKER, ", ".join(json.dumps(url) for url in urls)).replace(
        VERSION_MARKER, digest.hexdigest()[:16]
    )


@bp.get("/sw.js")
def service_worker() -> Response:
    source = _worker_source(
        current_app.static_folder or "static", current_app.static_url_path or "/static"
    )
    if current_app.debug:  # editing sw.js in development: no restart needed
        _worker_source.cache_clear()
    response = Response(source, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/hors-ligne")
def offline() -> str:
    return render_template("offline.html")


@bp.get("/app/session")
def session_state() -> Response:
    user = current_user()
    response = jsonify(
        user=user.public_id if user is not None else None,
        csrf_token=generate_csrf() if user is not None else None,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
