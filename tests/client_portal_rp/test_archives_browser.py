"""« Accédez à vos archives » in Debian's Chromium (Playwright), on a portal served over real
HTTP: the list at phone and desktop widths (no horizontal scroll, no CSP violation), a
document's page, and « Ouvrir »: the PDF rendered by Chromium's viewer under the sandbox CSP,
in a new tab (the portal's pages forbid framing). Screenshots go to RESULTS_DIR for review.

The person is signed in with an MFA login the way the callback would do it: a login record in
the portal's store and its id in the signed session cookie.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from client_portal_rp.archives.views import VIEWER_CSP
from client_portal_rp.models import ArchiveFolder, PortalUser
from relying_party.logins import ACR_ADVANCED
from relying_party.views import SESSION_KEY
from tests.client_portal_rp.conftest import make_company, make_firm, make_member
from tests.client_portal_rp.test_archives import CSV_BYTES, pdf_bytes, png_bytes, publish
from tests.helpers import RESULTS_DIR, console_errors, require_browser, serving

pytestmark = pytest.mark.browser


@dataclass
class LivePortal:
    url: str
    app: Flask
    company_id: str
    pdf_id: str
    png_id: str
    cookie: str  # the session cookie of an MFA login of a member


def session_cookie(app: Flask, user: PortalUser) -> str:
    """The portal's session cookie of an MFA login of `user` (as tests' `sign_in` does); in
    an app context."""
    from relying_party.views import relying_party

    claims: dict[str, Any] = {
        "sub": user.subject,
        "email": user.email,
        "email_verified": True,
        "name": user.name,
        "acr": ACR_ADVANCED,
        "amr": ["pwd", "otp", "mfa"],
    }
    login_id = relying_party().store.start(
        subject=user.subject, sid=f"sid-{user.subject}", claims=claims, id_token="x.y.z", hours=1
    )
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert serializer is not None
    return str(serializer.dumps({SESSION_KEY: login_id}))


@pytest.fixture
def live_portal(committed_portal: Flask) -> Iterator[LivePortal]:
    require_browser()
    app = committed_portal
    with app.app_context():
        company = make_company(make_firm(), "Boulangerie Édouard & Fils")
        user = make_member(company)
        pdf = publish(company, "Bilan Général 2024 — version définitive signée.pdf", pdf_bytes())
        png = publish(company, "scan-kbis.png", png_bytes(), folder=ArchiveFolder.JURIDIQUES)
        publish(company, "balance.csv", CSV_BYTES, folder=ArchiveFolder.FISCAUX, exercice=2023)
        ids = (company.public_id, pdf.public_id, png.public_id)
        cookie = session_cookie(app, user)
    with serving(app) as url:
        yield LivePortal(url, app, *ids, cookie)


def signed_in(browser: Browser, portal: LivePortal, width: int) -> BrowserContext:
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="fr-FR")
    context.add_cookies(
        [
            {
                "name": portal.app.config["SESSION_COOKIE_NAME"],
                "value": portal.cookie,
                "url": portal.url,
            }
        ]
    )
    return context


def looks_like_a_rendered_pdf(screenshot: bytes) -> bool:
    """Chromium's viewer: a dark background and toolbar around a white page with dark text."""
    image = Image.open(io.BytesIO(screenshot)).convert("L")
    histogram = image.histogram()
    total = image.width * image.height
    white = sum(histogram[250:]) / total
    dark = sum(histogram[:80]) / total
    return white > 0.05 and dark > 0.2


@pytest.mark.parametrize(("name", "width"), [("phone", 360), ("desktop", 1280)])
def test_archives_list_fits_and_opens_a_pdf_in_chromiums_viewer(
    live_portal: LivePortal, browser: Browser, name: str, width: int
) -> None:
    context = signed_in(browser, live_portal, width)
    try:
        page = context.new_page()
        errors = console_errors(page)
        base = f"{live_portal.url}/entreprises/{live_portal.company_id}/archives"
        page.goto(base)
        expect(page.get_by_role("heading", level=1)).to_have_text("Accédez à vos archives")
        expect(page.get_by_role("link", name="Documents juridiques 1")).to_be_visible()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS_DIR / f"portal-archives-{name}.png"), full_page=True)

        page.get_by_label("Rechercher par nom de fichier").fill("general")
        page.get_by_role("button", name="Rechercher").click()
        expect(page.locator(".archive-name")).to_have_count(1)
        page.locator(".archive-name").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Bilan Général 2024")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width
        page.screenshot(path=str(RESULTS_DIR / f"portal-archive-detail-{name}.png"), full_page=True)

        with context.expect_page() as opened:
            page.get_by_role("link", name="Ouvrir").click()
        viewer = opened.value
        viewer.wait_for_load_state()
        assert pdf_drawn(viewer), "Chromium did not render the PDF"
        viewer.screenshot(path=str(RESULTS_DIR / f"portal-archive-pdf-{name}.png"))
        assert viewer.url.endswith(f"/archives/{live_portal.pdf_id}/voir")
        assert errors == []
    finally:
        context.close()


def pdf_drawn(page: Page, seconds: float = 15.0) -> bool:
    """The viewer draws the page some time after `load` (longer on a loaded machine): look
    every 300 ms rather than once after a fixed wait."""
    deadline = time.monotonic() + seconds
    while True:
        if looks_like_a_rendered_pdf(page.screenshot()):
            return True
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(300)


def test_pdf_and_image_render_under_the_sandbox_policy(
    live_portal: LivePortal, browser: Browser
) -> None:
    context = signed_in(browser, live_portal, 1000)
    try:
        page = context.new_page()
        base = f"{live_portal.url}/entreprises/{live_portal.company_id}/archives"
        response = page.goto(f"{base}/{live_portal.pdf_id}/voir")
        assert response is not None
        # all_headers(): `headers` leaves out the security ones.
        assert response.all_headers()["content-security-policy"] == VIEWER_CSP
        assert pdf_drawn(page)

        response = page.goto(f"{base}/{live_portal.png_id}/voir")
        assert response is not None and response.headers["content-type"] == "image/png"
        image = page.locator("img")
        expect(image).to_have_count(1)
        # The image was decoded (a blocked load leaves naturalWidth at 0).
        assert image.evaluate("img => img.naturalWidth") == 120
        # The sandbox holds: the document's origin is opaque.
        assert page.evaluate("window.origin") == "null"
    finally:
        context.close()
