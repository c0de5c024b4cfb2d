"""The portal against the real IdP, both served over HTTP: a person logs in on the portal
through Sésame (code flow + PKCE, the person's password typed at the IdP only), comes back
without a password, logs out (the IdP session ends too), and is logged out of the portal when
the IdP session ends elsewhere (back-channel logout)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask import Flask

from tests.client_portal_rp.rp_helpers import (
    backchannel_delivery_lacking,
    browse,
    create_idp_user,
    deliver_backchannel_logouts,
    idp_lacks,
    portal_with_schema,
    register_site,
    relying_party,
    sign_in_at_idp,
    submit,
)
from tests.helpers import Inbox, LiveIdP, free_port, running_idp, serving

CODE_FLOW = ("oidc.discovery", "oidc.jwks", "oidc_pages.authorize", "oidc.token")
pytestmark = pytest.mark.skipif(bool(idp_lacks(*CODE_FLOW)), reason=str(idp_lacks(*CODE_FLOW)))


@dataclass
class LivePortal:
    app: Flask
    url: str
    idp: LiveIdP


@pytest.fixture
def live_idp(own_database_url: str, smtp_server: Inbox) -> Iterator[LiveIdP]:
    with running_idp(own_database_url, smtp_server) as idp:
        yield idp


@pytest.fixture
def portal(live_idp: LiveIdP, tmp_path: Path) -> Iterator[LivePortal]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client_id, secret = register_site(
        live_idp, "Portail client", url, auth_method="client_secret_basic"
    )
    app = portal_with_schema(
        {
            "TESTING": True,
            "PORTAL_IDP_ISSUER": live_idp.url,
            "PORTAL_BASE_URL": url,
            "PORTAL_CLIENT_ID": client_id,
            "PORTAL_CLIENT_SECRET": secret,
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/portal.sqlite",
        }
    )
    create_idp_user(live_idp, "marie.curie", given_name="Marie", family_name="Curie")
    with serving(app, port):
        yield LivePortal(app, url, live_idp)
    relying_party(app).store.dispose()


def log_in(portal: LivePortal, http: requests.Session) -> requests.Response:
    login_page = browse(http, f"{portal.url}/login")
    assert login_page.url.startswith(f"{portal.idp.url}/login"), login_page.url
    return sign_in_at_idp(http, login_page, "marie.curie")


def test_sso_live_login_through_the_idp_shows_the_account(portal: LivePortal) -> None:
    http = requests.Session()
    home = log_in(portal, http)
    assert home.url == f"{portal.url}/", home.url
    assert '<dd data-claim="name">Marie Curie</dd>' in home.text
    assert '<dd data-claim="preferred_username">marie.curie</dd>' in home.text
    assert "marie.curie@cabinet.example" in home.text  # the email scope
    again = browse(http, f"{portal.url}/login")  # the IdP session: no password this time
    assert again.url == f"{portal.url}/" and "Marie Curie" in again.text


def test_sso_live_logout_ends_the_portal_login_and_the_idp_session(portal: LivePortal) -> None:
    if reason := idp_lacks("oidc_pages.end_session"):
        pytest.skip(reason)
    http = requests.Session()
    home = log_in(portal, http)
    after = submit(http, home, "/logout")  # « Se déconnecter » (its form has the CSRF token)
    if after.url.startswith(f"{portal.idp.url}/end-session"):  # a confirmation page
        after = submit(http, after, "/end-session")
    assert after.url == f"{portal.url}/", after.url
    assert "Vous êtes déconnecté de ce site et de Sésame." in after.text
    assert "Marie Curie" not in after.text
    account = browse(http, f"{portal.idp.url}/account")
    assert account.url.startswith(f"{portal.idp.url}/login")  # the IdP session is over


def test_sso_live_idp_logout_elsewhere_logs_the_portal_out(portal: LivePortal) -> None:
    if reason := backchannel_delivery_lacking():
        pytest.skip(reason)
    http = requests.Session()
    assert "Marie Curie" in log_in(portal, http).text
    confirm = browse(http, f"{portal.idp.url}/logout")  # the IdP's own logout
    submit(http, confirm, "/logout")
    report = deliver_backchannel_logouts(portal.idp)
    assert report.delivered == 1, report
    home = browse(http, f"{portal.url}/")
    assert "Marie Curie" not in home.text and "Se connecter avec Sésame" in home.text
