"""The development mailbox in headless Chromium, as a person uses it: the real activation email
(rendered from the IdP's templates) shown as a mail client would, its button opening the link
in a new tab; "Tout effacer" working from the page; new emails appearing without a reload; all
of it readable at 360 px. Screenshots go to test-results/screenshots (or SCREENSHOTS_DIR).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from flask import Flask, render_template
from werkzeug.serving import make_server

from devserver.mailbox import Mailbox
from idp import create_app
from tests.conftest import base_config, chromium_path, free_port, service_missing
from tests.devserver.test_mailbox import api, send

HAVE_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
if HAVE_PLAYWRIGHT:
    from playwright.sync_api import Browser, ConsoleMessage, Page, expect

    from tests.browser.conftest import CHROMIUM_ARGS, RESULTS_DIR

    @pytest.fixture(scope="session")
    def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
        return {
            **browser_type_launch_args,
            "executable_path": str(chromium_path()),
            "args": CHROMIUM_ARGS,
        }


pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("_browser_available")]
SIZES = {"phone": (360, 740), "desktop": (1280, 800)}


@pytest.fixture(scope="session")
def _browser_available() -> None:
    """Session scope: checked before the session's browser is launched."""
    if not HAVE_PLAYWRIGHT:
        service_missing("Playwright is not installed (make install brings it)")
    if not chromium_path().exists():
        service_missing(f"{chromium_path()} is missing (make browser-deps installs Chromium)")


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    box = Mailbox(smtp_port=free_port(), http_port=0, mbox_path=tmp_path / "m.mbox").start()
    yield box
    box.stop()


@pytest.fixture
def activation_target() -> Iterator[str]:
    """Where the email's button leads: a page on another origin that, like the IdP, refuses
    to be framed."""
    app = Flask(__name__)

    @app.get("/activate/<token>")
    def activate(token: str) -> tuple[str, int, dict[str, str]]:
        headers = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}
        return f"<!doctype html><title>Activé</title><h1>Compte activé {token}</h1>", 200, headers

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


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
    send(mailbox, subject, text, html.replace("</body>", "<script>document.body.id='ran'</script>"))
    (message,) = api(mailbox)
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
    send(mailbox, "À effacer", "texte")
    page = screen.page
    page.goto(mailbox.url + "/")
    expect(page.get_by_role("link", name="À effacer")).to_be_visible()
    page.get_by_role("button", name="Tout effacer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages reçus (0)")
    expect(page.get_by_text("Aucun message pour l'instant.")).to_be_visible()
    assert page.url == mailbox.url + "/"
    assert api(mailbox) == []
    assert screen.errors == []


def test_browser_mailbox_list_shows_new_emails_without_reload(
    mailbox: Mailbox, activation_email: Callable[[str], tuple[str, str, str]], screen: Screen
) -> None:
    send(
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
    send(mailbox, subject, text, html)

    expect(page.get_by_role("link", name=subject)).to_be_visible(timeout=8000)
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages reçus (2)")
    assert page.evaluate("window.sameDocument") is True  # updated in place, not reloaded
    assert page.title().startswith("Messages (2)")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= screen.width
    screen.shoot("list")

    requests.delete(f"{mailbox.url}/api/messages", timeout=5)  # cleared elsewhere
    expect(page.get_by_text("Aucun message pour l'instant.")).to_be_visible(timeout=8000)
    assert screen.errors == []
