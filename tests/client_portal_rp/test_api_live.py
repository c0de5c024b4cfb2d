"""The portal's API driven with a real token of the real IdP, both served over HTTP, obtained as a
native app obtains it (ADR 0026, RFC 8252): a public client, the authorization code flow with
PKCE S256, a loopback redirect on a port of the moment (nothing listens: the app reads the
IdP's last redirect), the password typed at the IdP only, and the API asked for as the RFC 8707
`resource` at the token endpoint, again on refresh."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask

from client_portal_rp import create_app as create_portal
from client_portal_rp.extensions import db
from client_portal_rp.models import Module, PortalUser, Role
from tests.client_portal_rp.conftest import (
    make_company,
    make_firm,
    make_member,
    portal_test_config,
)
from tests.client_portal_rp.rp_helpers import (
    browse,
    create_idp_user,
    idp_lacks,
    relying_party,
    sign_in_at_idp,
)
from tests.helpers import Inbox, LiveIdP, free_port, running_idp, serving

CODE_FLOW = ("oidc.discovery", "oidc.jwks", "oidc_pages.authorize", "oidc.token")
pytestmark = pytest.mark.skipif(bool(idp_lacks(*CODE_FLOW)), reason=str(idp_lacks(*CODE_FLOW)))

REDIRECT = "http://127.0.0.1/callback"  # registered without a port (RFC 8252 section 7.3)
SCOPE = (
    "openid profile email offline_access "
    "portal.deposits portal.accounting portal.archives portal.accesses"
)
USERNAME = "marie.curie"


@dataclass
class NativeSetting:
    """The live IdP, the live portal and the native app's public client."""

    idp: LiveIdP
    portal: Flask
    portal_url: str
    client_id: str

    @property
    def api(self) -> str:
        """The API's base URL, which is its tokens' audience (the RFC 8707 resource)."""
        return f"{self.portal_url}/api/v1"


@pytest.fixture
def live_idp(own_database_url: str, smtp_server: Inbox) -> Iterator[LiveIdP]:
    with running_idp(own_database_url, smtp_server) as idp:
        yield idp


@pytest.fixture
def setting(live_idp: LiveIdP, tmp_path: Path) -> Iterator[NativeSetting]:
    from tests.idp.oidc.helpers import register_client

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with live_idp.app.app_context():
        mobile = register_client(
            name="Sésame Mobile",
            public=True,
            first_party=False,  # any program may claim a public client's id: consent shown
            redirect_uris=[REDIRECT],
            scopes=SCOPE.split(),
            resources=[f"{url}/api/v1"],  # the API it may ask for (RFC 8707, ADR 0028)
        )
    create_idp_user(live_idp, USERNAME, given_name="Marie", family_name="Curie")
    app = create_portal(
        portal_test_config(
            f"sqlite:///{tmp_path}/portal.sqlite",
            tmp_path,
            PORTAL_IDP_ISSUER=live_idp.url,  # the API reads the live IdP's JWKS
            PORTAL_BASE_URL=url,
        )
    )
    with app.app_context():
        db.create_all()
        db.session.remove()
    with serving(app, port):
        yield NativeSetting(live_idp, app, url, mobile.client_id)
    relying_party(app).store.dispose()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- the native app's side ------------------------------------------------------------------


@dataclass
class Tokens:
    access_token: str
    refresh_token: str | None
    claims: dict[str, Any]  # the access token's (read without verification: the app's view)


def _claims(jwt: str) -> dict[str, Any]:
    body = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


def _tokens(response: requests.Response) -> Tokens:
    assert response.status_code == 200, response.text
    answer = response.json()
    return Tokens(
        answer["access_token"], answer.get("refresh_token"), _claims(answer["access_token"])
    )


def app_logs_in(setting: NativeSetting, http: requests.Session, *, resource: str | None) -> Tokens:
    """What the app does: open the authorization request in the browser (here `http`, which
    keeps the IdP's cookies), with PKCE S256 and a redirect on the port it listens on; read
    the code from the IdP's last redirect; redeem it with the verifier (no secret)."""
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    state = secrets.token_urlsafe(12)
    query = {
        "response_type": "code",
        "client_id": setting.client_id,
        "redirect_uri": redirect_uri,
        "scope": SCOPE,
        "state": state,
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    authorize = requests.Request("GET", f"{setting.idp.url}/authorize", params=query).prepare()
    assert authorize.url is not None
    page = browse(http, authorize.url, stop_at=redirect_uri)
    if not page.is_redirect:  # no IdP session yet: the login page
        assert page.url.startswith(f"{setting.idp.url}/login"), page.url
        page = sign_in_at_idp(http, page, USERNAME, stop_at=redirect_uri)
    assert page.is_redirect, (page.status_code, page.url, page.text[:1500])
    location = page.headers["Location"]
    assert location.startswith(redirect_uri + "?"), location
    callback = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    assert callback["state"] == state and callback["iss"] == setting.idp.url, callback
    body = {
        "grant_type": "authorization_code",
        "code": callback["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": setting.client_id,
        **({"resource": resource} if resource else {}),
    }
    return _tokens(requests.post(f"{setting.idp.url}/token", data=body, timeout=15))


def app_refreshes(setting: NativeSetting, refresh_token: str, *, resource: str) -> Tokens:
    body = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": setting.client_id,
        "resource": resource,
    }
    return _tokens(requests.post(f"{setting.idp.url}/token", data=body, timeout=15))


def api_get(setting: NativeSetting, path: str, token: str) -> requests.Response:
    return requests.get(
        f"{setting.api}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=15
    )


def make_member_company(setting: NativeSetting, subject: str) -> str:
    """In the portal's database: the person of `subject` (the IdP's `sub`), member of the
    Boulangerie Martin with every module; archives and accounting need « sécurité avancée »
    (the default). Returns the company's public id."""
    with setting.portal.app_context():
        person = PortalUser(
            subject=subject, email="marie.curie@cabinet.example", email_verified=True, name="Marie"
        )
        db.session.add(person)
        db.session.commit()
        company = make_company(make_firm(), "Boulangerie Martin")
        make_member(company, person, role=Role.ADMIN, modules=set(Module))
        public_id = company.public_id
        db.session.remove()
    return public_id


# --- the proof ------------------------------------------------------------------------------


def test_api_live_native_app_token_of_the_idp_opens_the_api(setting: NativeSetting) -> None:
    http = requests.Session()
    first = app_logs_in(setting, http, resource=setting.api)
    assert setting.api in first.claims["aud"] and setting.client_id in first.claims["aud"]
    assert first.claims["client_id"] == setting.client_id and first.refresh_token

    me = api_get(setting, "/me", first.access_token)
    assert me.status_code == 200, me.text
    assert me.json()["subject"] == first.claims["sub"] and me.json()["known"] is False
    assert api_get(setting, "/companies", first.access_token).json() == {"items": []}

    company_id = make_member_company(setting, first.claims["sub"])
    listed = api_get(setting, "/companies", first.access_token)
    assert listed.status_code == 200, listed.text
    [company] = listed.json()["items"]
    assert (company["id"], company["name"], company["role"]) == (
        company_id,
        "Boulangerie Martin",
        "admin",
    )
    advanced = {module["code"]: module["advanced"] for module in company["modules"]}
    assert advanced[Module.ARCHIVES.value] is True and advanced[Module.DEPOSIT.value] is False
    assert api_get(setting, "/me", first.access_token).json()["known"] is True

    # A password-only login: the « sécurité avancée » module asks for a step-up (RFC 9470).
    archives = api_get(setting, f"/companies/{company_id}/archives", first.access_token)
    assert archives.status_code == 401, archives.text
    assert archives.headers["Content-Type"].startswith("application/problem+json")
    assert archives.json()["code"] == "insufficient_user_authentication"
    challenge = archives.headers["WWW-Authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge
    assert 'acr_values="urn:sesame:acr:mfa"' in challenge
    deposits = api_get(setting, f"/companies/{company_id}/deposits", first.access_token)
    assert deposits.status_code == 200, deposits.text  # not advanced: open with this login

    # The refresh grant, asking for the API again: a new token that works.
    assert first.refresh_token is not None
    second = app_refreshes(setting, first.refresh_token, resource=setting.api)
    assert second.access_token != first.access_token
    assert setting.api in second.claims["aud"]
    again = api_get(setting, "/companies", second.access_token)
    assert again.status_code == 200 and again.json()["items"][0]["id"] == company_id


def test_api_live_token_not_asked_for_the_api_is_refused(setting: NativeSetting) -> None:
    """Without `resource`, the IdP's token is for the app alone (aud = its client id)."""
    tokens = app_logs_in(setting, requests.Session(), resource=None)
    assert tokens.claims["aud"] in (setting.client_id, [setting.client_id])
    refused = api_get(setting, "/me", tokens.access_token)
    assert refused.status_code == 401, refused.text
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


def test_api_live_second_login_of_the_app_needs_no_password(setting: NativeSetting) -> None:
    """The IdP session in the browser: the app's next login goes straight back, on another
    loopback port, and its token opens the API too."""
    http = requests.Session()
    first = app_logs_in(setting, http, resource=setting.api)
    second = app_logs_in(setting, http, resource=setting.api)  # no login page this time
    assert second.claims["sub"] == first.claims["sub"]
    assert api_get(setting, "/me", second.access_token).status_code == 200
