"""The `portal` commands (stable contract): `db upgrade` builds the schema the models describe,
`companies add/list`, `firms add`, `invite`, `demo load`; errors exit 1 with a French message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import Result
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import select

from client_portal_rp import create_app
from client_portal_rp.extensions import db
from client_portal_rp.fec.importer import import_path
from client_portal_rp.models import (
    Company,
    Deposit,
    DepositInvoice,
    FecImport,
    FecOpenItem,
    FecParty,
    FecPartyAgeing,
    Invitation,
    Membership,
)
from tests.client_portal_rp.conftest import make_firm, portal_test_config, valid_siren
from tests.client_portal_rp.fec.support import sample
from tests.helpers import REQUIRE_SERVICES, Inbox


@pytest.fixture
def migrated(tmp_path: Path) -> Iterator[Flask]:
    """A portal on an empty SQLite database, migrated by `portal db upgrade`'s code."""
    app = create_app(portal_test_config(f"sqlite:///{tmp_path}/cli.sqlite", tmp_path))
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_migration_0005_ages_the_imports_already_made_as_the_import_does(tmp_path: Path) -> None:
    """An import made before fec_party_ageing existed gets its sums from the migration: the
    same rows as `store_ageing` writes at import (the sample's items span the buckets)."""
    app = create_app(portal_test_config(f"sqlite:///{tmp_path}/a.sqlite", tmp_path))
    with app.app_context():
        upgrade()
        target = Company(firm=make_firm(), name="Société Exemple", siren="123456789")
        db.session.add(target)
        db.session.commit()
        path = sample("123456789FEC20500930.txt")
        assert import_path(target, path, actor_label="tests").ok
        stored = select(FecPartyAgeing.__table__).order_by("side", "party")
        at_import = db.session.execute(stored).all()
        assert len(at_import) > 20
        db.session.commit()
        downgrade(revision="0004")
        upgrade()
        assert db.session.execute(stored).all() == at_import
        db.session.remove()
        db.engine.dispose()


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=list(args))


def test_portal_migrations_match_the_models_and_downgrade(tmp_path: Path) -> None:
    app = create_app(portal_test_config(f"sqlite:///{tmp_path}/m.sqlite", tmp_path))
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        assert [d for d in diff if "rp_logins" not in repr(d)] == []
        downgrade(revision="base")
        assert set(db.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


def test_portal_companies_add_prints_json_and_refuses_a_known_siren(migrated: Flask) -> None:
    siren = valid_siren()
    result = run(migrated, "companies", "add", "--siren", siren, "--name", "ACME", "--json")
    assert result.exit_code == 0, result.output
    company = json.loads(result.output)
    assert company["siren"] == siren and company["name"] == "ACME"
    assert company["firm"] == "Mon cabinet"  # the first firm of an empty database
    assert set(company["advanced_modules"]) == {"compta", "archives"}
    again = run(migrated, "companies", "add", "--siren", siren, "--name", "Other")
    assert again.exit_code == 1 and "existe déjà" in again.output
    listed = json.loads(run(migrated, "companies", "list", "--json").output)
    assert [c["siren"] for c in listed] == [siren]


@pytest.mark.parametrize("siren", ["123", "123456789", "12345678A", "１２３４５６７８２"])
def test_portal_companies_add_refuses_an_invalid_siren(migrated: Flask, siren: str) -> None:
    result = run(migrated, "companies", "add", "--siren", siren, "--name", "X")
    assert result.exit_code == 1 and "SIREN" in result.output
    assert "Traceback" not in result.output


def test_portal_companies_add_to_a_named_firm_and_ambiguity(migrated: Flask) -> None:
    assert run(migrated, "firms", "add", "--name", "Cabinet A").exit_code == 0
    assert run(migrated, "firms", "add", "--name", "Cabinet A").exit_code == 1
    assert run(migrated, "firms", "add", "--name", "Cabinet B").exit_code == 0
    ambiguous = run(migrated, "companies", "add", "--siren", valid_siren(), "--name", "X")
    assert ambiguous.exit_code == 1 and "--firm" in ambiguous.output
    named = run(
        migrated, "companies", "add", "--siren", valid_siren(), "--name", "X",
        "--firm", "cabinet b", "--json",
    )  # fmt: skip
    assert json.loads(named.output)["firm"] == "Cabinet B"


def test_portal_invite_sends_the_invitation(migrated: Flask, smtp_server: Inbox) -> None:
    smtp_server.clear()
    migrated.config["MAIL_PORT"] = smtp_server.port
    siren = valid_siren()
    run(migrated, "companies", "add", "--siren", siren, "--name", "Boulangerie <Martin>")
    result = run(
        migrated, "invite", "--email", "Claire@Client.test", "--company", siren,
        "--role", "admin", "--modules", "depot,archives",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link.startswith("http://portal.test/invitations/")
    invitation = db.session.query(Invitation).one()
    assert invitation.email == "claire@client.test" and invitation.role == "admin"
    assert invitation.modules == "archives,depot"
    assert [m["To"] for m in smtp_server.messages] == ["claire@client.test"]
    assert link in smtp_server.text_of(smtp_server.messages[0])
    bad = run(migrated, "invite", "--email", "x@y.test", "--company", siren, "--modules", "paie")
    assert bad.exit_code == 1 and "Module inconnu" in bad.output


def test_portal_demo_load_is_idempotent(migrated: Flask) -> None:
    first = run(migrated, "demo", "load")
    assert first.exit_code == 0 and "Boulangerie Martin" in first.output
    again = run(migrated, "demo", "load")
    assert again.exit_code == 0 and "déjà chargées" in again.output
    from client_portal_rp.demo import FEC_SAMPLE

    with_fec = FEC_SAMPLE.is_file()  # ../shared/data/fec/ beside the project: « Société Exemple »
    assert with_fec or not REQUIRE_SERVICES, f"CI requires the FEC sample {FEC_SAMPLE}"
    assert db.session.query(Invitation).count() == 4 + with_fec
    # The sample (exercice 2023) and the previous exercice the demo makes from it (2022).
    assert db.session.query(FecImport).count() == 2 * with_fec
    if with_fec:
        assert "FEC 123456789FEC20500930.txt importé (Société Exemple, exercice 2023" in (
            first.output
        )
        assert "exercice précédent de démonstration importé (Société Exemple, exercice 2022" in (
            first.output
        )
        # Two purchase invoices deposited once: the Factur-X's due date is the échéancier's.
        deposits = db.session.scalars(select(Deposit).order_by(Deposit.id)).all()
        assert [(d.piece_ref, d.source) for d in deposits] == [
            ("2022.20.T", "email"),
            ("ACH000000673", "email"),
        ]
        invoice = db.session.get(DepositInvoice, deposits[0].id)
        assert invoice is not None and invoice.error == "" and invoice.supplier_name == "BEAUDOIN"
        assert db.session.get(DepositInvoice, deposits[1].id) is None  # a plain PDF
        item = db.session.scalar(select(FecOpenItem).where(FecOpenItem.piece_key == "202220T"))
        assert item is not None and item.side == "fournisseur"
        assert (item.due_source, item.due_date) == ("facture", date(2022, 9, 3))
        assert item.due_date != item.piece_date + timedelta(days=30)
        top = db.session.scalar(
            select(FecParty.party)
            .where(FecParty.role == "fournisseur", ~FecParty.party.startswith("40"))
            .order_by(FecParty.charges.desc())
            .limit(1)
        )
        assert top == "FCHB" and "Facture CHB ACH000000673.pdf" in first.output
    assert db.session.query(Membership).count() == 0  # accepted at the first login
