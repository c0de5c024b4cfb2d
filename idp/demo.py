"""`idp demo load`: demonstration accounts for `make run` (development only).

Idempotent: an account that already exists is left as it is (its password may have been
changed through the pages since; the command says so). Refused in production, where a known
password would be a hole.
"""

from __future__ import annotations

from dataclasses import dataclass

import click
from flask.cli import AppGroup

from idp.accounts.models import UserStatus
from idp.config import settings

demo_cli = AppGroup("demo", help="Demonstration data (development only).")


@dataclass(frozen=True)
class DemoAccount:
    username: str
    email: str
    given_name: str
    family_name: str
    status: UserStatus
    password: str


DEMO_PASSWORD = "lanterne boussole rivage 27"  # noqa: S105 - printed on purpose, dev only

DEMO_ACCOUNTS = (
    DemoAccount(
        "demo.collaborateur",
        "demo.collaborateur@example.org",
        "Camille",
        "Martin",
        UserStatus.ACTIVE,
        DEMO_PASSWORD,
    ),
    DemoAccount(
        "demo.en-attente",
        "demo.en-attente@example.org",
        "Dominique",
        "Bernard",
        UserStatus.PENDING,
        DEMO_PASSWORD,
    ),
)


def load_demo_accounts() -> list[tuple[DemoAccount, str]]:
    """Create the missing demo accounts; return each account with what was done (French)."""
    from idp.accounts import services
    from idp.audit.services import SYSTEM
    from idp.extensions import db

    if settings().is_production:
        raise click.ClickException("Les données de démonstration sont refusées en production.")
    outcome = []
    for account in DEMO_ACCOUNTS:
        user = services.get_user_by_username(db.session, account.username)
        if user is None:
            new = services.NewAccount(
                account.username,
                account.email,
                account.given_name,
                account.family_name,
                account.password,
            )
            user = services.create_account(
                db.session, new, active=account.status == UserStatus.ACTIVE, actor=SYSTEM
            )
            db.session.commit()
            done = "créé"
        elif services.password_hasher().verify(user.password_hash, account.password):
            done = "existe déjà"
        else:
            done = "existe déjà, mot de passe changé depuis (« Mot de passe oublié » le rétablit)"
        outcome.append((account, f"{done}, statut {user.status}"))
    return outcome


@demo_cli.command("load")
def load() -> None:
    """Create the demonstration accounts (idempotent; refused in production)."""
    for account, done in load_demo_accounts():
        click.echo(f"{account.username}\t{account.email}\t{done}")
