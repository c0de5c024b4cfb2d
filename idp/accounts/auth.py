"""The web side of sessions: who is logged in on this request, login, logout, guards.

Flask's signed cookie carries only the random token of a server-side `UserSession` (plus the
CSRF token and the language). Login clears the cookie session first, so the token and the CSRF
token are new after authentication (SECURITY.md 14). See docs/adr/0002-server-side-sessions.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

from flask import g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from idp.accounts import services
from idp.accounts.models import User, UserSession
from idp.extensions import db

SESSION_TOKEN_KEY = "sid"  # noqa: S105 - a cookie-session key, not a secret

P = ParamSpec("P")
R = TypeVar("R")


def current_session() -> UserSession | None:
    """The live server-side session of this request, resolved once per request."""
    if "user_session" not in g:
        token = session.get(SESSION_TOKEN_KEY)
        g.user_session = services.resolve_session(db.session, token) if token else None
        if token and g.user_session is None:
            session.pop(SESSION_TOKEN_KEY, None)
        if db.session.dirty:
            db.session.commit()
    user_session: UserSession | None = g.user_session
    return user_session


def current_user() -> User | None:
    user_session = current_session()
    return user_session.user if user_session else None


def login_user(user: User, *, amr: str = "pwd") -> UserSession:
    """Start a new server-side session for `user` in a fresh cookie session."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    user_session, token = services.start_session(
        db.session,
        user,
        amr=amr,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
    )
    session[SESSION_TOKEN_KEY] = token
    session.permanent = True
    g.user_session = user_session
    return user_session


def logout_user() -> None:
    user_session = current_session()
    if user_session is not None:
        services.end_session(db.session, user_session)
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    g.user_session = None


def login_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        if current_user() is None:
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def safe_next_url(target: str | None, default: str) -> str:
    """Only local absolute paths are followed after login (SECURITY.md 17).

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
