"""The portal's landing page in a real browser: French, readable at 360 px, no CSP violation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from client_portal_rp import create_app
from tests.helpers import RESULTS_DIR, console_errors, serving

pytestmark = pytest.mark.browser


@pytest.fixture
def portal_url() -> Iterator[str]:
    with serving(
        create_app({"TESTING": True, "PORTAL_IDP_ISSUER": "http://127.0.0.1:5000"})
    ) as url:
        yield url


@pytest.mark.parametrize(("name", "width"), [("phone", 360), ("desktop", 1280)])
def test_browser_portal_landing_is_french_and_fits(
    portal_url: str, browser: Browser, name: str, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 740}, locale="fr-FR")
    try:
        page = context.new_page()
        errors = console_errors(page)
        page.goto(portal_url + "/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Portail client")
        expect(page.get_by_role("heading", name="Connexion avec Sésame")).to_be_visible()
        link = page.get_by_role("link", name="Créer un compte sur Sésame")
        expect(link).to_have_attribute("href", "http://127.0.0.1:5000/signup")
        # the stylesheet applied (a CSP block would leave the default serif, black header)
        header_bg = page.locator(".site-header").evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        assert header_bg == "rgb(15, 90, 74)"
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS_DIR / f"portal-{name}.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
