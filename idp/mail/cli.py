"""`idp mail ...` commands."""

from __future__ import annotations

import time

import click

mail_cli = click.Group("mail", help="Email outbox.")


@mail_cli.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering until interrupted.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between polls (--loop).")
def deliver(loop: bool, interval: float) -> None:
    """Send the emails waiting in the outbox (once, or continuously with --loop)."""
    from idp.extensions import db
    from idp.mail.delivery import deliver_pending

    while True:
        try:
            report = deliver_pending(db.session)
        except Exception as exc:  # database down: report and keep looping
            db.session.rollback()
            if not loop:
                raise click.ClickException(f"Échec de la distribution : {exc}") from exc
            click.echo(f"delivery error: {exc}", err=True)
        else:
            if report.sent or report.failed or report.gave_up or not loop:
                click.echo(f"sent={report.sent} retry={report.failed} gave_up={report.gave_up}")
        if not loop:
            return
        db.session.remove()
        time.sleep(interval)
