"""Issue 14's "done when", in a real browser (headless Chromium, DevTools virtual
authenticator): a user enrols an authenticator app (TOTP) and a passkey on « Sécurité
avancée »; a partner site asks for "sécurité avancée" (acr_values) and the user steps up with
each in turn; then logs in with the passkey alone. Each time the partner site's ID token says
so (acr urn:sesame:acr:mfa, amr listing the factors). No console error (CSP intact).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from idp.extensions import db
from idp.oidc.acr import ACR_ADVANCED
from tests.browser.test_passkeys import (
    PASSWORD_FIELD,
    authenticator_tab,
    idp_on_localhost,
    logout,
    register_passkey,
    sessions_of,
)
from tests.browser.test_sso import partner
from tests.client_portal_rp.rp_helpers import register_site
from tests.factories import create_user
from tests.helpers import (
    RESULTS_DIR,
    TEST_PASSWORD,
    Inbox,
    LiveIdP,
    console_errors,
    free_port,
    serving,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def idp(own_database_url: str, smtp_server: Inbox) -> Iterator[LiveIdP]:
    with idp_on_localhost(own_database_url, smtp_server) as live:
        with live.app.app_context():
            create_user("camille.martin", password=TEST_PASSWORD)
            db.session.remove()
        yield live


def shot(page: Page, name: str) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / f"mfa-{name}.png"), full_page=True)


def type_password(page: Page) -> None:
    page.fill("#username", "camille.martin")
    page.fill(PASSWORD_FIELD, TEST_PASSWORD)
    page.get_by_role("button", name="Se connecter", exact=True).click()


def secure_area_says(page: Page, site: str, amr: str) -> None:
    page.goto(f"{site}/espace-securise")
    expect(page.get_by_role("heading", name="Connexion en sécurité avancée")).to_be_visible()
    expect(page.locator('[data-claim="acr"]')).to_have_text(ACR_ADVANCED)
    expect(page.locator('[data-claim="amr"]')).to_have_text(amr)


def test_mfa_journey_totp_then_passkey_step_up_then_passkey_alone(
    browser: Browser, idp: LiveIdP, tmp_path: Path
) -> None:
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    client = register_site(
        idp, "Revue Française de Comptabilité", site, auth_method="client_secret_basic"
    )
    revue = partner("revue", idp, site, client, "client_secret_basic")
    with serving(revue, port), authenticator_tab(browser) as (_context, page, _cdp, _id):
        errors = console_errors(page)
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        # 1. Enrol an authenticator app: QR code and the secret as text; a first code.
        page.goto(f"{idp.url}/login")
        type_password(page)
        expect(page).to_have_url(f"{idp.url}/account")
        page.goto(f"{idp.url}/account/security/totp")
        secret = page.locator(".totp-secret").inner_text().replace(" ", "")
        expect(page.locator("svg").first).to_be_visible()
        totp = pyotp.TOTP(secret)
        page.fill("#otp", totp.now())
        page.get_by_role("button", name="Activer").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("codes de secours")
        shot(page, "recovery-codes")

        # 2. And a passkey.
        register_passkey(page, idp, "Ordinateur du cabinet")
        shot(page, "security-page")
        logout(page, idp)

        # 3. The partner site asks for "sécurité avancée": password, then the TOTP code (the
        # next step's: the enrolment spent the current one).
        page.goto(f"{site}/espace-securise/connexion")
        type_password(page)
        expect(page.get_by_role("heading", level=1)).to_have_text("Vérification en deux étapes")
        shot(page, "step-up")
        page.fill("#otp", totp.at(time.time() + totp.interval))
        page.get_by_role("button", name="Vérifier").click()
        expect(page).to_have_url(f"{site}/")
        secure_area_says(page, site, "pwd otp mfa")
        shot(page, "partner-secure-area")

        # 4. Again, stepping up with the passkey this time.
        page.goto(f"{idp.url}/account")
        logout(page, idp)
        page.goto(f"{site}/espace-securise/connexion")
        type_password(page)
        page.get_by_role("button", name="Utiliser ma clé d'accès").click()
        expect(page).to_have_url(f"{site}/")
        secure_area_says(page, site, "pwd hwk mfa")

        # 5. The passkey alone: no password, no code.
        page.goto(f"{idp.url}/account")
        logout(page, idp)
        page.goto(f"{site}/espace-securise/connexion")
        page.get_by_role("button", name="Se connecter avec une clé d'accès").click()
        expect(page).to_have_url(f"{site}/")
        secure_area_says(page, site, "hwk user mfa")
        assert sessions_of(idp) == [(ACR_ADVANCED, "hwk user mfa")]
        assert errors == []
