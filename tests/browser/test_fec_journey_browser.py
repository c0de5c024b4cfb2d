"""Issue 18's « Done when », end to end in Debian's headless Chromium against the portal served
over real HTTP: the firm's staff member imports 123456789FEC20500930.txt through « Importer un
FEC » (the upload's <progress>, then « Import en cours… », then the report: « équilibré »);
the company's two purchase invoices are deposited by a client member as `portal demo load`
deposits them (client_portal_rp/demo.py: a Factur-X numbered as the largest open supplier item,
a plain PDF under a piece reference of CHB, the supplier with the most charges); the member,
with the compta module and an MFA login (sécurité avancée), reads DOMAIN.md's figures on the
indicators page at desktop size and on a phone, goes from « Charges par fournisseur » to CHB,
to the piece, and downloads the invoice, and finds the Factur-X's due date in the supplier
échéancier with its source « facture ». No console error (CSP) and no horizontal scrolling on
the way. Screenshots in test-results/screenshots/fec-*.png for review.

People are signed in through the session cookie of an MFA login (as the other portal browser
tests do): the IdP's MFA is tested in test_portal_journey.py, not here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect

from client_portal_rp import create_app
from client_portal_rp.extensions import db
from client_portal_rp.models import Company, Module, PortalUser
from tests.client_portal_rp.conftest import make_firm, make_member, make_staff, portal_test_config
from tests.client_portal_rp.fec.support import sample
from tests.client_portal_rp.test_archives_browser import session_cookie
from tests.helpers import RESULTS_DIR, console_errors, serving

pytestmark = pytest.mark.browser

SAMPLE = "123456789FEC20500930.txt"
NNBSP, NBSP = "\u202f", "\u00a0"
# DOMAIN.md's figures for the sample, as the page's euros filter writes them (fr_FR: U+202F
# between thousands, U+00A0 before €).
FIGURES = {
    "chiffre_affaires": f"1{NNBSP}212{NNBSP}843,90{NBSP}€",
    "creances_clients": f"128{NNBSP}200,50{NBSP}€",
    "disponibilites": f"124{NNBSP}818,33{NBSP}€",
    "dettes_fournisseurs": f"154{NNBSP}890,59{NBSP}€",
    "resultat": f"126{NNBSP}233,91{NBSP}€",
}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# What demo.deposit_sample_invoices deposits for this sample (tests/client_portal_rp/test_cli.py
# checks the choice): CHB's open piece, and BEAUDOIN's Factur-X due PieceDate + 45 days.
CHB_PIECE = "ACH000000673"
FACTURX_NUMBER = "2022.20.T"
FACTURX_DUE = "03/09/2022"
CREDITS = "Règlements et avoirs non lettrés"
# Records what the upload's progress box shows while the file goes (static/js/fec-upload.js).
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
    staff_cookie: str
    member_cookie: str
    company_pk: int
    member_pk: int


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
        member = make_member(company, modules={Module.COMPTA, Module.DEPOSIT})
        portal = (firm.public_id, company.public_id)
        cookies = (session_cookie(app, staff), session_cookie(app, member))
        keys = (company.id, member.id)
        db.session.remove()
    with serving(app) as url:
        yield LivePortal(url, app, *portal, *cookies, *keys)
    with app.app_context():
        db.engine.dispose()


def signed_in(browser: Browser, portal: LivePortal, cookie: str, **device: Any) -> BrowserContext:
    context = browser.new_context(locale="fr-FR", accept_downloads=True, **device)
    name = portal.app.config["SESSION_COOKIE_NAME"]
    context.add_cookies([{"name": name, "value": cookie, "url": portal.url}])
    return context


def shot(page: Page, name: str) -> None:
    """No horizontal scrolling at this width; a full-page screenshot for review."""
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / f"fec-{name}.png"), full_page=True)
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)
            .slice(0, 5).map(e => `${e.tagName}.${e.className} ${e.textContent.slice(0, 40)}`)"""
    )
    assert overflow <= 0, f"{name}: {overflow}px of horizontal scrolling ({wide})"


def read_figures(page: Page) -> None:
    for key, text in FIGURES.items():
        expect(page.locator(f".ind-card[data-key='{key}'] .ind-value")).to_have_text(text)


def test_firm_imports_the_fec_and_the_client_reads_it_on_desktop_and_phone(
    live_portal: LivePortal, browser: Browser
) -> None:
    portal = live_portal
    compta = f"{portal.url}/entreprises/{portal.company_id}/compta"

    # The firm imports the sample through its upload page.
    staff = signed_in(browser, portal, portal.staff_cookie, viewport=DESKTOP)
    try:
        page = staff.new_page()
        errors = console_errors(page)
        page.goto(f"{portal.url}/cabinet/{portal.firm_id}/")
        page.get_by_role("link", name="Importer un FEC").click()
        expect(
            page.get_by_text("Importer à nouveau l'exercice remplace ses chiffres.")
        ).to_be_visible()
        page.evaluate(WATCH_PROGRESS)
        page.get_by_label("Fichier FEC").set_input_files(str(sample(SAMPLE)))
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
        assert "/fec/imports/" in page.url
        shot(page, "import-report")
        assert errors == []
    finally:
        staff.close()

    # The client member deposits the two purchase invoices, as the demo does.
    from client_portal_rp.demo import deposit_sample_invoices

    with portal.app.app_context():
        company = db.session.get(Company, portal.company_pk)
        uploader = db.session.get(PortalUser, portal.member_pk)
        assert company is not None and uploader is not None
        assert len(deposit_sample_invoices(company, uploaded_by=uploader)) == 2
        db.session.remove()

    # Desktop: the indicators of DOMAIN.md.
    desktop = signed_in(browser, portal, portal.member_cookie, viewport=DESKTOP)
    try:
        page = desktop.new_page()
        errors = console_errors(page)
        page.goto(compta)
        read_figures(page)
        shot(page, "indicators-desktop")
        # The échéancier's bucket columns, with the payments and credit notes apart; the
        # phone's « dont échu » cell is not shown.
        page.goto(f"{compta}/echeancier?cote=fournisseurs")
        parties = page.locator("table.fec-parties")
        expect(parties.get_by_role("columnheader", name=CREDITS)).to_be_visible()
        expect(parties.locator("td.fec-overdue").first).to_be_hidden()
        shot(page, "echeancier-desktop")
        assert errors == []
    finally:
        desktop.close()

    # Phone: the same figures, then supplier → piece → download, and the échéancier.
    phone = signed_in(
        browser,
        portal,
        portal.member_cookie,
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    try:
        page = phone.new_page()
        errors = console_errors(page)
        page.goto(compta)
        read_figures(page)
        shot(page, "indicators-phone")

        page.get_by_role("link", name="Charges par fournisseur").first.tap()
        expect(page.get_by_role("heading", level=1)).to_have_text("Charges par fournisseur")
        page.get_by_role("link", name="CHB", exact=True).tap()
        expect(page.get_by_role("heading", level=1)).to_contain_text("CHB")
        page.get_by_role("link", name=CHB_PIECE).first.tap()
        expect(page.get_by_role("heading", level=1)).to_have_text("Récupérez la pièce comptable")
        expect(page.get_by_text(f"Facture CHB {CHB_PIECE}.pdf")).to_be_visible()
        shot(page, "piece-phone")
        with page.expect_download() as downloading:
            page.get_by_role("link", name="Télécharger").tap()
        download = downloading.value
        assert download.suggested_filename == f"Facture CHB {CHB_PIECE}.pdf"
        assert Path(download.path()).read_bytes().startswith(b"%PDF")

        page.goto(compta)
        page.get_by_role("link", name="Échéanciers clients et fournisseurs").tap()
        page.get_by_role("link", name="Fournisseurs (dettes)").tap()
        expect(page.get_by_role("heading", level=1)).to_have_text("Échéancier fournisseurs")
        expect(page.get_by_text(f"154{NNBSP}890,59{NBSP}€").first).to_be_visible()
        caption = page.locator("caption", has_text="Montants par ancienneté").bounding_box()
        assert caption is not None and caption["width"] > 300  # not a word a line
        # A party's card: its total and what is overdue; its buckets out of sight (kept for
        # screen readers), so 50 parties no longer make a page of ~22,000 px.
        card = page.get_by_role("row").filter(has_text="BEAUDOIN")
        expect(card.locator("td.fec-total")).to_have_text(f"12{NNBSP}600,00{NBSP}€")
        expect(card.locator("td.fec-overdue")).to_have_text(f"57{NNBSP}600,00{NBSP}€")
        # Its unlettered payments are on the card: why « dont échu » exceeds the total.
        credits = card.locator(f"td.fec-unapplied[data-label='{CREDITS}']")
        expect(credits).to_have_text(f"−45{NNBSP}000,00{NBSP}€")
        box = credits.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 10
        late = card.locator("td.fec-bucket[data-label='Plus de 90 jours']").bounding_box()
        assert late is not None and late["width"] <= 1 and late["height"] <= 1
        assert page.evaluate("document.documentElement.scrollHeight") < 8000
        shot(page, "echeancier-phone")
        page.get_by_role("link", name="BEAUDOIN", exact=True).tap()
        row = page.get_by_role("row").filter(has_text=FACTURX_NUMBER)
        expect(row.get_by_role("cell").nth(2)).to_have_text(f"{FACTURX_DUE} (facture)")
        # Its payments are not due: no due date, no days late.
        payment = page.get_by_role("row").filter(has_text="BNP000000298")
        expect(payment.get_by_role("cell").nth(2)).to_have_text("—Sans échéance")
        expect(payment.get_by_role("cell").nth(4)).to_have_text("Règlement ou avoir non lettré")
        shot(page, "echeancier-beaudoin-phone")
        assert errors == []
    finally:
        phone.close()
