"""The `idp` console script: Flask's CLI (run, db ...) plus the admin commands of Sésame."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup
from sqlalchemy import select

from idp.accounts.errors import AccountError


def _create_app() -> Flask:
    from idp import create_app

    return create_app()


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
    from idp.accounts.models import UserStatus
    from idp.audit.models import AuditEventType
    from idp.audit.services import record
    from idp.extensions import db

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Mot de passe", hide_input=True, confirmation_prompt=True)
    try:
        user = services.register_user(
            db.session,
            username=username,
            email=email,
            given_name=given_name or username,
            family_name=family_name,
            password=password,
            status=UserStatus.ACTIVE if active else UserStatus.PENDING,
        )
    except AccountError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    record(db.session, AuditEventType.ACCOUNT_CREATED_BY_ADMIN, user_id=user.id)
    db.session.commit()
    click.echo(f"{user.username}\t{user.subject}\t{user.status}")


@users_cli.command("list")
@click.option("--status", type=click.Choice(["pending", "active", "disabled"]), default=None)
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
    from idp.extensions import db

    user = services.get_user_by_username(db.session, username)
    if user is None:
        raise click.ClickException(f"Aucun compte avec l'identifiant « {username} ».")
    services.disable_user(db.session, user)
    db.session.commit()
    click.echo(f"{user.username}\tdisabled")


def register_commands(app: Flask) -> None:
    from idp.demo import demo_cli
    from idp.mail.cli import mail_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(demo_cli)
