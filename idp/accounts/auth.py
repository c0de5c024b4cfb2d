"""The web side of sessions: who is logged in on this request, login, logout, guards.

Flask's signed cookie carries only the random token of a server-side `UserSession` (plus the
CSRF token and the language). Login clears the cookie session first, so the token and the CSRF
token are new after authentication (docs/security.md 14). See
docs/adr/0002-server-side-sessions.md.

`current_session()` only reads. What the request learnt about its session (an idle session to
end, a `last_seen_at` to refresh) is written after the view, by `session_housekeeping`, in its
own commit: a getter never commits a view's half-done work.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

from flask import Flask, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from idp.accounts import sessions
from idp.accounts.models import User, UserSession
from idp.extensions import db
from idp.web_context import client_ip, user_agent

# The cookie-session key of the server-side session's secret token. (OIDC's `sid` is the
# session's *public* id: the two must never be confused.)
SESSION_TOKEN_KEY = "session_token"  # noqa: S105 - a cookie-session key, not a secret

P = ParamSpec("P")
R = TypeVar("R")


def _lookup() -> sessions.Lookup:
    if "session_lookup" not in g:
        token = session.get(SESSION_TOKEN_KEY)
        g.session_lookup = sessions.find_session(db.session, token) if token else sessions.Lookup()
    lookup: sessions.Lookup = g.session_lookup
    return lookup


def current_session() -> UserSession | None:
    """The live server-side session of this request, resolved once per request. Reads only."""
    return _lookup().live


def current_user() -> User | None:
    user_session = current_session()
    return user_session.user if user_session else None


def _clear_cookie_session() -> None:
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


def login_user(
    user: User, *, credential_epoch: int, amr: str = "pwd", acr: str = ""
) -> UserSession:
    """Start a new server-side session for `user` in a fresh cookie session; the session this
    browser had (if any) ends, so one browser holds one session."""
    previous = current_session()
    if previous is not None:
        sessions.end_sessions(db.session, [previous], reason=sessions.EndReason.REPLACED)
    _clear_cookie_session()
    user_session, token = sessions.start_session(
        db.session,
        user,
        credential_epoch=credential_epoch,
        amr=amr,
        acr=acr,
        ip=client_ip(),
        user_agent=user_agent(),
    )
    session[SESSION_TOKEN_KEY] = token
    session.permanent = True
    g.session_lookup = sessions.Lookup(live=user_session)
    return user_session


def rotate_session(user_session: UserSession) -> None:
    """A privilege change on this browser's session (a step-up): new cookie token and new CSRF
    token, same session (docs/security.md 14). The old cookie no longer designates it."""
    token = sessions.rotate_session_token(user_session)
    _clear_cookie_session()
    session[SESSION_TOKEN_KEY] = token
    session.permanent = True
    g.session_lookup = sessions.Lookup(live=user_session)


def logout_user() -> list[sessions.EndedSession]:
    """End this browser's session (if any) and forget it in the cookie."""
    user_session = current_session()
    ended = []
    if user_session is not None:
        ended = sessions.end_sessions(db.session, [user_session], reason=sessions.EndReason.LOGOUT)
    forget_session()
    return ended


def forget_session() -> None:
    """Drop this browser's session token (the server-side session was ended elsewhere)."""
    _clear_cookie_session()
    g.session_lookup = sessions.Lookup()


def init_session_housekeeping(app: Flask) -> None:
    @app.after_request
    def session_housekeeping(response: Response) -> Response:
        """End the session this request found idle/expired, or refresh its last_seen_at.

        Runs after the view (which committed its own work). Skipped when the view left
        uncommitted changes: those are not ours to commit; the next request tries again.
        """
        lookup: sessions.Lookup | None = g.get("session_lookup")
        if lookup is None or db.session.new or db.session.dirty or db.session.deleted:
            return response
        if lookup.ending is not None and lookup.reason is not None:
            sessions.end_sessions(db.session, [lookup.ending], reason=lookup.reason)
            session.pop(SESSION_TOKEN_KEY, None)
        elif lookup.live is not None and sessions.needs_touch(lookup.live):
            lookup.live.last_seen_at = sessions.utcnow()
        else:
            return response
        db.session.commit()
        return response


def login_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        if current_user() is None:
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def safe_next_url(target: str | None, default: str) -> str:
    """Only local absolute paths are followed after login (docs/security.md 17).

    The percent-decoded form is checked too: `/%5Cevil.example` or `/%2F/evil.example` are
    harmless to a browser today, but one decoding step (a proxy, another redirect) away from
    `/\\evil.example` and `//evil.example`. No legitimate local target needs them.
    """
    if not target or len(target) > 2000:
        return default
    if not all(_is_local_path(form) for form in (target, unquote(target))):
        return default
    return target


def _is_local_path(target: str) -> bool:
    if any(c in target for c in ("\\", "\r", "\n", "\t", "\x00")) or not target.startswith("/"):
        return False
    if target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not (parts.scheme or parts.netloc)
