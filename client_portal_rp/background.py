"""Work that runs after the answer: sending the outbox, processing photos.

The view commits, then `after_response(task)` runs `task` once the response is ready: in a
thread with its own app context (the person does not wait for SMTP or a HEIC conversion), or
inline when `PORTAL_BACKGROUND_INLINE` is set (tests: the effect is there when the request
returns). Nothing is lost if the process dies meanwhile: the work is in the database (outbox
rows, deposits with `processing = pending`) and `portal mail deliver` / `portal jobs run` pick
it up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask, after_this_request, current_app, has_request_context
from werkzeug.wrappers import Response

log = logging.getLogger("client_portal_rp.background")


def run_in_app(app: Flask, task: Callable[[], object]) -> None:
    from client_portal_rp.extensions import db

    with app.app_context():
        try:
            task()
        except Exception:  # logged, the work stays pending in the database
            log.exception("background task %s failed", getattr(task, "__name__", task))
        finally:
            db.session.remove()


def after_response(task: Callable[[], object]) -> None:
    """Run `task` after this request's view has returned (and committed). Outside a request
    (commands) nothing is scheduled: the command runs the work itself."""
    if not has_request_context():
        return
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]

    @after_this_request
    def start(response: Response) -> Response:
        if app.config.get("PORTAL_BACKGROUND_INLINE"):
            task()
        else:
            threading.Thread(target=run_in_app, args=(app, task), daemon=True).start()
        return response
