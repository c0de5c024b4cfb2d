"""`idp demo load`: the accounts `make run` prints, created once, usable, refused in production."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from idp.accounts import services
from idp.accounts.models import UserStatus
from idp.config import Environment
from idp.demo import DEMO_PASSWORD
from idp.extensions import db
from idp.mail.models import OutboxMessage
from idp.registry import services as registry
from idp.registry.models import ImportStatus, RegistryImport


def test_demo_load_creates_accounts_once_and_the_active_one_logs_in(app: Flask) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "demo.collaborateur" in first.output and "créé, statut active" in first.output
    user = services.authenticate(
        db.session, "demo.collaborateur", DEMO_PASSWORD, ip="127.0.0.1"
    ).user
    assert user.status == UserStatus.ACTIVE and user.profile == "autre"
    pending = services.get_user_by_username(db.session, "demo.en-attente")
    assert pending is not None and pending.status == UserStatus.PENDING
    assert db.session.query(OutboxMessage).filter_by(template="activation").count() == 1

    second = runner.invoke(args=["demo", "load"])
    assert second.exit_code == 0 and "existe déjà, statut active" in second.output
    assert db.session.query(OutboxMessage).filter_by(template="activation").count() == 1


def test_demo_load_imports_the_registry_once_and_links_the_expert_and_the_council(
    app: Flask,
) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "8 inscriptions ajoutées" in first.output
    [demo_import] = db.session.scalars(select(RegistryImport)).all()
    assert demo_import.status == ImportStatus.APPLIED and demo_import.council.code == "IDF"

    expert = services.get_user_by_username(db.session, "demo.expert")
    assert expert is not None and expert.profile == "expert-comptable"
    [claim] = registry.live_claims(db.session, expert.id)
    assert claim.entry.registration_number == "75000004"
    council_admin = services.get_user_by_username(db.session, "demo.conseil")
    assert council_admin is not None
    assert [c.code for c in registry.administered_councils(db.session, council_admin.id)] == ["IDF"]
    # One entry per signup outcome: the autocomplete finds them as the banner says.
    assert [e.registration_number for e in registry.search_entries(db.session, "d arcy")] == [
        "75000002"
    ]

    second = runner.invoke(args=["demo", "load"])
    assert second.exit_code == 0 and "déjà importé" in second.output, second.output
    assert len(db.session.scalars(select(RegistryImport)).all()) == 1
    assert len(registry.live_claims(db.session, expert.id)) == 1


def test_demo_load_refused_in_production(app: Flask, configure: Any) -> None:
    configure(environment=Environment.PRODUCTION)
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 1 and "refusées en production" in result.output
    assert services.get_user_by_username(db.session, "demo.collaborateur") is None


def test_demo_active_accounts_have_a_verified_email(app: Flask) -> None:
    """Relying parties may trust `email_verified` (the portal's invitations): the demo's active
    accounts count as activated through their email; the pending one does not."""
    from idp.demo import load_demo_accounts

    load_demo_accounts()
    for username, verified in (("demo.collaborateur", True), ("demo.en-attente", False)):
        user = services.get_user_by_username(db.session, username)
        assert user is not None and (user.email_verified_at is not None) is verified
