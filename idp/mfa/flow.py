"""The web side of second factors: a login waiting for its second factor, finishing a login or
a step-up, and the "recent authentication" guard of factor changes (ADR 0022).

A login that needs a second factor ("toujours demander", or a passkey-less account logging in
to a site that demands it after the password) does not open a session after the password:
`begin_pending_login` keeps who passed the password, with the credential epoch read before the
check, in the signed cookie for `MfaSettings.pending_login` seconds; `complete` then opens the
session with both factors. A live session passing a second factor is stepped up in place: its
`acr`/`amr`/`auth_time` change and its cookie token rotates (docs/security.md 14).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from flask import redirect, request, session, url_for
from werkzeug.wrappers import Response

from idp.accounts.auth import current_session, login_user, rotate_session, safe_next_url
from idp.accounts.models import User, UserSession
from idp.accounts.services import Authenticated
from idp.audit.models import AuditEventType
from idp.audit.services import record
from idp.config import settings
from idp.database import utcnow
from idp.extensions import db
from idp.mfa import factors

PENDING_KEY = "mfa_pending"

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class PendingLogin:
    user: User
    credential_epoch: int
    next_url: str


def begin_pending_login(authenticated: Authenticated, next_url: str) -> Response:
    """The password was right; the second factor comes next, on the second-factor page."""
    session[PENDING_KEY] = {
        "u": authenticated.user.id,
        "e": authenticated.credential_epoch,
        "t": time.time(),
        "n": next_url,
    }
    return redirect(url_for("mfa.verify"))


def pending_login() -> PendingLogin | None:
    """The login waiting for its second factor in this browser, if still valid (not too old,
    the account active, its password unchanged since)."""
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None
    try:
        started, user_id, epoch = float(data["t"]), int(data["u"]), int(data["e"])
        next_url = str(data.get("n") or "")
    except (KeyError, TypeError, ValueError):
        return None
    if time.time() - started > settings().mfa.pending_login:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.is_active or user.credential_epoch != epoch:
        return None
    return PendingLogin(user, epoch, safe_next_url(next_url, url_for("accounts.account")))


def verifying_user() -> tuple[User, PendingLogin | None] | None:
    """Who the second-factor page is for: a pending login, else the live session's user."""
    pending = pending_login()
    if pending is not None:
        return pending.user, pending
    user_session = current_session()
    if user_session is not None and user_session.user.is_active:
        return user_session.user, None
    return None


def complete(user: User, methods: list[str], *, next_url: str | None = None) -> Response:
    """A second factor of `user` passed: open the pending login's session with both factors,
    or step up this browser's session; commit; go on to where the login was going."""
    pending = pending_login()
    if pending is not None and pending.user.id == user.id:
        amr = factors.combine_amr(["pwd"], methods)
        login_user(
            user,
            credential_epoch=pending.credential_epoch,
            amr=" ".join(amr),
            acr=factors.acr_for(amr),
        )
        target = pending.next_url
        record(db.session, AuditEventType.SECOND_FACTOR_PASSED, subject=user, amr=amr)
    else:
        user_session = current_session()
        if user_session is None or user_session.user_id != user.id:
            db.session.rollback()
            return redirect(url_for("accounts.login"))
        factors.step_up(db.session, user_session, methods)
        rotate_session(user_session)
        target = safe_next_url(next_url, url_for("accounts.account"))
    db.session.commit()
    return redirect(target)


# --- recent authentication --------------------------------------------------------------------


def is_recent(user_session: UserSession) -> bool:
    """Whether the session authenticated (login, step-up, or "Confirmez votre identité") within
    `MfaSettings.recent_auth` seconds."""
    age = (utcnow() - user_session.auth_time).total_seconds()
    return age <= settings().mfa.recent_auth


def recent_auth_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    """Adding or removing a factor needs a recent authentication: otherwise the user confirms
    their identity first (`mfa.confirm_identity`, then back here). Implies login_required."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        user_session = current_session()
        if user_session is None:
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        if not is_recent(user_session):
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("mfa.confirm_identity", next=target or url_for("mfa.security")))
        return view(*args, **kwargs)

    return wrapped


def mark_reauthenticated(user_session: UserSession, method: str) -> None:
    """ "Confirmez votre identité" passed: the session's authentication is recent again (its
    acr and amr unchanged: the proof was one factor)."""
    user_session.auth_time = utcnow()
    record(
        db.session,
        AuditEventType.REAUTHENTICATED,
        subject=user_session.user,
        sid=user_session.public_id,
        method=method,
    )
