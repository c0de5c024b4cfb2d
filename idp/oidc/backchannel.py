"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the delivery outbox's worker.

Ending an IdP session queues one `BackchannelLogout` row per client the session was used for
(`idp.oidc.logout.on_sessions_ended`, in the transaction that ends the session). This module
delivers them, out of any request: from `idp oidc deliver-logouts` (once, or `--loop`, the
worker `make run` starts next to the email one), so a slow or dead partner site never delays
a logout. Authlib has no back-channel logout (authlib issue #560): the token and the delivery
are ours.

Claiming copies the email outbox (idp/mail/delivery.py): a batch is leased in a short
transaction of its own (`UPDATE ... WHERE id IN (...) AND delivered_at IS NULL AND
given_up_at IS NULL AND next_attempt_at <= now`, with FOR UPDATE SKIP LOCKED on PostgreSQL),
committed before any HTTP call, so two workers never post the same row at once. The POSTs of
a batch run in parallel (a hung site costs the batch one timeout, not one per row); each
outcome is committed as soon as the batch's requests are done. Delivery is at-least-once: a
crash between the site's 200 and the commit posts the logout again (with a new `jti`), which
a relying party handles as a no-op.

The logout token is signed at delivery with the current key of the client's ID token
algorithm: `typ: logout+jwt`, `iss`, `aud` (the client id), `iat`, `exp` (two minutes),
`jti`, `events`, `sid` and `sub`, never a `nonce` (Back-Channel Logout 1.0 §2.4).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from joserfc import jwt
from sqlalchemy import select, update

from idp.accounts.models import User
from idp.config import settings
from idp.database import DbSession, utcnow
from idp.oidc.models import BackchannelLogout, OAuthClient
from idp.workers import exponential_backoff, poll_until_stopped

log = logging.getLogger("idp.oidc.backchannel")

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_LIFETIME = 120  # seconds: the token is signed just before it is posted
SIGNING_ALGORITHMS = ("RS256", "ES256")
BACKOFF_BASE_SECONDS = 10
BACKOFF_MAX_SECONDS = 3600
DEFAULT_BATCH_SIZE = 50
PARALLEL_POSTS = 8
MIN_LEASE_SECONDS = 120


def backoff(attempts: int) -> timedelta:
    """10 s, 20 s, 40 s ... capped at one hour: 8 attempts span about 20 minutes."""
    return exponential_backoff(
        attempts, base_seconds=BACKOFF_BASE_SECONDS, max_seconds=BACKOFF_MAX_SECONDS
    )


@dataclass
class LogoutDeliveryReport:
    """What one call of `deliver_pending_logouts` did."""

    claimed: int = 0
    delivered: int = 0
    failed: int = 0  # not delivered this time, will be retried
    gave_up: int = 0  # not delivered, no more attempts

    @property
    def ok(self) -> bool:
        return not (self.failed or self.gave_up)


def logout_token(client: OAuthClient, sid: str, subject: str | None) -> str:
    """A freshly signed logout token for `client` about the IdP session `sid`."""
    from idp.oidc.keys import current_signing_key

    alg = client.id_token_signed_response_alg
    if alg not in SIGNING_ALGORITHMS:
        alg = "RS256"
    key = current_signing_key(alg)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings().issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_LIFETIME,
        "jti": secrets.token_urlsafe(16),
        "events": {LOGOUT_EVENT: {}},
        "sid": sid,
    }
    if subject:
        claims["sub"] = subject
    header = {"alg": alg, "typ": "logout+jwt", "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=[alg])


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A back-channel logout URI answers itself: a redirect is a failure, never followed (a
    POST turned into a GET elsewhere would lose the token, or hand it to another host)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


class DeliveryRefused(Exception):
    """The relying party answered, but not 200 or 204."""


def post_logout_token(uri: str, token: str, timeout: float) -> None:
    """POST `logout_token=<JWT>` form-encoded; return on 200/204, raise otherwise."""
    body = urllib.parse.urlencode({"logout_token": token}).encode()
    request = urllib.request.Request(  # noqa: S310 - an https (or loopback) URI an admin registered
        uri,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json, */*;q=0.1",
            "Cache-Control": "no-store",
            "User-Agent": "Sesame-IdP back-channel logout",
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            status = response.status
            response.read(4096)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DeliveryRefused(f"HTTP {exc.code}") from exc
    if status not in (200, 204):
        raise DeliveryRefused(f"HTTP {status}")


# The function that posts a token; tests swap it for one that records what it is given.
Poster = Callable[[str, str, float], None]


def deliver_pending_logouts(
    session: DbSession,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    should_stop: Callable[[], bool] | None = None,
    post: Poster = post_logout_token,
) -> LogoutDeliveryReport:
    """Post up to `batch_size` due logout tokens (in parallel); commit each outcome.

    `should_stop` is asked before the batch's requests start (a worker being shut down): the
    batch is then handed back, due at once, for the next worker.
    """
    report = LogoutDeliveryReport()
    cfg = settings().oidc
    timeout = float(cfg.backchannel_timeout)
    rounds = -(-batch_size // PARALLEL_POSTS)
    lease = timedelta(seconds=max(MIN_LEASE_SECONDS, (rounds + 1) * 3 * timeout))
    claimed = _claim(session, batch_size, utcnow() + lease)
    report.claimed = len(claimed)
    if not claimed:
        return report
    if should_stop and should_stop():
        _release(session, claimed)
        return report
    jobs: list[tuple[int, str, str]] = []
    for row_id in claimed:
        row = session.get(BackchannelLogout, row_id)
        if row is None or row.delivered_at is not None or row.given_up_at is not None:
            continue
        client = row.client
        if not client.backchannel_logout_uri or client.disabled_at is not None:
            _give_up(row, "client disabled or without a back-channel logout URI", report)
            continue
        user = session.get(User, row.user_id) if row.user_id else None
        subject = user.subject if user is not None else None
        try:
            token = logout_token(client, row.session_public_id, subject)
        except Exception as exc:  # no signing key yet, key store unreadable: retry later
            _record_failure(row, exc, cfg.backchannel_max_attempts, report)
            continue
        jobs.append((row_id, client.backchannel_logout_uri, token))
    session.commit()  # what was decided without a request (given up, key errors)

    outcomes = _post_all(jobs, timeout, post)
    for row_id, error in outcomes:
        row = session.get(BackchannelLogout, row_id)
        if row is None:
            continue
        if error is None:
            row.attempts += 1
            row.delivered_at = utcnow()
            row.last_error = None
            report.delivered += 1
        else:
            _record_failure(row, error, cfg.backchannel_max_attempts, report)
    session.commit()
    return report


def _post_all(
    jobs: list[tuple[int, str, str]], timeout: float, post: Poster
) -> list[tuple[int, Exception | None]]:
    def one(job: tuple[int, str, str]) -> tuple[int, Exception | None]:
        row_id, uri, token = job
        try:
            post(uri, token, timeout)
        except Exception as exc:  # refused, reset, timed out, bad status
            return row_id, exc
        return row_id, None

    if not jobs:
        return []
    if len(jobs) == 1:
        return [one(jobs[0])]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_POSTS, len(jobs))) as pool:
        return list(pool.map(one, jobs))


def _claim(session: DbSession, batch_size: int, lease_until: datetime) -> list[int]:
    """Lease up to `batch_size` due rows to this worker (committed); return their ids. A lost
    race (SQLite reads take no lock) is retried a few times."""
    for _ in range(5):
        candidates, claimed = _try_claim(session, batch_size, lease_until)
        if claimed or not candidates:
            return claimed
    return []


def _pending() -> list[Any]:
    return [BackchannelLogout.delivered_at.is_(None), BackchannelLogout.given_up_at.is_(None)]


def _try_claim(
    session: DbSession, batch_size: int, lease_until: datetime
) -> tuple[list[int], list[int]]:
    now = utcnow()
    due = (
        select(BackchannelLogout.id)
        .where(*_pending(), BackchannelLogout.next_attempt_at <= now)
        .order_by(BackchannelLogout.next_attempt_at, BackchannelLogout.id)
        .limit(batch_size)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    candidates = list(session.scalars(due))
    if not candidates:
        session.rollback()
        return [], []
    claimed = session.scalars(
        update(BackchannelLogout)
        .where(
            BackchannelLogout.id.in_(candidates),
            *_pending(),
            BackchannelLogout.next_attempt_at <= now,
        )
        .values(next_attempt_at=lease_until)
        .returning(BackchannelLogout.id),
        execution_options={"synchronize_session": False},
    ).all()
    session.commit()
    return candidates, sorted(claimed, key=candidates.index)


def _release(session: DbSession, ids: list[int]) -> None:
    """Hand back claimed rows that were not tried: due at once for any worker."""
    session.execute(
        update(BackchannelLogout)
        .where(BackchannelLogout.id.in_(ids), *_pending())
        .values(next_attempt_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    session.commit()


def _give_up(row: BackchannelLogout, reason: str, report: LogoutDeliveryReport) -> None:
    row.given_up_at = utcnow()
    row.last_error = reason[:300]
    report.gave_up += 1
    log.warning("back-channel logout %s given up: %s", row.id, reason)


def _record_failure(
    row: BackchannelLogout, exc: Exception, max_attempts: int, report: LogoutDeliveryReport
) -> None:
    row.attempts += 1
    row.last_error = f"{type(exc).__name__}: {exc}"[:300]
    if row.attempts >= max_attempts:
        row.given_up_at = utcnow()
        report.gave_up += 1
        log.error(
            "back-channel logout %s to client %s given up after %d attempt(s): %s",
            row.id,
            row.client_id,
            row.attempts,
            exc,
        )
    else:
        row.next_attempt_at = utcnow() + backoff(row.attempts)
        report.failed += 1
        log.warning(
            "back-channel logout %s to client %s not delivered (attempt %d): %s",
            row.id,
            row.client_id,
            row.attempts,
            exc,
        )


def run_logout_delivery_loop(
    app: Flask,
    *,
    interval: float,
    batch_size: int = DEFAULT_BATCH_SIZE,
    stop: threading.Event,
    echo: Callable[[str], None] = print,
) -> None:
    """Poll the back-channel outbox until `stop` is set; survive site and database outages
    (idp.workers.poll_until_stopped, as the email worker does)."""
    from idp.extensions import db

    def poll() -> LogoutDeliveryReport:
        _end_timed_out_sessions(db.session, echo)
        return deliver_pending_logouts(db.session, batch_size=batch_size, should_stop=stop.is_set)

    poll_until_stopped(
        app,
        poll,
        interval=interval,
        batch_size=batch_size,
        stop=stop,
        echo=echo,
        summary=summary,
        failure="des déconnexions",
        recovered="Déconnexions rétablies.",
        logger=log,
    )


def _end_timed_out_sessions(session: Any, echo: Callable[[str], None]) -> None:
    """Sessions that timed out while their browser stayed away end here, so their partner
    sites hear of it (their logouts are queued and delivered by the same pass)."""
    from idp.accounts.sessions import end_timed_out_sessions

    ended = end_timed_out_sessions(session)
    session.commit()
    if ended:
        echo(f"{len(ended)} session(s) expirée(s) terminée(s).")


def summary(report: LogoutDeliveryReport) -> str:
    return (
        f"{report.delivered} déconnexion(s) transmise(s), {report.failed} en attente d'un "
        f"nouvel essai, {report.gave_up} abandonnée(s)"
    )
