"""The development mailbox in headless Chromium, as a person uses it: the real activation email
(rendered from the IdP's templates) shown as a mail client would, its button opening the link
in a new tab; "Tout effacer" working from the page; new emails appearing without a reload; all
of it readable at 360 px. Screenshots go to test-results/screenshots (or SCREENSHOTS_DIR).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import requests
from flask import Flask, render_template

from devserver.mailbox import Mailbox
from idp import create_app
from tests.helpers import (
    HAVE_PLAYWRIGHT,
    RESULTS_DIR,
    base_config,
    mailbox_messages,
    mailbox_send,
    require_browser,
    serving,
)

if HAVE_PLAYWRIGHT:
    from playwright.sync_api import Browser, ConsoleMessage, Page, expect


pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("_browser_available")]
SIZES = {"phone": (360, 740), "desktop": (1280, 800)}


@pytest.fixture(scope="session")
def _browser_available() -> None:
    """Session scope: checked before the session's browser is launched."""
    require_browser()


@pytest.fixture
def activation_target() -> Iterator[str]:
    """Where the email's button leads: a page on another origin that, like the IdP, refuses
    to be framed."""
    app = Flask(__name__)

    @app.get("/activate/<token>")
    def activate(token: str) -> tuple[str, int, dict[str, str]]:
        headers = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}
        return f"<!doctype html><title>Activé</title><h1>Compte activé {token}</h1>", 200, headers

    with serving(app) as url:
        yield url


@pytest.fixture
def activation_email(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], tuple[str, str, str]]:
    """(subject, text, html) of the IdP's activation email for a link, from its templates."""
    monkeypatch.setenv("SESAME_ENV", "testing")
    app = create_app(base_config("sqlite://"))
    user = SimpleNamespace(given_name="Marie", username="marie.dupont")

    def render(link: str) -> tuple[str, str, str]:
        context = {"user": user, "link": link, "hours": 48}
        with app.test_request_context():
            return (
                render_template("mail/activation.subject.txt", **context).strip(),
                render_template("mail/activation.txt", **context),
                render_template("mail/activation.html", **context),
            )

    return render


@dataclass
class Screen:
    """A page in a fresh browser context of one size, and the console errors it collected
    (CSP violations would show there)."""

    page: Page
    name: str
    width: int
    errors: list[str]

    def shoot(self, what: str) -> None:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"mailbox-{what}-{self.name}.png"
        self.page.screenshot(path=str(path), full_page=True)


@pytest.fixture(params=list(SIZES))
def screen(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Screen]:
    width, height = SIZES[request.param]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="fr-FR")
    errors: list[str] = []

    def record(message: ConsoleMessage) -> None:
        # The email's own <script> being refused by the sandbox is the point, not an error.
        if message.type == "error" and "sandboxed" not in message.text:
            errors.append(message.text)

    page = context.new_page()
    page.on("console", record)
    try:
        yield Screen(page, request.param, width, errors)
    finally:
        context.close()


def test_browser_mailbox_shows_html_email_like_a_mail_client(
    mailbox: Mailbox,
    activation_target: str,
    activation_email: Callable[[str], tuple[str, str, str]],
    screen: Screen,
) -> None:
    link = f"{activation_target}/activate/abc123"
    subject, text, html = activation_email(link)
    mailbox_send(
        mailbox, subject, text, html.replace("</body>", "<script>document.body.id='ran'</script>")
    )
    (message,) = mailbox_messages(mailbox)
    page = screen.page
    page.goto(f"{mailbox.url}/messages/{message['id']}")
    frame = page.frame_locator("iframe")
    button = frame.get_by_role("link", name="Activer mon compte")
    expect(button).to_be_visible()
    # The email's inline styles apply: a blue button, not a bare link.
    assert button.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(29, 63, 140)"
    assert button.evaluate("e => getComputedStyle(e).display") == "inline-block"
    # Its script did not run, and it has no access to the mailbox's origin.
    assert frame.locator("body").evaluate("b => b.id") == ""
    assert frame.locator("body").evaluate("() => window.origin") == "null"
    assert page.evaluate("document.scrollingElement.scrollWidth") <= screen.width
    screen.shoot("message")

    with page.context.expect_page(timeout=5000) as opened:
        button.click()
    tab = opened.value
    expect(tab.get_by_role("heading", level=1)).to_have_text("Compte activé abc123")
    assert tab.url == link
    # The mailbox page still shows the email: the frame did not navigate away.
    expect(button).to_be_visible()
    assert page.url == f"{mailbox.url}/messages/{message['id']}"
    assert screen.errors == []


def test_browser_mailbox_clear_all_works_from_the_page(mailbox: Mailbox, screen: Screen) -> None:
    mailbox_send(mailbox, "À effacer", "texte")
    page = screen.page
    page.goto(mailbox.url + "/")
    expect(page.get_by_role("link", name="À effacer")).to_be_visible()
    page.get_by_role("button", name="Tout effacer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages reçus (0)")
    expect(page.get_by_text("Aucun message pour l'instant.")).to_be_visible()
    assert page.url == mailbox.url + "/"
    assert mailbox_messages(mailbox) == []
    assert screen.errors == []


def test_browser_mailbox_list_shows_new_emails_without_reload(
    mailbox: Mailbox, activation_email: Callable[[str], tuple[str, str, str]], screen: Screen
) -> None:
    mailbox_send(
        mailbox,
        "Réinitialisation de votre mot de passe Sésame",
        "texte",
        date="Wed, 02 Dec 2026 18:45:00 +0000",
        to="marie-christine.dupont-de-la-fontaine@cabinet-expertise-comptable.example",
    )
    page = screen.page
    page.goto(mailbox.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages reçus (1)")
    expect(page.get_by_text("2 déc. 2026 19:45 (heure de Paris)")).to_be_visible()
    page.evaluate("window.sameDocument = true")

    subject, text, html = activation_email("http://127.0.0.1:5000/activate/xyz")
    mailbox_send(mailbox, subject, text, html)

    expect(page.get_by_role("link", name=subject)).to_be_visible(timeout=8000)
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages reçus (2)")
    assert page.evaluate("window.sameDocument") is True  # updated in place, not reloaded
    assert page.title().startswith("Messages (2)")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= screen.width
    screen.shoot("list")

    requests.delete(f"{mailbox.url}/api/messages", timeout=5)  # cleared elsewhere
    expect(page.get_by_text("Aucun message pour l'instant.")).to_be_visible(timeout=8000)
    assert screen.errors == []
