"""The `idp` console script: Flask's CLI (run, db ...) plus the admin commands of Sésame.

Commands that change state go through a domain service and leave an audit row whose actor is
"cli" (the operator on the server), like every other change.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup
from sqlalchemy import select

from idp.accounts.models import UserStatus
from idp.errors import DomainError

if TYPE_CHECKING:
    from idp.accounts.models import User
    from idp.registry.models import RegionalCouncil


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


registry_cli = AppGroup("registry", help="The Order's registry: councils and their administrators.")


def _role_council(council_code: str | None, national: bool) -> RegionalCouncil | None:
    """The council a role names: --council CODE or --national, exactly one."""
    from idp.extensions import db
    from idp.registry import services

    if bool(council_code) == national:
        raise click.UsageError("Indiquez soit --council CODE, soit --national.")
    if national:
        return None
    try:
        return services.council_by_code(db.session, council_code or "")
    except DomainError as error:
        raise click.ClickException(f"{error.message} ({council_code})") from error


def _account(username: str) -> User:
    from idp.accounts import services
    from idp.extensions import db

    user = services.get_user_by_username(db.session, username)
    if user is None:
        raise click.ClickException(f"Aucun compte avec l'identifiant « {username} ».")
    return user


def _role_label(council: RegionalCouncil | None) -> str:
    return "national" if council is None else council.code


@registry_cli.command("councils")
def list_councils() -> None:
    """List the regional councils: code, name, email, phone, web page, postal address."""
    from idp.extensions import db
    from idp.registry import services

    for c in services.councils(db.session):
        click.echo(f"{c.code}\t{c.name}\t{c.email}\t{c.phone}\t{c.website}\t{c.postal_address}")


@registry_cli.command("grant-admin")
@click.argument("username")
@click.option("--council", "council_code", default=None, help="Code of the council (IDF, ARA...).")
@click.option("--national", is_flag=True, help="Administrator of every council (the Order).")
def grant_admin(username: str, council_code: str | None, national: bool) -> None:
    """Make an account the registry administrator of one council, or of all (--national)."""
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.registry import services

    council = _role_council(council_code, national)
    user = _account(username)
    if _has_role(user.id, council):
        click.echo(f"{user.username}\t{_role_label(council)}\tdéjà accordé")
        return
    services.grant_council_role(db.session, user.id, council, actor=CLI)
    db.session.commit()
    click.echo(f"{user.username}\t{_role_label(council)}\taccordé")


def _has_role(user_id: int, council: RegionalCouncil | None) -> bool:
    from idp.extensions import db
    from idp.registry.models import CouncilAdministrator

    query = select(CouncilAdministrator.id).where(CouncilAdministrator.user_id == user_id)
    if council is None:
        query = query.where(CouncilAdministrator.council_id.is_(None))
    else:
        query = query.where(CouncilAdministrator.council_id == council.id)
    return db.session.scalar(query) is not None


@registry_cli.command("revoke-admin")
@click.argument("username")
@click.option("--council", "council_code", default=None, help="Code of the council (IDF, ARA...).")
@click.option("--national", is_flag=True, help="The national role (every council).")
def revoke_admin(username: str, council_code: str | None, national: bool) -> None:
    """Withdraw a council administrator role."""
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.registry import services

    council = _role_council(council_code, national)
    user = _account(username)
    if not services.revoke_council_role(db.session, user.id, council, actor=CLI):
        db.session.rollback()
        raise click.ClickException(
            f"« {user.username} » n'a pas le rôle d'administrateur {_role_label(council)}."
        )
    db.session.commit()
    click.echo(f"{user.username}\t{_role_label(council)}\tretiré")


@registry_cli.command("admins")
def list_admins() -> None:
    """List council administrators: username, council code (or national), granted on."""
    from idp.accounts.models import User
    from idp.extensions import db
    from idp.registry.models import CouncilAdministrator

    rows = db.session.execute(
        select(User.username, CouncilAdministrator)
        .join(CouncilAdministrator, CouncilAdministrator.user_id == User.id)
        .order_by(User.username, CouncilAdministrator.council_id)
    ).all()
    for username, role in rows:
        click.echo(f"{username}\t{_role_label(role.council)}\t{role.granted_at:%Y-%m-%d}")


@registry_cli.command("council-update")
@click.argument("code")
@click.option("--email", default=None, help="Contact email shown to the council's members.")
@click.option("--phone", default=None)
@click.option("--address", default=None, help="Postal address (one line).")
@click.option("--website", default=None, help="Web page (https://...).")
def council_update(
    code: str, email: str | None, phone: str | None, address: str | None, website: str | None
) -> None:
    """Change a council's contact details (those signup shows to its members)."""
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.registry import services
    from idp.registry.council_contacts import ContactChanges, update_contacts

    changes = ContactChanges(email=email, phone=phone, postal_address=address, website=website)
    if not changes.given():
        raise click.UsageError("Indiquez au moins une coordonnée à changer (--email, --phone...).")
    try:
        council = services.council_by_code(db.session, code)
        changed = update_contacts(db.session, council, changes, actor=CLI)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    db.session.commit()
    for name, (old, new) in changed.items():
        click.echo(f"{council.code}\t{name}\t{old}\t{new}")
    if not changed:
        click.echo(f"{council.code} : aucune coordonnée changée.", err=True)


def register_commands(app: Flask) -> None:
    from idp.demo import demo_cli
    from idp.mail.cli import mail_cli
    from idp.mfa.cli import reset_mfa
    from idp.mfa.policy_cli import mfa_cli
    from idp.oidc.cli import register as register_oidc_commands

    users_cli.add_command(reset_mfa)
    app.cli.add_command(users_cli)
    app.cli.add_command(mfa_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(registry_cli)
    register_oidc_commands(app)  # idp clients, idp keys
    from idp.delegation.cli import delegations_cli

    app.cli.add_command(delegations_cli)
