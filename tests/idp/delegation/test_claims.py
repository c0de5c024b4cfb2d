"""The `delegations` claim (ADR 0025, SECURITY.md 38-39), through the real endpoints: the ID
token of a code flow, /userinfo and /introspect list only the delegations valid now and
covering the requesting client; an ended, expired or suspended one is gone at once, even from
the answers about a token issued before."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from idp.accounts.models import User
from idp.database import utcnow
from idp.delegation import services
from idp.delegation.claims import delegations_claim
from idp.delegation.models import Delegation
from idp.extensions import db
from idp.oidc import keys
from idp.oidc.models import OAuthClient
from idp.registry.catalog import RegistryStatus
from tests.idp.delegation.support import (
    agc_president,
    agc_staff,
    collaborator,
    entry_of,
    expert,
    set_registry_status,
)
from tests.idp.oidc.helpers import (
    RegisteredClient,
    code_flow,
    decode_id_token,
    register_client,
    sign_in,
)
from tests.idp.oidc.tokens_support import bearer, introspect

SCOPE = "openid profile delegations"


def _site(name: str = "Comptexpert", **options: object) -> RegisteredClient:
    options.setdefault("scopes", ["openid", "profile", "email", "delegations", "offline_access"])
    return register_client(name=name, accepts_delegations=True, **options)  # type: ignore[arg-type]


def _grant(grantor: User, grantee: User, *sites: RegisteredClient, **options: object) -> Delegation:
    delegation = services.grant(
        db.session, grantor, grantee.username, [site.client_id for site in sites], **options
    )  # type: ignore[arg-type]
    db.session.commit()
    return delegation


def _login_claims(client, user: User, site: RegisteredClient, scope: str = SCOPE) -> dict:
    keys.ensure_keys()
    sign_in(client, user)
    flow = code_flow(client, site, scope=scope)
    return {"id_token": decode_id_token(flow.id_token), "access_token": flow.access_token}


def _userinfo(client, token: str) -> dict:
    response = client.get("/userinfo", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_claims_id_token_names_the_grantor_services_and_end_date(app, client):
    site = _site()
    grantor = expert(registration_number="75012345")
    marie = collaborator()
    delegation = _grant(grantor, marie, site)
    claims = _login_claims(client, marie, site)["id_token"]
    assert claims["delegations"] == [
        {
            "id": delegation.public_id,
            "grantor": {
                "sub": grantor.subject,
                "name": "Jean-François Lefèvre",
                "registration_number": "75012345",
                "firm": "Cabinet Lefèvre",
            },
            "services": [site.client_id],
            "expires_at": int(delegation.ends_at.timestamp()),
        }
    ]


def test_claims_only_the_delegations_covering_the_requesting_client(app, client):
    """SECURITY.md 39: another service's delegation never reaches this site."""
    here, elsewhere = _site("Comptexpert"), _site("Jedeclare")
    marie = collaborator()
    covering = _grant(expert(), marie, here, elsewhere)
    _grant(expert("a.bernard", family_name="Bernard", given_names="Anne"), marie, elsewhere)
    claims = _login_claims(client, marie, here)
    listed = claims["id_token"]["delegations"]
    assert [item["id"] for item in listed] == [covering.public_id]
    assert listed[0]["services"] == sorted([here.client_id, elsewhere.client_id])
    assert [i["id"] for i in _userinfo(client, claims["access_token"])["delegations"]] == [
        covering.public_id
    ]


def test_claims_absent_without_the_scope_and_empty_without_delegations(app, client):
    site = _site()
    marie = collaborator()
    _grant(expert(), marie, site)
    without = _login_claims(client, marie, site, scope="openid profile")
    assert "delegations" not in without["id_token"]
    assert "delegations" not in _userinfo(client, without["access_token"])
    paul = collaborator("paul.martin")
    none = _login_claims(app.test_client(), paul, site)
    assert none["id_token"]["delegations"] == []


def test_claims_pending_and_refused_requests_are_not_delegations(app, client):
    site = _site()
    marie = collaborator()
    grantor = expert()
    services.request_delegation(db.session, marie, grantor, [site.client_id], "Pour la TVA")
    refused = services.request_delegation(db.session, marie, grantor, [site.client_id], "")
    services.refuse(db.session, grantor, refused, "Non")
    db.session.commit()
    assert _login_claims(client, marie, site)["id_token"]["delegations"] == []


def test_claims_ended_delegation_disappears_from_userinfo_and_introspection_at_once(app, client):
    """SECURITY.md 38: the access token issued before the end describes it no more."""
    site = _site()
    grantor, marie = expert(), collaborator()
    delegation = _grant(grantor, marie, site)
    token = _login_claims(client, marie, site)["access_token"]
    assert len(_userinfo(client, token)["delegations"]) == 1
    body = introspect(client, site, token).get_json()
    assert body["active"] is True
    assert [item["id"] for item in body["delegations"]] == [delegation.public_id]

    services.end(db.session, grantor, delegation)
    db.session.commit()
    assert _userinfo(client, token)["delegations"] == []
    body = introspect(client, site, token).get_json()
    assert body["active"] is True and body["delegations"] == []


def test_claims_renounced_delegation_disappears_from_the_next_id_token(app, client):
    site = _site()
    marie = collaborator()
    delegation = _grant(expert(), marie, site)
    assert len(_login_claims(client, marie, site)["id_token"]["delegations"]) == 1
    services.end(db.session, marie, delegation)
    db.session.commit()
    assert _login_claims(client, marie, site)["id_token"]["delegations"] == []


def test_claims_expired_delegation_disappears(app, client):
    site = _site()
    marie = collaborator()
    delegation = _grant(expert(), marie, site)
    token = _login_claims(client, marie, site)["access_token"]
    delegation.ends_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert _userinfo(client, token)["delegations"] == []
    assert introspect(client, site, token).get_json()["delegations"] == []
    assert _login_claims(client, marie, site)["id_token"]["delegations"] == []


def test_claims_suspended_grantor_hides_then_reinstatement_restores(app, client):
    """A registry import striking off or suspending the grantor suspends the delegation at
    once; reinstatement brings back the one still within its dates."""
    site = _site()
    grantor, marie = expert(), collaborator()
    delegation = _grant(grantor, marie, site)
    token = _login_claims(client, marie, site)["access_token"]
    for status in (RegistryStatus.SUSPENDU, RegistryStatus.RADIE):
        set_registry_status(grantor, status)
        assert _userinfo(client, token)["delegations"] == []
        assert introspect(client, site, token).get_json()["delegations"] == []
    set_registry_status(grantor, RegistryStatus.INSCRIT)
    assert [i["id"] for i in _userinfo(client, token)["delegations"]] == [delegation.public_id]
    set_registry_status(grantor, RegistryStatus.RADIE)
    assert _login_claims(client, marie, site)["id_token"]["delegations"] == []


def test_claims_introspection_only_for_tokens_with_the_scope(app, client):
    site = _site()
    marie = collaborator()
    _grant(expert(), marie, site)
    token = _login_claims(client, marie, site, scope="openid profile")["access_token"]
    body = introspect(client, site, token).get_json()
    assert body["active"] is True and "delegations" not in body


def test_claims_introspection_of_a_refresh_token_lists_the_current_delegations(app, client):
    site = _site()
    grantor, marie = expert(), collaborator()
    delegation = _grant(grantor, marie, site)
    keys.ensure_keys()
    sign_in(client, marie)
    flow = code_flow(client, site, scope=SCOPE + " offline_access")
    assert flow.refresh_token
    body = introspect(client, site, flow.refresh_token).get_json()
    assert [item["id"] for item in body["delegations"]] == [delegation.public_id]
    services.end(db.session, grantor, delegation)
    db.session.commit()
    assert introspect(client, site, flow.refresh_token).get_json()["delegations"] == []


def test_claims_agc_president_grantor_names_the_agc_as_firm(app, client):
    site = _site()
    president, staff = agc_president(), agc_staff()
    _grant(president, staff, site)
    grantor = _login_claims(client, staff, site)["id_token"]["delegations"][0]["grantor"]
    assert grantor == {
        "sub": president.subject,
        "name": "Paul Durand",
        "registration_number": None,
        "firm": "AGC Centre",
    }


def test_claims_the_grantors_live_registry_entry_is_read_at_each_call(app):
    """The claim follows the registry: a firm renamed at an import shows at once."""
    grantor, marie = expert(), collaborator()
    site = _site()
    _grant(grantor, marie, site)
    row = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == site.client_id))
    entry_of(grantor).firm_name = "Lefèvre & Associés"
    db.session.commit()
    (item,) = delegations_claim(db.session, marie, row)
    assert item["grantor"]["firm"] == "Lefèvre & Associés"


def test_claims_client_credentials_cannot_ask_for_delegations(app, client):
    """`delegations` speaks for a user: never on a client's own token."""
    from tests.idp.oidc.tokens_support import client_credentials

    site = _site(grant_types=["client_credentials"])
    response = client_credentials(client, site, scope="delegations")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"
