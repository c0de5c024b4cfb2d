"""`idp delegations notify-expiring | list`: the daily expiry notices (cron) and an operator's
view of the delegations."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from idp.accounts.models import User
from idp.delegation.models import Delegation, DelegationStatus

delegations_cli = AppGroup(
    "delegations", help="Delegations between experts-comptables and collaborators."
)


@delegations_cli.command("notify-expiring")
def notify_expiring() -> None:
    """Tell both parties of each delegation ending within two weeks (once per delegation).
    Run daily; prints how many delegations were announced."""
    from idp.delegation.services import send_expiry_notices
    from idp.extensions import db

    count = send_expiry_notices(db.session)
    db.session.commit()
    click.echo(f"{count} délégation(s) annoncée(s)")


@delegations_cli.command("list")
@click.option("--user", "username", default=None, help="Only those given or received by USERNAME.")
def list_delegations(username: str | None) -> None:
    """One line per delegation: public id, state, grantor, grantee, services, end (UTC)."""
    from idp.accounts.services import get_user_by_username
    from idp.delegation.services import of_user
    from idp.extensions import db

    if username is not None:
        user = get_user_by_username(db.session, username)
        if user is None:
            raise click.ClickException(f"aucun compte « {username} »")
        delegations = of_user(db.session, user)
    else:
        delegations = list(
            db.session.scalars(select(Delegation).order_by(Delegation.id.desc())).unique()
        )
    for delegation in delegations:
        click.echo(
            "\t".join(
                [
                    delegation.public_id,
                    _state(delegation),
                    delegation.grantor.username,
                    _grantee(delegation.grantee, delegation.grantee_email),
                    ",".join(delegation.client_ids()),
                    delegation.ends_at.isoformat() if delegation.ends_at else "",
                ]
            )
        )


def _state(delegation: Delegation) -> str:
    """`active`, `suspended` (the grantor struck off or suspended), `expired`,
    `waiting-account`, `requested`, `refused`, `ended:<reason>`."""
    from idp.delegation import rules
    from idp.extensions import db

    if delegation.status == DelegationStatus.ENDED.value:
        return f"ended:{delegation.end_reason}"
    if delegation.status != DelegationStatus.ACTIVE.value:
        return delegation.status
    if not rules.is_current(delegation):
        return "expired"
    if delegation.grantee_id is None:
        return "waiting-account"
    return "suspended" if rules.is_suspended(db.session, delegation) else "active"


def _grantee(user: User | None, email: str | None) -> str:
    return user.username if user is not None else f"<{email}>"
