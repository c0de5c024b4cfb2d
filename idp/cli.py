"""The `idp` console script: Flask's CLI (run, db ...) plus the admin commands of Sésame.

Commands that change state go through a domain service and leave an audit row whose actor is
"cli" (the operator on the server), like every other change.
"""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup
from sqlalchemy import select

from idp.accounts.models import UserStatus
from idp.errors import DomainError


def _create_app() -> Flask:
    from idp import create_app
    from idp.config import ConfigurationError

    try:
        return create_app()
    except ConfigurationError as error:  # one line, no stack trace
        raise SystemExit(f"idp: {error}") from error


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def main() -> None:
    """Sésame identity provider: administration commands."""


users_cli = AppGroup("users", help="Manage accounts.")


@users_cli.command("create")
@click.argument("username")
@click.option("--email", required=True, help="Email address of the account.")
@click.option("--given-name", default="", help="Given name (prénom).")
@click.option("--family-name", default="", help="Family name (nom).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (one line)."
)
@click.option("--active", is_flag=True, help="Create the account active (no activation email).")
def create_user(
    username: str, email: str, given_name: str, family_name: str, password_stdin: bool, active: bool
) -> None:
    """Create an account. Without --active it is pending and an activation email is queued."""
    from idp.accounts import services
    from idp.audit.services import CLI
    from idp.extensions import db

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Mot de passe", hide_input=True, confirmation_prompt=True)
    account = services.NewAccount(username, email, given_name or username, family_name, password)
    try:
        user = services.create_account(db.session, account, active=active, actor=CLI)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(_describe(error)) from error
    db.session.commit()
    click.echo(f"{user.username}\t{user.subject}\t{user.status}")


def _describe(error: DomainError) -> str:
    """One line for the terminal, naming every refused field."""
    errors = getattr(error, "errors", None)
    if not errors:
        return error.message
    return " ".join(f"{field} : {' '.join(messages)}" for field, messages in errors.items())


@users_cli.command("list")
@click.option("--status", type=click.Choice([s.value for s in UserStatus]), default=None)
def list_users(status: str | None) -> None:
    """List accounts: username, subject, status, email, created."""
    from idp.accounts.models import User
    from idp.extensions import db

    query = select(User).order_by(User.username)
    if status:
        query = query.where(User.status == status)
    for user in db.session.scalars(query):
        click.echo(
            f"{user.username}\t{user.subject}\t{user.status}\t{user.email}\t"
            f"{user.created_at:%Y-%m-%d}"
        )


@users_cli.command("disable")
@click.argument("username")
def disable_user(username: str) -> None:
    """Disable an account and end its sessions."""
    from idp.accounts import services
    from idp.audit.services import CLI
    from idp.extensions import db

    user = services.get_user_by_username(db.session, username)
    if user is None:
        raise click.ClickException(f"Aucun compte avec l'identifiant « {username} ».")
    services.disable_user(db.session, user, actor=CLI)
    db.session.commit()
    click.echo(f"{user.username}\tdisabled")


@users_cli.command("purge-pending")
def purge_pending() -> None:
    """Delete pending accounts whose activation link has expired (frees their usernames)."""
    from idp.accounts import services
    from idp.extensions import db

    usernames = services.purge_expired_pending(db.session)
    db.session.commit()
    for username in usernames:
        click.echo(username)
    click.echo(f"{len(usernames)} compte(s) en attente supprimé(s).", err=True)


def register_commands(app: Flask) -> None:
    from idp.demo import demo_cli
    from idp.mail.cli import mail_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(demo_cli)
