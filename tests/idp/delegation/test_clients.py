"""The delegation settings of a client (ADR 0025): « accepte les délégations » (a service a
delegation may name) and « admet les délégataires », on `idp clients add/update/show/list
--json` and on the administration pages (each change audited); and the discovery document
announcing the scope and the claim."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.audit.services import CLI
from idp.delegation.services import delegable_clients
from idp.extensions import db
from idp.oidc import clients
from idp.oidc.models import OAuthClient
from idp.registry import services as registry
from tests.factories import create_user
from tests.helpers import csrf_token, login

REDIRECT = "https://rp.example/callback"


def _cli(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def _add(app, *extra: str) -> OAuthClient:
    result = _cli(
        app, "clients", "add", "--name", "Comptexpert", "--redirect-uri", REDIRECT, "--json", *extra
    )
    assert result.exit_code == 0, result.stderr
    client_id = json.loads(result.stdout.strip().splitlines()[-1])["client_id"]
    row = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    assert row is not None
    return row


def _changes() -> list[dict]:
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.event_type == "oidc_client_updated")
        .order_by(AuditEvent.id)
    ).all()
    return [event.details["changes"] for event in events]


# --- the CLI --------------------------------------------------------------------------------


def test_clients_cli_add_without_flags_accepts_no_delegations(app):
    row = _add(app)
    assert (row.accepts_delegations, row.admits_delegates) == (False, False)
    shown = json.loads(_cli(app, "clients", "show", row.client_id).stdout)
    assert shown["accepts_delegations"] is False and shown["admits_delegates"] is False
    assert delegable_clients(db.session) == []


def test_clients_cli_add_with_both_flags_shows_them_in_json(app):
    row = _add(
        app,
        "--allowed-profiles",
        "expert-comptable",
        "--accepts-delegations",
        "--admits-delegates",
    )
    assert (row.accepts_delegations, row.admits_delegates) == (True, True)
    listed = json.loads(_cli(app, "clients", "list", "--json").stdout)
    assert [(c["accepts_delegations"], c["admits_delegates"]) for c in listed] == [(True, True)]
    assert [c.client_id for c in delegable_clients(db.session)] == [row.client_id]
    created = db.session.scalar(
        select(AuditEvent).where(AuditEvent.event_type == "oidc_client_created")
    )
    assert created.details["accepts_delegations"] is True
    assert created.details["admits_delegates"] is True


def test_clients_cli_update_turns_the_settings_on_and_off_audited(app):
    row = _add(app)
    on = _cli(app, "clients", "update", row.client_id, "--accepts-delegations")
    assert on.exit_code == 0, on.stderr
    assert on.stdout.strip() == f"{row.client_id}\tdélégations acceptées"
    both = _cli(
        app, "clients", "update", row.client_id, "--accepts-delegations", "--admits-delegates"
    )
    assert both.stdout.splitlines() == [
        f"{row.client_id}\tdélégations acceptées (inchangé)",
        f"{row.client_id}\tdélégataires admis",
    ]
    off = _cli(
        app,
        "clients",
        "update",
        row.client_id,
        "--no-accepts-delegations",
        "--no-admits-delegates",
    )
    assert off.exit_code == 0
    assert "délégations non acceptées" in off.stdout and "délégataires non admis" in off.stdout
    shown = json.loads(_cli(app, "clients", "show", row.client_id).stdout)
    assert (shown["accepts_delegations"], shown["admits_delegates"]) == (False, False)
    assert _changes() == [
        {"accepts_delegations": True},
        {"admits_delegates": True},
        {"accepts_delegations": False, "admits_delegates": False},
    ]


def test_clients_cli_update_refuses_nothing_to_change_and_removed_clients(app):
    row = _add(app)
    nothing = _cli(app, "clients", "update", row.client_id)
    assert nothing.exit_code == 2 and "--accepts-delegations" in nothing.stderr
    assert _cli(app, "clients", "remove", row.client_id, "--yes").exit_code == 0
    removed = _cli(app, "clients", "update", row.client_id, "--admits-delegates")
    assert removed.exit_code == 2 and "Aucun site partenaire" in removed.stderr
    assert "Traceback" not in removed.stderr + removed.stdout


def test_clients_set_delegation_settings_drops_the_cached_copy(app):
    row = _add(app)
    assert clients.get_client(row.client_id).admits_delegates is False
    clients.set_delegation_settings(db.session, row, CLI, admits_delegates=True)
    db.session.commit()
    assert clients.get_client(row.client_id).admits_delegates is True


# --- the administration pages ---------------------------------------------------------------


@pytest.fixture
def admin(client: FlaskClient) -> FlaskClient:
    user = create_user("paul.national")
    registry.grant_council_role(db.session, user.id, None, actor=CLI)
    db.session.commit()
    assert login(client, "paul.national").status_code == 302
    return client


def test_clients_admin_new_form_has_both_checkboxes_and_stores_them(app, admin):
    page = admin.get("/admin/clients/nouveau").get_data(as_text=True)
    assert "Accepte les délégations" in page
    assert "Admet les délégataires des profils autorisés" in page
    response = admin.post(
        "/admin/clients/nouveau",
        data={
            "csrf_token": csrf_token(admin, "/admin/clients/nouveau"),
            "name": "Espace des experts-comptables",
            "client_type": "confidential",
            "auth_method": "client_secret_basic",
            "redirect_uris": REDIRECT,
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "profile", "delegations"],
            "allowed_profiles": ["expert-comptable"],
            "id_token_alg": "RS256",
            "accepts_delegations": "y",
            "admits_delegates": "y",
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    row = db.session.scalar(
        select(OAuthClient).where(OAuthClient.name == "Espace des experts-comptables")
    )
    assert (row.accepts_delegations, row.admits_delegates) == (True, True)
    assert row.scopes == ["openid", "profile", "delegations"]


def test_clients_admin_client_page_changes_the_settings_audited(app, admin):
    row = _add(app)
    url = f"/admin/clients/{row.client_id}"
    page = admin.get(url).get_data(as_text=True)
    assert "non acceptées" in page
    assert f'action="{url}/delegations"' in page
    answer = admin.post(
        f"{url}/delegations",
        data={"csrf_token": csrf_token(admin, url), "accepts_delegations": "y"},
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith(url)
    db.session.refresh(row)
    assert (row.accepts_delegations, row.admits_delegates) == (True, False)
    shown = admin.get(url).get_data(as_text=True)
    assert "Réglages des délégations" in shown
    assert "acceptées : un expert-comptable peut déléguer ce service" in shown
    admin.post(
        f"{url}/delegations",
        data={"csrf_token": csrf_token(admin, url), "admits_delegates": "y"},
    )
    db.session.refresh(row)
    assert (row.accepts_delegations, row.admits_delegates) == (False, True)
    assert _changes() == [
        {"accepts_delegations": True},
        {"accepts_delegations": False, "admits_delegates": True},
    ]


def test_clients_admin_settings_need_the_csrf_token_and_an_administrator(app, client):
    row = _add(app)
    url = f"/admin/clients/{row.client_id}/delegations"
    assert client.post(url, data={"accepts_delegations": "y"}).status_code == 404  # anonymous
    user = create_user("paul.national")
    registry.grant_council_role(db.session, user.id, None, actor=CLI)
    db.session.commit()
    login(client, "paul.national")
    assert client.post(url, data={"accepts_delegations": "y"}).status_code == 400
    db.session.refresh(row)
    assert row.accepts_delegations is False


# --- discovery ------------------------------------------------------------------------------


def test_clients_discovery_announces_the_scope_and_the_claim(app, client):
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert "delegations" in metadata["scopes_supported"]
    assert "delegations" in metadata["claims_supported"]
