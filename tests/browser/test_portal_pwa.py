"""Issue 17's proof for the installable app, in Debian's headless Chromium at 390×844 with a
phone's user agent and touch, against the portal served over real HTTP on 127.0.0.1 (a secure
context for service workers): the manifest parses and Chromium finds the app installable, the
service worker controls the page, the four services open by tap, a photo taken offline is
queued (« en attente d'envoi »), survives a reload (the page then comes from the worker, marked
« Hors ligne — affiché tel qu'au ... »), and arrives once when the network returns; logging out
drops the cached pages. Screenshots go to RESULTS_DIR for review.

The person is signed in with an MFA login through the session cookie, as in
tests/client_portal_rp/test_archives_browser.py (the IdP is not what is tested here).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import func, select

from client_portal_rp import create_app
from client_portal_rp.extensions import db
from client_portal_rp.models import Deposit
from tests.client_portal_rp.conftest import (
    make_company,
    make_firm,
    make_member,
    portal_test_config,
)
from tests.client_portal_rp.test_archives import publish
from tests.client_portal_rp.test_archives_browser import session_cookie
from tests.helpers import RESULTS_DIR, console_errors, serving

pytestmark = pytest.mark.browser

PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "user_agent": PHONE_UA,
    "is_mobile": True,
    "has_touch": True,
    "locale": "fr-FR",
    "timezone_id": "Europe/Paris",
}


@dataclass
class LivePortal:
    url: str
    app: Flask
    company_id: str
    cookie: str


@pytest.fixture
def live_portal(tmp_path: Path) -> Iterator[LivePortal]:
    database = f"sqlite:///{tmp_path}/portal.sqlite"
    app = create_app(portal_test_config(database, tmp_path))
    with app.app_context():
        db.create_all()
        company = make_company(make_firm(), "Boulangerie Martin")
        user = make_member(company)
        publish(company, "Bilan 2025.pdf")
        company_id = company.public_id
        cookie = session_cookie(app, user)
        db.session.remove()
    with serving(app) as url:
        yield LivePortal(url, app, company_id, cookie)
    with app.app_context():
        db.engine.dispose()


def phone(browser: Browser, portal: LivePortal) -> BrowserContext:
    context = browser.new_context(service_workers="allow", **PHONE)  # type: ignore[arg-type]
    name = portal.app.config["SESSION_COOKIE_NAME"]
    context.add_cookies([{"name": name, "value": portal.cookie, "url": portal.url}])
    return context


def shot(page: Page, name: str) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / f"portal-pwa-{name}.png"), full_page=True)


def deposit_count(app: Flask) -> int:
    with app.app_context():
        count = int(db.session.scalar(select(func.count()).select_from(Deposit)) or 0)
        db.session.remove()
        return count


def cached_pages(page: Page) -> list[str]:
    return list(
        page.evaluate(
            """async () => {
                if (!(await caches.has("portail-pages"))) return [];
                const cache = await caches.open("portail-pages");
                return (await cache.keys()).map((r) => new URL(r.url).pathname);
            }"""
        )
    )


def fits(page: Page) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390, page.url


def small_targets(page: Page) -> list[str]:
    """Visible links and buttons of the main content and navigation under 44 px high."""
    return list(
        page.evaluate(
            """() => Array.from(document.querySelectorAll(
                    ".company-nav a, main a.button, main button, .module-card a, .type-chips a,"
                    + " .archive-folders a, .add-button, .add-choice, main select, main input"
                )).filter((e) => e.offsetParent !== null && e.type !== "hidden"
                    && getComputedStyle(e).opacity !== "0")
                .filter((e) => e.getBoundingClientRect().height < 44)
                .map((e) => e.outerHTML.slice(0, 80))"""
        )
    )


def test_installable_app_queues_an_offline_photo_and_sends_it_once(
    browser: Browser, live_portal: LivePortal, tmp_path: Path
) -> None:
    home = f"{live_portal.url}/entreprises/{live_portal.company_id}/"
    context = phone(browser, live_portal)
    try:
        page = context.new_page()
        errors = console_errors(page)
        page.goto(home)
        expect(page.get_by_role("heading", level=1)).to_have_text("Boulangerie Martin")

        # Install criteria: a manifest Chromium parses without error, and a worker.
        manifest = page.evaluate(
            """async () => {
                const link = document.querySelector('link[rel="manifest"]');
                return (await fetch(link.href)).json();
            }"""
        )
        assert manifest["name"] == "Portail client" and manifest["display"] == "standalone"
        assert manifest["start_url"] == "/" and manifest["scope"] == "/"
        assert {icon["sizes"] for icon in manifest["icons"]} == {"192x192", "512x512"}
        assert any(icon["purpose"] == "maskable" for icon in manifest["icons"])
        cdp = context.new_cdp_session(page)
        parsed = cdp.send("Page.getAppManifest")
        assert parsed.get("errors") == [], parsed.get("errors")
        state = page.evaluate(
            """async () => {
                const worker = (await navigator.serviceWorker.ready).active;
                if (worker.state === "activating") {
                    await new Promise((done) => worker.addEventListener("statechange", done));
                }
                return worker.state;
            }"""
        )
        assert state == "activated"
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        assert page.evaluate("navigator.serviceWorker.controller.scriptURL").endswith("/sw.js")
        # Playwright's contexts are incognito, where Chromium never installs: that one aside,
        # Chromium finds nothing missing.
        found = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert [e for e in found if e["errorId"] != "in-incognito"] == [], found
        fits(page)
        assert small_targets(page) == []
        shot(page, "company")

        # The four services, by tap: deposits (module card), accounting, archives (the
        # company's navigation), and back home by the company's name.
        page.tap("text=Déposez vos documents")
        expect(page.get_by_role("heading", level=1)).to_have_text("Déposez vos documents")
        page.tap(".company-nav >> text=Compta")
        expect(page.get_by_role("heading", level=1)).to_have_text("Consultez votre compta en ligne")
        fits(page)
        shot(page, "compta")
        page.tap(".company-nav >> text=Archives")
        expect(page.get_by_role("heading", level=1)).to_have_text("Accédez à vos archives")
        page.tap(".archive-folders >> text=Documents comptables")
        expect(page.locator(".archive-name")).to_have_text(["Bilan 2025.pdf"])
        page.get_by_label("Rechercher par nom de fichier").tap()
        page.get_by_label("Rechercher par nom de fichier").fill("bilan")
        page.get_by_role("button", name="Rechercher").tap()
        expect(page.locator(".archive-name")).to_have_count(1)
        fits(page)
        assert small_targets(page) == []
        shot(page, "archives")
        page.tap(".company-nav .company-name")
        expect(page.get_by_role("heading", level=1)).to_have_text("Boulangerie Martin")
        page.tap("text=Déposez vos documents")
        expect(page.get_by_role("heading", level=1)).to_have_text("Déposez vos documents")
        page.tap(".type-chips >> text=Factures achats")
        expect(page.locator(".type-chips [aria-current=page]")).to_have_text("Factures achats")
        page.tap(".type-chips >> text=Tous")
        deposits = page.url
        page.wait_for_function(
            "async (path) => { const c = await caches.open('portail-pages');"
            " return !!(await c.match(path)); }",
            arg=deposits,
        )
        assert {f"/entreprises/{live_portal.company_id}/{tail}" for tail in ("", "depots")} <= (
            set(cached_pages(page))
        )
        assert errors == []

        # Offline: « + », « Prendre une photo », « Déposer »: the photo waits on the phone.
        context.set_offline(True)
        photo = tmp_path / "ticket-cafe.jpg"
        Image.new("RGB", (320, 240), (200, 120, 40)).save(photo, "JPEG")
        page.tap(".add-button")
        expect(page.get_by_text("Joindre un fichier")).to_be_visible()
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS_DIR / "portal-pwa-deposits-add-menu.png"))
        with page.expect_file_chooser() as chooser:
            page.tap("text=Prendre une photo")
        assert chooser.value.element.get_attribute("capture") == "environment"
        chooser.value.set_files(str(photo))
        page.get_by_role("button", name="Déposer").tap()
        queue = page.locator("[data-deposit-queue]")
        expect(queue.locator(".queue-item")).to_have_count(1)
        expect(queue).to_contain_text("ticket-cafe.jpg")
        expect(queue).to_contain_text("en attente d’envoi")
        expect(queue.get_by_role("heading")).to_have_text("1 document en attente d’envoi")
        assert deposit_count(live_portal.app) == 0

        # Reloaded, still offline: the page is the worker's copy, the queue is still there.
        page.reload()
        banner = page.locator("[data-offline-banner]")
        expect(banner).to_be_visible()
        expect(banner).to_have_text(
            re.compile(r"^Hors ligne — affiché tel qu'au \d\d/\d\d/\d{4} à \d\d:\d\d$")
        )
        expect(queue.locator(".queue-item")).to_have_count(1)
        expect(queue).to_contain_text("ticket-cafe.jpg")
        expect(page.locator("form.deposit-filter button")).to_be_disabled()
        fits(page)
        shot(page, "deposits-offline-queue")
        page.goto(f"{live_portal.url}/entreprises/{live_portal.company_id}/depots/inconnu")
        expect(page.get_by_role("heading", level=1)).to_have_text("Vous êtes hors ligne")
        page.go_back()
        expect(queue.locator(".queue-item")).to_have_count(1)
        assert deposit_count(live_portal.app) == 0

        # The network returns: the page's `online` event and the worker's sync both flush;
        # the lock and the Idempotency-Key make it one deposit.
        context.set_offline(False)
        expect(queue.locator("[data-queue-status]")).to_contain_text("ticket-cafe.jpg")
        expect(queue.locator(".queue-item")).to_have_count(0)
        assert deposit_count(live_portal.app) == 1
        page.evaluate("PortalDepositQueue.flush()")  # a late flush finds nothing to send
        page.reload()
        expect(page.get_by_role("link", name="ticket-cafe.jpg", exact=True)).to_be_visible()
        assert deposit_count(live_portal.app) == 1
        assert page.evaluate("PortalDepositQueue.all().then((items) => items.length)") == 0
        shot(page, "deposits-sent")

        # Logging out drops the cached pages: the next person on this phone sees none.
        assert cached_pages(page)
        page.get_by_role("button", name="Se déconnecter").tap()
        page.wait_for_url(f"{live_portal.url}/")
        assert cached_pages(page) == []
    finally:
        context.close()
