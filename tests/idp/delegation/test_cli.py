"""idp/delegation/cli.py: `idp delegations notify-expiring` (daily, prints the count, once per
delegation) and `idp delegations list [--user USERNAME]`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask

from idp.database import utcnow
from idp.delegation import services
from idp.extensions import db
from idp.registry.catalog import RegistryStatus
from tests.helpers import outbox
from tests.idp.delegation.support import collaborator, expert, service, set_registry_status

pytestmark = pytest.mark.usefixtures("app")


def test_notify_expiring_announces_each_delegation_once_and_prints_the_count(app: Flask) -> None:
    grantor, grantee, comptexpert = expert(), collaborator(), service()
    services.grant(
        db.session,
        grantor,
        grantee.username,
        [comptexpert.client_id],
        ends_at=utcnow() + timedelta(days=10),
    )
    db.session.commit()
    runner = app.test_cli_runner()

    first = runner.invoke(args=["delegations", "notify-expiring"])
    assert first.exit_code == 0, first.output
    assert first.stdout == "1 délégation(s) annoncée(s)\n"
    expiring = [m for m in outbox() if m.template == "delegation/expiring"]
    assert sorted(m.recipient for m in expiring) == sorted([grantor.email, grantee.email])
    assert "http://idp.test/account/delegations" in expiring[0].body_text

    again = runner.invoke(args=["delegations", "notify-expiring"])
    assert again.stdout == "0 délégation(s) annoncée(s)\n"


def test_list_shows_each_delegation_state_and_filters_by_user(app: Flask) -> None:
    grantor, grantee, comptexpert = expert(), collaborator(), service()
    active = services.grant(db.session, grantor, grantee.username, [comptexpert.client_id])
    waiting = services.grant(db.session, grantor, "new@cabinet.example", [comptexpert.client_id])
    other = services.grant(
        db.session,
        expert("autre.expert", family_name="Autre"),
        "x@cabinet.example",
        [comptexpert.client_id],
    )
    db.session.commit()
    runner = app.test_cli_runner()

    everything = runner.invoke(args=["delegations", "list"])
    assert everything.exit_code == 0, everything.output
    lines = {line.split("\t")[0]: line.split("\t") for line in everything.stdout.splitlines()}
    assert set(lines) == {active.public_id, waiting.public_id, other.public_id}
    assert lines[active.public_id][1:5] == [
        "active",
        grantor.username,
        grantee.username,
        comptexpert.client_id,
    ]
    assert lines[waiting.public_id][1] == "waiting-account"
    assert lines[waiting.public_id][3] == "<new@cabinet.example>"

    mine = runner.invoke(args=["delegations", "list", "--user", grantee.username])
    assert [line.split("\t")[0] for line in mine.stdout.splitlines()] == [active.public_id]

    set_registry_status(grantor, RegistryStatus.RADIE)
    suspended = runner.invoke(args=["delegations", "list", "--user", grantee.username])
    assert suspended.stdout.split("\t")[1] == "suspended"

    unknown = runner.invoke(args=["delegations", "list", "--user", "personne"])
    assert unknown.exit_code != 0 and "aucun compte" in unknown.output
