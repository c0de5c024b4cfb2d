"""`idp mail deliver | list | retry`: the outbox worker and the operators' tools."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from idp.mail.delivery import DEFAULT_BATCH_SIZE, DeliveryReport, deliver_pending
from idp.mail.models import OutboxMessage, OutboxStatus
from idp.workers import discard_session, poll_until_stopped

log = logging.getLogger("idp.mail")

mail_cli = AppGroup("mail", help="Email outbox.")  # commands run in an app context


def summary(report: DeliveryReport) -> str:
    return (
        f"{report.sent} envoyé(s), {report.failed} en attente d'un nouvel essai, "
        f"{report.gave_up} abandonné(s)"
    )


@mail_cli.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering until interrupted (SIGTERM, Ctrl-C).")
@click.option(
    "--interval", default=2.0, show_default=True, type=float, help="Seconds between polls."
)
@click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True, type=int)
def deliver(loop: bool, interval: float, batch_size: int) -> None:
    """Send the emails waiting in the outbox.

    Once: exit code 0 when every due message was sent, 1 when some wait for a retry or were
    given up (or the database is unreachable). --loop never exits on SMTP or database errors:
    it logs them and tries again at the next poll.
    """
    from idp.extensions import db

    if loop:
        stop = threading.Event()
        _stop_on_signals(stop)
        run_delivery_loop(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            interval=interval,
            batch_size=batch_size,
            stop=stop,
            echo=click.echo,
        )
        return
    try:
        _process_email_requests()
        report = deliver_pending(db.session, batch_size=batch_size)
    except Exception as exc:  # database unreachable: say it, in one line
        discard_session()
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise click.ClickException(f"Échec de la distribution : {reason}") from exc
    click.echo(summary(report))
    if not report.ok:
        raise SystemExit(1)


def run_delivery_loop(
    app: Flask,
    *,
    interval: float,
    batch_size: int = DEFAULT_BATCH_SIZE,
    stop: threading.Event,
    echo: Callable[[str], None] = click.echo,
) -> None:
    """Poll the outbox until `stop` is set; survive SMTP and database outages
    (idp.workers.poll_until_stopped)."""
    from idp.extensions import db

    def poll() -> DeliveryReport:
        _process_email_requests()
        return deliver_pending(db.session, batch_size=batch_size, should_stop=stop.is_set)

    poll_until_stopped(
        app,
        poll,
        interval=interval,
        batch_size=batch_size,
        stop=stop,
        echo=echo,
        summary=summary,
        failure="de la distribution",
        recovered="Distribution rétablie.",
        logger=log,
    )


def _process_email_requests() -> None:
    """Anonymous visitors' email requests not processed after their response (a crash)."""
    from idp.accounts.email_requests import process_pending
    from idp.extensions import db

    process_pending(db.session)


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT finish the message in flight, hand back the rest, then exit."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@mail_cli.command("list")
@click.option(
    "--status",
    type=click.Choice([s.value for s in OutboxStatus]),
    multiple=True,
    help="Default: pending and failed.",
)
@click.option("--limit", default=100, show_default=True, type=int)
def list_messages(status: tuple[str, ...], limit: int) -> None:
    """List outbox messages: id, status, attempts, next attempt, recipient, template, error."""
    from idp.extensions import db

    statuses = list(status) or [OutboxStatus.PENDING.value, OutboxStatus.FAILED.value]
    counts = dict(
        db.session.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.status.in_(statuses))
            .group_by(OutboxMessage.status)
        ).all()
    )
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status.in_(statuses))
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(limit)
    )
    for message in db.session.scalars(query):
        click.echo(
            f"{message.id}\t{message.status}\t{message.attempts}\t"
            f"{message.next_attempt_at:%Y-%m-%d %H:%M:%S}Z\t{message.recipient}\t"
            f"{message.template}\t{message.last_error or ''}"
        )
    click.echo(", ".join(f"{s}: {counts.get(s, 0)}" for s in statuses), err=True)


@mail_cli.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Every failed message.")
def retry(ids: tuple[int, ...], all_failed: bool) -> None:
    """Put failed messages back in the queue (attempts reset, due now)."""
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.mail.services import retry_failed

    if not ids and not all_failed:
        raise click.UsageError("Donnez des identifiants de messages ou --all-failed.")
    requeued = retry_failed(db.session, None if all_failed else list(ids), actor=CLI)
    db.session.commit()
    click.echo(f"{len(requeued)} message(s) remis en file d'attente.")
    missing = set(ids) - set(requeued)
    if missing:
        raise click.ClickException(
            "Introuvables ou pas en échec : " + ", ".join(str(i) for i in sorted(missing))
        )
