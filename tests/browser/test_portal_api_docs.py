"""The API's reference page in a real browser: Swagger UI (vendored) renders the portal's
operations under the portal's CSP, with no violation and nothing loaded from another origin."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Request, expect

from client_portal_rp import create_app
from tests.helpers import RESULTS_DIR, console_errors, serving

pytestmark = pytest.mark.browser

# Collects every CSP violation the page reports, from before its first script runs.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture
def portal_url() -> Iterator[str]:
    with serving(
        create_app({"TESTING": True, "PORTAL_IDP_ISSUER": "http://127.0.0.1:5000"})
    ) as url:
        yield url


def test_browser_api_reference_renders_the_operations_without_csp_violation(
    portal_url: str, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    requested: list[str] = []
    try:
        page = context.new_page()
        page.add_init_script(RECORD_VIOLATIONS)
        errors = console_errors(page)

        def remember(request: Request) -> None:
            requested.append(request.url)

        page.on("request", remember)
        answer = page.goto(portal_url + "/api/v1/docs")
        assert answer is not None and answer.status == 200
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        expect(page.locator("#main h1")).to_have_text("Référence de l'API du portail client")
        # Swagger UI drew the document: its title, the tags, the operations.
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("API du portail client")
        expect(page.locator(".opblock-tag-section h3", has_text="Archives")).to_be_visible()
        expect(page.locator(".opblock-tag-section h3", has_text="Accès")).to_be_visible()
        listing = page.locator(
            ".opblock-summary-path", has_text="/api/v1/companies/{company_id}/archives"
        ).first
        expect(listing).to_be_visible()
        assert page.locator(".opblock").count() >= 10
        # Swagger UI's stylesheet applied (the method badges are coloured).
        badge = page.locator(".opblock-get .opblock-summary-method").first
        assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(97, 175, 254)"
        # One operation opened: its parameters show.
        listing.click()
        expect(page.locator(".parameters-col_name", has_text="cursor").first).to_be_visible()
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS_DIR / "portal-api-docs.png"), full_page=False)
        page.screenshot(path=str(RESULTS_DIR / "portal-api-docs-full.png"), full_page=True)
        assert page.evaluate("window.__cspViolations") == []
        assert errors == []
        origin = urlsplit(portal_url).netloc
        assert {urlsplit(url).netloc for url in requested if not url.startswith("data:")} == {
            origin
        }
    finally:
        context.close()
