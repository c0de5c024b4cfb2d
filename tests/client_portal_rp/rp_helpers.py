"""Helpers of the relying-party tests (the portal, the sample partner sites): an IdP's signing
keys and the logout tokens they sign, a site whose discovery document is already known (so a
test needs no IdP for what happens on the site's side), and a login put in a browser's cookie.

The tests of the whole flow against the real IdP are in tests/client_portal_rp/test_sso_live.py,
tests/browser/test_sso.py and tests/e2e/.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import secrets
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from client_portal_rp import create_app as create_portal
from relying_party.logout_token import BACKCHANNEL_LOGOUT_EVENT
from relying_party.views import SESSION_KEY, RelyingParty
from tests.helpers import TEST_PASSWORD, LiveIdP

ISSUER = "https://sesame.example"
CLIENT_ID = "portal-client-id"
CLIENT_SECRET = "portal-client-secret-0123456789abcdef"
BASE_URL = "https://portail.example"


@dataclass
class IdPKeys:
    """An IdP's signing keys (one RSA, one EC) and the JWKS it would publish."""

    rsa: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, {"kid": "rsa-1", "use": "sig"})
    )
    ec: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256", {"kid": "ec-1"}))

    def jwks(self) -> dict[str, Any]:
        return KeySet([self.rsa, self.ec]).as_dict(private=False)

    def sign(self, claims: dict[str, Any], *, alg: str = "RS256", **header: Any) -> str:
        key = self.ec if alg == "ES256" else self.rsa
        return jwt.encode({"alg": alg, "kid": key.kid, **header}, claims, key)


def logout_claims(**overrides: Any) -> dict[str, Any]:
    """The claims of a valid logout token for the test client; a value None removes it."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(12),
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        "sid": "idp-session-1",
        "sub": "subject-1",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def portal_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "portal-test-secret-0123456789abcdef",
        "PORTAL_IDP_ISSUER": ISSUER,
        "PORTAL_BASE_URL": BASE_URL,
        "PORTAL_CLIENT_ID": CLIENT_ID,
        "PORTAL_CLIENT_SECRET": CLIENT_SECRET,
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/portal.sqlite",
        **overrides,
    }


def portal_with_schema(config: dict[str, Any]) -> Flask:
    """A portal app whose database has its tables (what `portal db upgrade` does in use)."""
    from client_portal_rp.extensions import db

    app = create_portal(config)
    with app.app_context():
        db.create_all()
        db.session.remove()
    return app


def relying_party(app: Flask) -> RelyingParty:
    rp: RelyingParty = app.extensions["relying_party"]
    return rp


def seed_discovery(app: Flask, keys: IdPKeys, issuer: str = ISSUER) -> dict[str, Any]:
    """Give the site's Authlib client the IdP's discovery document and JWKS, as if fetched."""
    metadata = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "end_session_endpoint": f"{issuer}/end-session",
        "authorization_response_iss_parameter_supported": True,
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "_loaded_at": time.time(),
        "jwks": keys.jwks(),
    }
    relying_party(app).oauth.server_metadata.update(metadata)
    return metadata


def seeded_portal(tmp_path: Path, keys: IdPKeys, **overrides: Any) -> Flask:
    app = portal_with_schema(portal_config(tmp_path, **overrides))
    seed_discovery(app, keys)
    return app


DEFAULT_CLAIMS = {
    "sub": "subject-1",
    "sid": "idp-session-1",
    "preferred_username": "marie.curie",
    "name": "Marie Curie",
    "given_name": "Marie",
    "family_name": "Curie",
    "email": "marie@cabinet.example",
}


def log_in_directly(
    app: Flask, browser: FlaskClient, *, id_token: str = "header.payload.sig", **claims: Any
) -> str:
    """Record a login as the callback would and put its id in `browser`'s cookie; returns the
    login id. Claims default to Marie Curie's, IdP session `idp-session-1`."""
    values = {**DEFAULT_CLAIMS, **claims}
    login_id = relying_party(app).store.start(
        subject=values["sub"], sid=values.get("sid"), claims=values, id_token=id_token, hours=1
    )
    with browser.session_transaction() as session:
        session[SESSION_KEY] = login_id
    return login_id


def csrf_of(page: str) -> str:
    marker = 'name="csrf_token" value="'
    assert marker in page, page[:1500]
    return page.split(marker, 1)[1].split('"', 1)[0]


# --- against the real IdP over HTTP ---------------------------------------------------------


@functools.cache
def idp_endpoints() -> frozenset[str]:
    """The endpoint names the IdP of this tree serves (its OIDC pieces land one by one)."""
    from idp import create_app as create_idp
    from tests.helpers import base_config

    return frozenset(create_idp(base_config("sqlite://")).view_functions)


def idp_lacks(*endpoints: str) -> str | None:
    """Why a flow cannot run yet: the first IdP endpoint missing (None: all served)."""
    missing = [name for name in endpoints if name not in idp_endpoints()]
    return f"the IdP does not serve {', '.join(missing)} yet (issue 13)" if missing else None


def backchannel_delivery_lacking() -> str | None:
    """Why back-channel logout cannot be delivered yet (None: idp.oidc.backchannel is there)."""
    if importlib.util.find_spec("idp.oidc.backchannel") is None:
        return "the IdP has no back-channel logout delivery yet (idp/oidc/backchannel.py)"
    return None


def register_site(
    idp: LiveIdP, name: str, site_url: str, *, auth_method: str, first_party: bool = True
) -> tuple[str, str]:
    """Register a relying party at `site_url` in the live IdP, as `idp clients add` stores it:
    its callback, post-logout and back-channel logout URIs; returns (client_id, secret)."""
    from tests.idp.oidc.helpers import register_client

    with idp.app.app_context():
        client = register_client(
            name=name,
            auth_method=auth_method,
            first_party=first_party,
            redirect_uris=[f"{site_url}/callback"],
            post_logout_redirect_uris=[f"{site_url}/logged-out"],
            backchannel_logout_uri=f"{site_url}/backchannel-logout",
            scopes=["openid", "profile", "email", "ordre"],
        )
    assert client.secret is not None
    return client.client_id, client.secret


def create_idp_user(idp: LiveIdP, username: str, **fields: Any) -> None:
    from tests.factories import create_user

    with idp.app.app_context():
        create_user(username, **fields)


def deliver_backchannel_logouts(idp: LiveIdP) -> Any:
    """What the IdP's back-channel worker does, now: post the due logout tokens."""
    backchannel = importlib.import_module("idp.oidc.backchannel")
    from idp.extensions import db

    with idp.app.app_context():
        report = backchannel.deliver_pending_logouts(db.session)
        db.session.remove()
    return report


def browse(
    http: requests.Session,
    url: str,
    *,
    data: dict[str, str] | None = None,
    stop_at: str | None = None,
) -> requests.Response:
    """GET (or POST `data` to) `url` and follow redirects as a browser does; with `stop_at`,
    stop at the redirect whose target starts with it (the caller reads its Location)."""
    method = "POST" if data is not None else "GET"
    response = http.request(method, url, data=data, allow_redirects=False, timeout=15)
    for _ in range(20):
        if not response.is_redirect:
            return response
        target = urljoin(response.url, response.headers["Location"])
        if stop_at is not None and target.startswith(stop_at):
            return response
        response = http.get(target, allow_redirects=False, timeout=15)
    raise AssertionError(f"redirect loop from {url}")


class _PostForms(HTMLParser):
    """The POST forms of a page: action and hidden fields of each."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and values.get("method", "").lower() == "post":
            self.forms.append((values.get("action", ""), {}))
            self._inside = True
        elif tag == "input" and self._inside and values.get("type") == "hidden":
            self.forms[-1][1][values.get("name", "")] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def submit(
    http: requests.Session,
    page: requests.Response,
    action: str,
    fields: dict[str, str] | None = None,
    **options: Any,
) -> requests.Response:
    """Post the page's form whose action has the path `action`, as a browser does: its hidden
    fields (the CSRF token...) and `fields`; follow redirects (options: `browse`'s)."""
    parser = _PostForms()
    parser.feed(page.text)
    for form_action, hidden in parser.forms:
        target = urljoin(page.url, form_action)
        if urlsplit(target).path == action:
            return browse(http, target, data={**hidden, **(fields or {})}, **options)
    raise AssertionError(f"no POST form to {action} on {page.url}: {page.text[:2000]}")


def sign_in_at_idp(
    http: requests.Session,
    page: requests.Response,
    username: str,
    password: str = TEST_PASSWORD,
    **options: Any,
) -> requests.Response:
    """On the IdP's login page: type the username and password; then accept the consent page
    if one shows (a third-party site). Returns where the redirects end (or stop)."""
    assert 'name="password"' in page.text, (page.url, page.text[:1500])
    response = submit(http, page, "/login", {"username": username, "password": password}, **options)
    return consent_if_asked(http, response, **options)


def consent_if_asked(
    http: requests.Session, page: requests.Response, **options: Any
) -> requests.Response:
    if page.is_redirect or 'name="consent_request"' not in page.text:
        return page
    return submit(http, page, "/authorize/consent", {"decision": "allow"}, **options)
