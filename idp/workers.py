"""What the background workers share (the email outbox, back-channel logouts): exponential
backoff, and the polling loop that survives outages of the database or of the far side."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol, TypeVar

from flask import Flask

log = logging.getLogger("idp.workers")


class PollReport(Protocol):
    @property
    def claimed(self) -> int: ...


R = TypeVar("R", bound=PollReport)


def exponential_backoff(attempts: int, *, base_seconds: int, max_seconds: int) -> timedelta:
    """base, 2 × base, 4 × base ... after the 1st, 2nd, 3rd failed attempt, capped."""
    return timedelta(seconds=min(max_seconds, base_seconds * 2 ** max(0, attempts - 1)))


def discard_session() -> None:
    """Drop the session after a failure: a connection broken by a database restart is not
    reused (`pool_pre_ping` gives the next poll a working one)."""
    from idp.extensions import db

    try:
        db.session.rollback()
    except Exception:  # the connection is gone: there is nothing to roll back
        log.debug("rollback failed", exc_info=True)
    db.session.remove()


def poll_until_stopped(
    app: Flask,
    poll: Callable[[], R],
    *,
    interval: float,
    batch_size: int,
    stop: threading.Event,
    echo: Callable[[str], None],
    summary: Callable[[R], str],
    failure: str,
    recovered: str,
    logger: logging.Logger,
) -> None:
    """Call `poll` until `stop` is set, each time in a fresh app context (hence a fresh
    session). An exception is one French line per outage (`failure` names what failed), then
    `recovered` when a poll works again; a full batch means more is due: poll again at once."""
    failing = False
    while not stop.is_set():
        with app.app_context():
            report: R | None = None
            try:
                report = poll()
            except Exception as exc:
                discard_session()
                if not failing:  # one line per outage, not one per poll
                    logger.exception("%s failed", logger.name)
                    reason = (str(exc).splitlines() or [type(exc).__name__])[0]
                    echo(f"Échec {failure} (nouvel essai dans {interval:g} s) : {reason}")
                failing = True
            else:
                if failing:
                    echo(recovered)
                failing = False
                if report.claimed:
                    echo(summary(report))
        if report is None or report.claimed < batch_size:
            stop.wait(interval)
