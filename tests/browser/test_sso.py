"""Single sign-on in a real browser (headless Chromium): log in on the Bibliothèque de l'Ordre,
open the Revue Française de Comptabilité and the client portal without typing a password, log
out from the Revue: all three sites are logged out (RP-initiated logout at the IdP, then its
back-channel logout to the two others), at phone and desktop widths.

The IdP and the three relying parties are served over real HTTP in threads, each relying party
registered in the IdP as `make run` registers it (the library client_secret_post and
first-party, the journal client_secret_basic and third-party: Sésame asks for consent once, the
portal first-party). The back-channel delivery runs in the test, as the IdP's worker would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from samples.partner_site import build_config as partner_config
from samples.partner_site import create_app as create_partner
from tests.client_portal_rp.rp_helpers import (
    backchannel_delivery_lacking,
    create_idp_user,
    deliver_backchannel_logouts,
    idp_lacks,
    portal_with_schema,
    register_site,
)
from tests.helpers import RESULTS_DIR, TEST_PASSWORD, LiveIdP, console_errors, free_port, serving

MISSING = (
    idp_lacks("oidc.discovery", "oidc_pages.authorize", "oidc.token", "oidc_pages.end_session")
    or backchannel_delivery_lacking()
)
pytestmark = [pytest.mark.browser, pytest.mark.skipif(MISSING is not None, reason=str(MISSING))]


@dataclass
class Sites:
    library: str
    journal: str
    portal: str
    idp: LiveIdP


def partner(slug: str, idp: LiveIdP, url: str, client: tuple[str, str], method: str) -> Flask:
    """A sample partner site (samples/partner_site) registered as `client` at `idp`."""
    return create_partner(
        {
            **partner_config({"PARTNER_SITE": slug}),
            "TESTING": True,
            "PARTNER_IDP_ISSUER": idp.url,
            "PARTNER_BASE_URL": url,
            "PARTNER_CLIENT_ID": client[0],
            "PARTNER_CLIENT_SECRET": client[1],
            "PARTNER_CLIENT_AUTH_METHOD": method,
            "PARTNER_DATABASE_URL": "sqlite://",  # in memory, one per site
        }
    )


@pytest.fixture
def sites(live_idp: LiveIdP, tmp_path: Path) -> Iterator[Sites]:
    create_idp_user(live_idp, "marie.curie", given_name="Marie", family_name="Curie")
    ports = {name: free_port() for name in ("library", "journal", "portal")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    library = register_site(
        live_idp, "Bibliothèque de l'Ordre", urls["library"], auth_method="client_secret_post"
    )
    journal = register_site(
        live_idp,
        "Revue Française de Comptabilité",
        urls["journal"],
        auth_method="client_secret_basic",
        first_party=False,
    )
    portal = register_site(
        live_idp, "Portail client", urls["portal"], auth_method="client_secret_basic"
    )
    apps = {
        "library": partner(
            "bibliotheque", live_idp, urls["library"], library, "client_secret_post"
        ),
        "journal": partner("revue", live_idp, urls["journal"], journal, "client_secret_basic"),
        "portal": portal_with_schema(
            {
                "TESTING": True,
                "PORTAL_IDP_ISSUER": live_idp.url,
                "PORTAL_BASE_URL": urls["portal"],
                "PORTAL_CLIENT_ID": portal[0],
                "PORTAL_CLIENT_SECRET": portal[1],
                "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/portal.sqlite",
            }
        ),
    }
    with ExitStack() as stack:
        for name, app in apps.items():
            stack.enter_context(serving(app, ports[name]))
        yield Sites(urls["library"], urls["journal"], urls["portal"], live_idp)


def fits(page: Page, width: int) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width, page.url


def shot(page: Page, name: str) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / f"sso-{name}.png"), full_page=True)


@pytest.mark.parametrize(("name", "width"), [("phone", 360), ("desktop", 1280)])
def test_sso_one_login_three_sites_one_logout_ends_all(
    sites: Sites, browser: Browser, name: str, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 740}, locale="fr-FR")
    logins: list[str] = []
    try:
        page = context.new_page()
        errors = console_errors(page)
        page.on(
            "request",
            lambda request: (
                logins.append(request.url)
                if request.method == "POST"
                and request.url.split("?")[0] == f"{sites.idp.url}/login"
                else None
            ),
        )

        # 1. The library: the password is typed once, at Sésame.
        page.goto(sites.library + "/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Bibliothèque de l'Ordre")
        page.get_by_role("link", name="Se connecter avec Sésame").click()
        assert page.url.startswith(f"{sites.idp.url}/login")
        page.locator("input[name=username]").fill("marie.curie")
        page.locator("input[name=password]").fill(TEST_PASSWORD)
        page.locator("form[action^='/login'] button[type=submit]").click()
        expect(page.get_by_role("heading", name="Bonjour Marie Curie")).to_be_visible()
        assert page.url == sites.library + "/"
        fits(page, width)
        shot(page, f"{name}-1-library")

        # 2. The journal, a third-party site: Sésame asks for consent, never for the password.
        page.goto(sites.journal + "/")
        page.get_by_role("link", name="Se connecter avec Sésame").click()
        expect(page.get_by_role("button", name="Autoriser")).to_be_visible()
        fits(page, width)
        shot(page, f"{name}-2-consent")
        page.get_by_role("button", name="Autoriser").click()
        expect(page.get_by_role("heading", name="Bonjour Marie Curie")).to_be_visible()
        assert page.url == sites.journal + "/"
        shot(page, f"{name}-3-journal")

        # 3. The portal: straight in.
        page.goto(sites.portal + "/")
        page.get_by_role("link", name="Se connecter avec Sésame").click()
        expect(page.get_by_role("heading", name="Vous êtes connecté")).to_be_visible()
        expect(page.locator("dd[data-claim=name]")).to_have_text("Marie Curie")
        fits(page, width)
        shot(page, f"{name}-4-portal")
        assert len(logins) == 1, logins  # one password, three sites

        # 4. Log out from the journal: the IdP session ends (a confirmation page may show).
        page.goto(sites.journal + "/")
        page.get_by_role("button", name="Se déconnecter").click()
        if page.url.startswith(f"{sites.idp.url}/end-session"):
            shot(page, f"{name}-5-end-session")
            page.locator("form[action$='/end-session'] button[type=submit]").click()
        expect(page.get_by_text("Vous êtes déconnecté de ce site et de Sésame.")).to_be_visible()
        assert page.url == sites.journal + "/"
        shot(page, f"{name}-6-journal-logged-out")

        # 5. The IdP tells the other sites (its back-channel worker, run here).
        report = deliver_backchannel_logouts(sites.idp)
        assert report.delivered >= 2, report
        for url in (sites.library, sites.portal):
            page.goto(url + "/")
            expect(page.get_by_role("link", name="Se connecter avec Sésame")).to_be_visible()
            expect(page.get_by_text("Marie Curie")).to_have_count(0)
        shot(page, f"{name}-7-portal-logged-out")
        page.goto(sites.library + "/")
        page.get_by_role("link", name="Se connecter avec Sésame").click()
        assert page.url.startswith(f"{sites.idp.url}/login")  # the password again
        assert errors == []
    finally:
        context.close()
