"""Issue 18's « A firm imports 123456789FEC20500930.txt in the browser », in Debian's headless
Chromium against the portal served over real HTTP: the firm's staff member opens « Importer un
FEC » from the firm's companies, chooses the real sample, the upload's <progress> appears
(static/js/fec-upload.js, under the portal's CSP: no console error), and the report page shows
the balance check « équilibré ». The person is signed in through the session cookie, as in
tests/client_portal_rp/test_archives_browser.py (the IdP is not what is tested here)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from client_portal_rp import create_app
from client_portal_rp.extensions import db
from client_portal_rp.models import Company, FecImport
from tests.client_portal_rp.conftest import make_firm, make_staff, portal_test_config
from tests.client_portal_rp.fec.support import sample
from tests.client_portal_rp.test_archives_browser import session_cookie
from tests.helpers import RESULTS_DIR, console_errors, serving

pytestmark = pytest.mark.browser

SAMPLE = "123456789FEC20500930.txt"

# Records, in the page, that the progress box was shown and what its status said: the upload
# of 1.8 MB over loopback is over before a poll from the test could see it.
WATCH_PROGRESS = """() => {
  window.fecSeen = { shown: false, statuses: [] };
  const box = document.querySelector("[data-fec-progress]");
  const status = box.querySelector("[role=status]");
  new MutationObserver(() => {
    if (!box.hidden && box.querySelector("progress")) window.fecSeen.shown = true;
  }).observe(box, { attributes: true });
  new MutationObserver(() => {
    window.fecSeen.statuses.push(status.textContent);
  }).observe(status, { childList: true, characterData: true, subtree: true });
}"""


@dataclass
class LivePortal:
    url: str
    app: Flask
    firm_id: str
    company_id: str
    cookie: str


@pytest.fixture
def live_portal(tmp_path: Path) -> Iterator[LivePortal]:
    app = create_app(portal_test_config(f"sqlite:///{tmp_path}/portal.sqlite", tmp_path))
    with app.app_context():
        db.create_all()
        firm = make_firm("Rousseau Audit")
        # The sample's SIREN has no Luhn key: the company is created directly.
        company = Company(firm=firm, name="Société Exemple", siren="123456789")
        db.session.add(company)
        db.session.commit()
        staff = make_staff(firm)
        ids = (firm.public_id, company.public_id)
        cookie = session_cookie(app, staff)
        db.session.remove()
    with serving(app) as url:
        yield LivePortal(url, app, *ids, cookie)
    with app.app_context():
        db.engine.dispose()


def test_staff_imports_the_sample_with_progress_and_reads_equilibre(
    live_portal: LivePortal, browser: Browser
) -> None:
    path = sample(SAMPLE)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    name = live_portal.app.config["SESSION_COOKIE_NAME"]
    context.add_cookies([{"name": name, "value": live_portal.cookie, "url": live_portal.url}])
    try:
        page = context.new_page()
        errors = console_errors(page)
        page.goto(f"{live_portal.url}/cabinet/{live_portal.firm_id}/")
        page.get_by_role("link", name="Importer un FEC").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Importer un FEC")
        expect(
            page.get_by_text("Importer à nouveau l'exercice remplace ses chiffres.")
        ).to_be_visible()
        page.evaluate(WATCH_PROGRESS)
        page.get_by_label("Fichier FEC").set_input_files(str(path))
        page.get_by_role("button", name="Importer le FEC").click()

        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Rapport d'import : exercice 2023", timeout=60_000
        )
        seen = page.evaluate("window.fecSeen")
        assert seen["shown"], "the <progress> box never showed"
        assert any(s.startswith("Envoi du fichier") for s in seen["statuses"]), seen
        assert "Import en cours…" in seen["statuses"], seen
        expect(page.locator("[data-balance]")).to_have_text("équilibré")
        expect(page.locator("[data-unbalanced]")).to_contain_text("chaque écriture est équilibrée")
        with live_portal.app.app_context():
            stored = db.session.scalar(select(FecImport))
            assert stored is not None
            assert page.url.endswith(f"/fec/imports/{stored.public_id}")
            db.session.remove()
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS_DIR / "portal-fec-report.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
