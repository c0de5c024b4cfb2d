"""The issue's acceptance, in a real browser: a person creates an « Autre » account, activates
it from the email, logs in and out, forgets the password, resets it from the email and logs in
with the new one. At phone size (360x740) and desktop size, in French, without horizontal
scrolling, without console errors (CSP violations are console errors in Chromium).

Screenshots of every step go to test-results/ (gitignored) for a human to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from idp.accounts import services
from idp.accounts.models import UserStatus
from idp.extensions import db
from tests.helpers import RESULTS_DIR, LiveIdP

pytestmark = pytest.mark.browser

VIEWPORTS = {
    "phone": {"width": 360, "height": 740},
    "desktop": {"width": 1280, "height": 800},
}
FIRST_PASSWORD = "velours tambour cerise 48"
NEW_PASSWORD = "orage pelican montagne 93"


@dataclass
class Visitor:
    """A browser tab that records console errors and checks every page it lands on."""

    page: Page
    name: str
    width: int
    console_errors: list[str] = field(default_factory=list)
    steps: int = 0

    def record_console(self, message: ConsoleMessage) -> None:
        """Console errors, with the resource's URL; the browser's own favicon probe excepted
        (the IdP serves none yet: a 404 there is not a page defect)."""
        url = message.location.get("url", "")
        if message.type == "error" and not url.endswith("/favicon.ico"):
            self.console_errors.append(f"{message.text} ({url})")

    def checkpoint(self, label: str) -> None:
        """No horizontal scrolling at this width; a full-page screenshot for review."""
        self.page.wait_for_load_state("load")
        scroll_width = self.page.evaluate("document.scrollingElement.scrollWidth")
        assert scroll_width <= self.width, f"{label}: page is {scroll_width}px wide"
        self.steps += 1
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(
            path=str(RESULTS_DIR / f"lifecycle-{self.name}-{self.steps:02d}-{label}.png"),
            full_page=True,
        )


def open_visitor(browser: Browser, name: str) -> tuple[BrowserContext, Visitor]:
    viewport = VIEWPORTS[name]
    context = browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        locale="fr-FR",
        is_mobile=name == "phone",
        has_touch=name == "phone",
    )
    page = context.new_page()
    visitor = Visitor(page, name, viewport["width"])
    page.on("console", lambda m: visitor.record_console(m))
    page.on("pageerror", lambda exc: visitor.console_errors.append(str(exc)))
    return context, visitor


@pytest.fixture(params=sorted(VIEWPORTS))
def visitor(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Visitor]:
    context, visitor = open_visitor(browser, request.param)
    yield visitor
    context.close()


def stored_user(live: LiveIdP, username: str) -> Any:
    with live.app.app_context():
        user = services.get_user_by_username(db.session, username)
        db.session.expunge_all()
        db.session.remove()
    return user


def password_works(live: LiveIdP, username: str, password: str) -> bool:
    with live.app.app_context():
        user = services.get_user_by_username(db.session, username)
        assert user is not None
        works = services.password_hasher().verify(user.password_hash, password)
        db.session.remove()
    return works


def only_link(live: LiveIdP, to: str, path: str) -> str:
    links = [link for link in live.inbox.links(to) if f"{path}/" in link]
    assert len(links) == 1, links
    assert links[0].startswith(live.url + path)  # built on the issuer, not the Host header
    return links[0]


def log_in(page: Page, username: str, password: str) -> None:
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    page.get_by_role("button", name="Se connecter", exact=True).click()


def test_browser_account_lifecycle_signup_activation_login_reset(
    live_idp: LiveIdP, visitor: Visitor
) -> None:
    page = visitor.page
    username = f"lea.dubois.{visitor.name}"
    address = f"lea.dubois.{visitor.name}@example.org"

    # Signup, profile « Autre »
    page.goto(live_idp.url + "/signup")
    expect(page.get_by_role("heading", level=1)).to_have_text("Créer votre compte")
    page.get_by_role("link", name="Autre (collaborateur, étudiant, enseignant…)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Créer un compte")
    expect(page.get_by_text("Profil « Autre »")).to_be_visible()
    visitor.checkpoint("signup")
    page.get_by_label("Prénom").fill("Léa")
    page.get_by_label("Nom", exact=True).fill("Dubois-Fontaine")
    page.get_by_label("Adresse email").fill(address)
    page.get_by_label("Identifiant (définitif").fill(username)
    page.locator("#password").fill(FIRST_PASSWORD)
    page.locator("#password_confirm").fill(FIRST_PASSWORD)
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre messagerie")
    expect(page.get_by_text(address)).to_be_visible()
    visitor.checkpoint("signup-done")
    user = stored_user(live_idp, username)
    assert user is not None and user.status == UserStatus.PENDING and user.profile == "autre"

    # Activation email, link
    assert live_idp.deliver_mail().sent == 1
    [message] = live_idp.inbox.messages
    assert message["Subject"] == "Activez votre compte Sésame" and address in message["To"]
    page.goto(only_link(live_idp, address, "/activate"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Activer mon compte")
    page.get_by_label("Le mot de passe choisi à l'inscription").fill(FIRST_PASSWORD)
    page.get_by_role("button", name="Activer mon compte").click()
    expect(page).to_have_url(live_idp.url + "/login")
    expect(page.get_by_label("Identifiant")).to_have_value(username)  # prefilled
    expect(page.get_by_role("status")).to_have_text(
        "Votre compte est activé. Vous pouvez vous connecter."
    )
    visitor.checkpoint("activated")
    assert stored_user(live_idp, username).status == UserStatus.ACTIVE

    # Login, « Mon compte », logout
    log_in(page, username, FIRST_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")
    expect(page.get_by_text("Léa Dubois-Fontaine")).to_be_visible()
    expect(page.get_by_text("Autre (collaborateur, étudiant, enseignant…)")).to_be_visible()
    visitor.checkpoint("account")
    page.get_by_role("button", name="Se déconnecter", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Vous êtes déconnecté.")
    expect(page.get_by_role("button", name="Se déconnecter", exact=True)).to_have_count(0)
    page.goto(live_idp.url + "/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion")

    # Forgotten password, reset email, new password
    live_idp.inbox.clear()
    page.get_by_role("link", name="Mot de passe oublié ?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mot de passe oublié")
    visitor.checkpoint("forgot")
    page.get_by_label("Identifiant ou adresse email").fill(address)
    page.get_by_role("button", name="Recevoir le lien").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre messagerie")
    assert live_idp.deliver_mail().sent == 1
    page.goto(only_link(live_idp, address, "/password/reset"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Choisissez un nouveau mot de passe")
    expect(page.get_by_text(f"Pour le compte {username}.")).to_be_visible()
    visitor.checkpoint("reset")
    page.locator("#password").fill(NEW_PASSWORD)
    page.locator("#password_confirm").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    expect(page.get_by_role("status")).to_have_text(
        "Votre mot de passe est changé. Connectez-vous avec le nouveau."
    )
    assert password_works(live_idp, username, NEW_PASSWORD)
    assert not password_works(live_idp, username, FIRST_PASSWORD)

    # The old password is refused, the new one works
    log_in(page, username, FIRST_PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("Identifiant ou mot de passe incorrect.")
    expect(page.locator("#error-summary")).to_be_focused()  # focus moved to the summary
    visitor.checkpoint("login-refused")
    log_in(page, username, NEW_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")
    page.get_by_role("button", name="Se déconnecter", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Vous êtes déconnecté.")

    assert visitor.console_errors == []


def test_browser_login_password_toggle_shows_and_hides(live_idp: LiveIdP, visitor: Visitor) -> None:
    page = visitor.page
    page.goto(live_idp.url + "/login")
    password = page.get_by_label("Mot de passe", exact=True)
    password.fill("un secret assez long")
    toggle = page.get_by_role("button", name="Afficher")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(toggle).to_have_attribute("aria-controls", "password")
    expect(password).to_have_attribute("type", "password")

    toggle.click()
    expect(password).to_have_attribute("type", "text")
    hide = page.get_by_role("button", name="Masquer")
    expect(hide).to_have_attribute("aria-pressed", "true")
    expect(password).to_have_value("un secret assez long")
    expect(page).to_have_url(live_idp.url + "/login")  # a type=button: the form was not sent
    visitor.checkpoint("login-password-shown")

    hide.click()
    expect(password).to_have_attribute("type", "password")
    expect(page.get_by_role("button", name="Afficher")).to_be_visible()
    assert visitor.console_errors == []


def test_browser_console_collector_reports_csp_violations(
    live_idp: LiveIdP, browser: Browser
) -> None:
    """The zero-console-error assertions above can fail: an inline script is refused and seen."""
    context, visitor = open_visitor(browser, "desktop")
    try:
        visitor.page.goto(live_idp.url + "/login")
        visitor.page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.inlineRan = true'; document.body.append(s); }"
        )
        expect(visitor.page.get_by_role("heading", level=1)).to_have_text("Connexion")
        visitor.page.wait_for_timeout(100)
        assert visitor.page.evaluate("window.inlineRan === undefined")
        assert any("Content Security Policy" in error for error in visitor.console_errors)
    finally:
        context.close()
