"""End to end with a certified relying-party library that is not ours: panva's `openid-client`
(v6, OpenID Certified) in Node, against the IdP served over real HTTP.

tests/e2e/openid_client/driver.mjs keeps the library's state and answers one JSON command per
line; pytest plays the person (the login form at the IdP, the consent page) with a requests
session, hands the callback URL to the library, and runs the IdP's back-channel delivery. What
the library checks itself: discovery, state, PKCE, the authorization response's `iss`
(RFC 9207), the ID token (signature from the JWKS, `iss`, `aud`, `exp`, `iat`, `nonce`), the
userinfo `sub`, the refreshed ID token's `sub`; the logout token is verified by panva's `jose`
(signature, `iss`, `aud`) plus the back-channel rules.

Needs Node and the packages of tests/e2e/openid_client (`make e2e-deps`, which `make test`
runs: `npm ci`); without them the tests skip (fail under REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pyotp
import pytest
import requests

from tests.client_portal_rp.rp_helpers import (
    backchannel_delivery_lacking,
    browse,
    consent_if_asked,
    create_idp_user,
    deliver_backchannel_logouts,
    idp_lacks,
    register_site,
    sign_in_at_idp,
    submit,
)
from tests.helpers import TEST_PASSWORD, Inbox, LiveIdP, running_idp, service_missing

DRIVER_DIR = Path(__file__).parent / "openid_client"
ENDPOINTS = (
    "oidc.discovery",
    "oidc.jwks",
    "oidc_pages.authorize",
    "oidc.token",
    "oidc.userinfo",
    "oidc.revoke",
    "oidc.introspect",
    "oidc_pages.end_session",
)
MISSING = idp_lacks(*ENDPOINTS) or backchannel_delivery_lacking()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(MISSING is not None, reason=str(MISSING))]
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
ACR_MFA = "urn:sesame:acr:mfa"  # "sécurité avancée" (idp/oidc/acr.py)


class LibraryError(Exception):
    """openid-client refused something; `details` holds its error (name, code, error...)."""

    def __init__(self, details: dict[str, Any]) -> None:
        super().__init__(json.dumps(details))
        self.details = details


class CertifiedRP:
    """The Node driver: one command in, one answer out."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        ready = json.loads(self._line())
        self.backchannel_uri: str = ready["backchannel_uri"]
        self.origin = self.backchannel_uri.rsplit("/", 1)[0]

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            assert self.process.stderr is not None
            raise AssertionError(f"the Node driver stopped: {self.process.stderr.read()}")
        return line

    def __call__(self, command: str, **args: Any) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"command": command, **args}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self._line())
        if not answer["ok"]:
            raise LibraryError(answer["error"])
        return answer["result"]


def node_ready() -> None:
    """Skip (fail in CI) without Node, npm, or the driver's installed packages."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        service_missing("Node.js and npm are needed for the openid-client end-to-end test")
    if not (DRIVER_DIR / "node_modules" / "openid-client").is_dir():
        service_missing(f"run `make e2e-deps` (npm ci in {DRIVER_DIR}) first")


@pytest.fixture
def rp() -> Iterator[CertifiedRP]:
    node_ready()
    process = subprocess.Popen(
        ["node", "driver.mjs"],
        cwd=DRIVER_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield CertifiedRP(process)
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def idp(own_database_url: str, smtp_server: Inbox) -> Iterator[LiveIdP]:
    with running_idp(own_database_url, smtp_server) as live:
        create_idp_user(live, "marie.curie", given_name="Marie", family_name="Curie")
        yield live


def registered(idp: LiveIdP, rp: CertifiedRP, auth_method: str) -> str:
    """Register the Node RP (third-party: Sésame asks for consent); discover; its client id."""
    client_id, secret = register_site(  # <origin>/backchannel-logout: the driver's endpoint
        idp, "Site certifié", rp.origin, auth_method=auth_method, first_party=False
    )
    rp(
        "discover",
        issuer=idp.url,
        client_id=client_id,
        client_secret=secret,
        auth_method=auth_method,
    )
    return client_id


def log_in(idp: LiveIdP, rp: CertifiedRP, http: requests.Session) -> dict[str, Any]:
    """The library builds the authorization URL; the person logs in and consents; the
    library redeems the callback. Returns its token summary."""
    redirect_uri = f"{rp.origin}/callback"
    request = rp("authorization_url", redirect_uri=redirect_uri, scope="openid profile email")
    query = parse_qs(urlsplit(request["url"]).query)
    assert query["code_challenge_method"] == ["S256"] and "nonce" in query
    page = browse(http, request["url"])
    if 'name="password"' in page.text:
        back = sign_in_at_idp(http, page, "marie.curie", stop_at=redirect_uri)
    else:
        back = browse(http, request["url"], stop_at=redirect_uri)
    callback = urljoin(back.url, back.headers["Location"])
    assert parse_qs(urlsplit(callback).query)["iss"] == [idp.url]
    return dict(rp("callback", url=callback))


@pytest.mark.parametrize("auth_method", ["client_secret_post", "client_secret_basic"])
def test_openid_client_code_flow_userinfo_refresh_revocation_and_logout(
    idp: LiveIdP, rp: CertifiedRP, auth_method: str
) -> None:
    client_id = registered(idp, rp, auth_method)
    http = requests.Session()
    tokens = log_in(idp, rp, http)

    claims = tokens["claims"]  # validated by openid-client
    assert claims["iss"] == idp.url and claims["aud"] == client_id
    assert claims["preferred_username"] == "marie.curie" and claims["sub"] != "marie.curie"
    assert {"auth_time", "sid", "acr", "amr", "at_hash", "nonce"} <= set(claims)
    assert tokens["token_type"].lower() == "bearer"
    assert 0 < tokens["expires_in"] <= 600
    assert tokens["has_refresh_token"]

    info = rp("userinfo")
    assert info["sub"] == claims["sub"] and info["email"] == "marie.curie@cabinet.example"

    refreshed = rp("refresh")
    assert refreshed["rotated"] is True
    if refreshed["claims"]:  # an ID token in the refresh response keeps the login's facts
        assert refreshed["claims"]["sub"] == claims["sub"]
        assert refreshed["claims"]["auth_time"] == claims["auth_time"]
        assert refreshed["claims"]["sid"] == claims["sid"]
    assert rp("userinfo")["sub"] == claims["sub"]  # the new access token works

    assert rp("introspect", which="access")["active"] is True
    rp("revoke", which="access")
    assert rp("introspect", which="access")["active"] is False
    with pytest.raises(LibraryError) as refused:
        rp("userinfo")
    assert refused.value.details["status"] == 401

    rp("revoke", which="refresh")
    with pytest.raises(LibraryError) as refused:
        rp("refresh")
    assert refused.value.details["error"] == "invalid_grant"

    post_logout = f"{rp.origin}/logged-out"
    logout = rp("end_session_url", post_logout_redirect_uri=post_logout, state="bye-42")
    page = browse(http, logout["url"], stop_at=post_logout)
    if not page.is_redirect:  # a confirmation page at the IdP
        page = submit(http, page, "/end-session", stop_at=post_logout)
    back = parse_qs(urlsplit(page.headers["Location"]).query)
    assert back["state"] == ["bye-42"]

    report = deliver_backchannel_logouts(idp)
    assert report.delivered == 1, report
    [received] = rp("backchannel_logouts")
    assert received["valid"] is True and received["problems"] == [], received
    assert received["content_type"].startswith("application/x-www-form-urlencoded")
    payload = received["payload"]
    assert payload["iss"] == idp.url and payload["aud"] == client_id
    assert payload["sid"] == claims["sid"] and BACKCHANNEL_EVENT in payload["events"]
    assert "nonce" not in payload and payload["jti"]


def test_openid_client_refresh_token_reuse_revokes_the_family(
    idp: LiveIdP, rp: CertifiedRP
) -> None:
    registered(idp, rp, "client_secret_post")
    log_in(idp, rp, requests.Session())
    rp("refresh")  # the first refresh token is now used
    with pytest.raises(LibraryError) as reused:
        rp("refresh", which="first")
    assert reused.value.details["error"] == "invalid_grant"
    with pytest.raises(LibraryError) as family:
        rp("refresh")  # the rotated one went with its family
    assert family.value.details["error"] == "invalid_grant"
    with pytest.raises(LibraryError):
        rp("userinfo")  # and so did the access token


def test_openid_client_second_login_uses_the_idp_session_and_refuses_a_forged_state(
    idp: LiveIdP, rp: CertifiedRP
) -> None:
    registered(idp, rp, "client_secret_basic")
    http = requests.Session()
    first = log_in(idp, rp, http)
    second = log_in(idp, rp, http)  # no password, no consent this time
    assert second["claims"]["sid"] == first["claims"]["sid"]
    assert second["claims"]["auth_time"] == first["claims"]["auth_time"]
    request = rp("authorization_url", redirect_uri=f"{rp.origin}/callback", scope="openid profile")
    back = browse(http, request["url"], stop_at=f"{rp.origin}/callback")
    callback = urljoin(back.url, back.headers["Location"])
    forged = callback.replace(f"state={request['state']}", "state=forged")
    with pytest.raises(LibraryError) as refused:
        rp("callback", url=forged)
    assert '"state"' in refused.value.details["cause"], refused.value.details


def enrol_totp_at_idp(idp: LiveIdP, username: str) -> str:
    """A confirmed TOTP for the IdP's account `username`; returns its secret."""
    from sqlalchemy import select

    from idp.accounts.models import User
    from idp.extensions import db
    from tests.idp.mfa.support import enrol_totp

    with idp.app.app_context():
        user = db.session.scalars(select(User).where(User.username == username)).one()
        secret = enrol_totp(user)
        db.session.remove()
    return secret


def test_openid_client_acr_values_steps_up_with_totp(idp: LiveIdP, rp: CertifiedRP) -> None:
    """Security 27 with a certified RP: acr_values=urn:sesame:acr:mfa; the person types the
    password, then the TOTP code on the second-factor page; the ID token the library validated
    says acr urn:sesame:acr:mfa and amr with otp and mfa."""
    registered(idp, rp, "client_secret_basic")
    secret = enrol_totp_at_idp(idp, "marie.curie")
    http = requests.Session()
    redirect_uri = f"{rp.origin}/callback"
    request = rp(
        "authorization_url",
        redirect_uri=redirect_uri,
        scope="openid profile",
        extra={"acr_values": ACR_MFA},
    )
    assert parse_qs(urlsplit(request["url"]).query)["acr_values"] == [ACR_MFA]
    page = browse(http, request["url"])
    verify = submit(http, page, "/login", {"username": "marie.curie", "password": TEST_PASSWORD})
    assert urlsplit(verify.url).path == "/login/verify", verify.url
    back = submit(http, verify, "/login/verify", {"otp": pyotp.TOTP(secret).now()},
                  stop_at=redirect_uri)  # fmt: skip
    back = consent_if_asked(http, back, stop_at=redirect_uri)
    callback = urljoin(back.url, back.headers["Location"])
    assert parse_qs(urlsplit(callback).query)["iss"] == [idp.url]
    tokens = rp("callback", url=callback)
    claims = tokens["claims"]
    assert claims["acr"] == ACR_MFA
    assert {"pwd", "otp", "mfa"} <= set(claims["amr"])

    # The session is MFA now: the next request for the level gets its code at once.
    again = rp("authorization_url", redirect_uri=redirect_uri, scope="openid",
               extra={"acr_values": ACR_MFA})  # fmt: skip
    back = browse(http, again["url"], stop_at=redirect_uri)
    second = rp("callback", url=urljoin(back.url, back.headers["Location"]))
    assert second["claims"]["acr"] == ACR_MFA and second["claims"]["sid"] == claims["sid"]


def test_openid_client_essential_acr_that_cannot_be_met_is_an_error_for_the_library(
    idp: LiveIdP, rp: CertifiedRP
) -> None:
    registered(idp, rp, "client_secret_post")
    redirect_uri = f"{rp.origin}/callback"
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:other:loa:4"]}}})
    request = rp("authorization_url", redirect_uri=redirect_uri, scope="openid",
                 extra={"claims": claims})  # fmt: skip
    back = browse(requests.Session(), request["url"], stop_at=redirect_uri)
    callback = urljoin(back.url, back.headers["Location"])
    with pytest.raises(LibraryError) as refused:
        rp("callback", url=callback)
    assert refused.value.details["error"] == "unmet_authentication_requirements"
