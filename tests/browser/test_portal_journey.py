"""Issue 15's "done when", in a real browser (headless Chromium) against the IdP and the portal
served over real HTTP: a company admin logs in through the IdP (desktop) and adds a user; the
user accepts the invitation on a phone (the IdP's "Autre" signup with the email filled in, the
activation email, back on the portal attached to the company), deposits a photo and a PDF; the
firm's staff mark the PDF processed (desktop); the user opens an archive after stepping up to
"sécurité avancée" (enrolling an authenticator app on the way). Then another company's admin
gets 404 for every URL of that journey, one by one. No console error (the CSP holds).
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from client_portal_rp import create_app as create_portal
from client_portal_rp.archives.services import publish_document
from client_portal_rp.companies import add_company, create_firm
from client_portal_rp.extensions import db
from client_portal_rp.invitations import invite
from client_portal_rp.models import (
    ArchiveFolder,
    Company,
    Deposit,
    DepositStatus,
    Module,
    PortalUser,
    Role,
)
from tests.client_portal_rp.conftest import portal_test_config, sign_in, valid_siren
from tests.client_portal_rp.rp_helpers import create_idp_user, register_site
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

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
NEW_PASSWORD = "boulangerie croissant levain 42"
# A one-page PDF with an embedded e-invoice attachment's text: kept byte for byte.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"4 0 obj<</Type/EmbeddedFile/Length 30>>stream\n<Invoice>FAC-2026-001</Invoice>\nendstream"
    b"\nendobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@dataclass
class Portal:
    app: Flask
    url: str
    idp: LiveIdP
    bakery: str  # public ids
    garage: str
    firm: str


def photo_with_gps(path: Path) -> Path:
    image = Image.new("RGB", (640, 480), (200, 120, 40))
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 24.0), "E", (2.0, 21.0, 7.0)
    image.save(path, "JPEG", exif=exif)
    return path


@pytest.fixture
def portal(live_idp: LiveIdP, tmp_path: Path) -> Iterator[Portal]:
    for username, email, given, family in (
        ("claire.martin", "claire@boulangerie.example", "Claire", "Martin"),
        ("paul.cabinet", "paul@rousseau-audit.example", "Paul", "Rousseau"),
    ):
        create_idp_user(live_idp, username, email=email, given_name=given, family_name=family)
    with live_idp.app.app_context():  # activated through their email, as signup does
        from idp.accounts.models import User
        from idp.extensions import db as idp_db

        for user in idp_db.session.query(User).all():
            user.email_verified_at = user.activated_at
        idp_db.session.commit()
        idp_db.session.remove()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client_id, secret = register_site(
        live_idp, "Portail client", url, auth_method="client_secret_basic"
    )
    database = f"sqlite:///{tmp_path}/portal.sqlite"
    app = create_portal(
        portal_test_config(
            database,
            tmp_path,
            PORTAL_IDP_ISSUER=live_idp.url,
            PORTAL_BASE_URL=url,
            PORTAL_CLIENT_ID=client_id,
            PORTAL_CLIENT_SECRET=secret,
            PORTAL_DATABASE_URL=database,
            MAIL_PORT=live_idp.inbox.port,
        )
    )
    with app.app_context():
        db.create_all()
        firm = create_firm("Rousseau Audit")
        bakery = add_company(firm, siren=valid_siren(), name="Boulangerie Martin")
        garage = add_company(firm, siren=valid_siren(), name="Garage Leroy")
        for email, company in (
            ("paul@rousseau-audit.example", None),
            ("claire@boulangerie.example", bakery),
        ):
            invite(
                firm=firm,
                company=company,
                email=email,
                name="",
                role=Role.ADMIN,
                modules=set(Module),
                invited_by=None,
            )
        pdf = tmp_path / "bilan.pdf"
        pdf.write_bytes(PDF)
        publish_document(
            bakery,
            folder=ArchiveFolder.COMPTABLES,
            exercice=2025,
            path=pdf,
            filename="Bilan 2025.pdf",
            size=len(PDF),
            sha256=hashlib.sha256(PDF).hexdigest(),
            published_by=None,
        )
        db.session.commit()
        ids = (bakery.public_id, garage.public_id, firm.public_id)
        db.session.remove()
    with serving(app, port):
        yield Portal(app, url, live_idp, *ids)
    with app.app_context():
        db.engine.dispose()


def shot(page: Page, name: str) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / f"portal-{name}.png"), full_page=True)


def fits(page: Page) -> None:
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width, page.url


def idp_login(page: Page, username: str, password: str = TEST_PASSWORD) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name="Se connecter", exact=True).click()


def link_to(inbox: Inbox, recipient: str, fragment: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for link in inbox.links(to=recipient):
            if fragment in link:
                return link
        time.sleep(0.1)
    raise AssertionError(f"no email to {recipient} with a link containing {fragment!r}")


def new_context(browser: Browser, **options: object) -> BrowserContext:
    return browser.new_context(locale="fr-FR", **options)  # type: ignore[arg-type]


def test_portal_journey_invite_deposit_process_step_up_archive(
    browser: Browser, portal: Portal, tmp_path: Path
) -> None:
    idp, inbox = portal.idp, portal.idp.inbox
    bakery = f"{portal.url}/entreprises/{portal.bakery}"
    visited: list[str] = []
    admin = new_context(browser, **DESKTOP)
    phone = new_context(browser, **PHONE)
    staff = new_context(browser, **DESKTOP)
    try:
        # 1. The company admin logs in through the IdP (desktop) and adds a user.
        page = admin.new_page()
        errors = console_errors(page)
        page.goto(f"{portal.url}/login")
        idp_login(page, "claire.martin")
        expect(page).to_have_url(f"{bakery}/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Boulangerie Martin")
        page.get_by_role("link", name="Administrez vos accès").click()
        visited.append(page.url)
        page.get_by_role("link", name="Nouvel utilisateur").click()
        visited.append(page.url)
        page.get_by_label("Adresse e-mail").fill("lucas@boulangerie.example")
        page.get_by_label("Nom").fill("Lucas Moreau")
        page.get_by_label("Déposez vos documents").check()
        page.get_by_label("Accédez à vos archives").check()
        shot(page, "new-user-desktop")
        page.get_by_role("button", name="Envoyer l'invitation").click()
        expect(page.get_by_text("lucas@boulangerie.example")).to_be_visible()
        shot(page, "accesses-desktop")
        assert errors == []

        # 2. The user accepts the invitation on a phone: no Sésame account yet.
        invitation = link_to(inbox, "lucas@boulangerie.example", "/invitations/")
        page = phone.new_page()
        errors = console_errors(page)
        page.goto(invitation)
        fits(page)
        shot(page, "invitation-phone")
        page.get_by_role("link", name="Créer mon compte Sésame").click()
        expect(page).to_have_url(re.compile(rf"^{re.escape(idp.url)}/signup/autre"))
        expect(page.locator("#email")).to_have_value("lucas@boulangerie.example")
        page.fill("#username", "lucas.moreau")
        page.fill("#given_name", "Lucas")
        page.fill("#family_name", "Moreau")
        page.fill("#password", NEW_PASSWORD)
        page.fill("#password_confirm", NEW_PASSWORD)
        page.get_by_role("button", name="Créer mon compte").click()
        idp.deliver_mail()
        page.goto(link_to(inbox, "lucas@boulangerie.example", "/activate"))
        page.fill("#password", NEW_PASSWORD)
        page.get_by_role("button", name="Activer mon compte").click()
        expect(page.locator("#username")).to_have_value("lucas.moreau")
        page.fill("#password", NEW_PASSWORD)
        page.get_by_role("button", name="Se connecter", exact=True).click()
        expect(page).to_have_url(f"{bakery}/")
        fits(page)
        shot(page, "company-phone")

        # 3. The user deposits a photo (with its GPS location) and a PDF, from the phone.
        page.get_by_role("link", name="Déposez vos documents").click()
        visited.append(page.url)
        photo = photo_with_gps(tmp_path / "ticket.jpg")
        invoice = tmp_path / "facture-fournisseur.pdf"
        invoice.write_bytes(PDF)
        page.locator("#deposit-files").set_input_files([str(photo), str(invoice)])
        page.get_by_role("button", name="Déposer").click()
        expect(page.locator(".upload-status").filter(has_text="Envoyé")).to_have_count(2)
        page.reload()
        for name in ("facture-fournisseur.pdf", "ticket.jpg"):
            expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
        fits(page)
        shot(page, "deposits-phone")
        with portal.app.app_context():
            deposits = {d.filename: d for d in db.session.query(Deposit).all()}
            pdf_deposit = deposits["facture-fournisseur.pdf"].public_id
            photo_deposit = deposits["ticket.jpg"]
            assert photo_deposit.processing == "done"
            stored = portal.app.extensions["portal_blob_store"].open(photo_deposit.blob_sha256)
            assert Image.open(io.BytesIO(stored.read())).getexif().get_ifd(0x8825) == {}
            photo_id = photo_deposit.public_id
            db.session.remove()
        for suffix in ("fichier", "vignette"):
            visited.append(f"{bakery}/depots/{photo_id}/{suffix}")
        visited.append(f"{bakery}/depots/{pdf_deposit}/fichier")
        assert errors == []

        # 4. The firm's staff mark the PDF processed (desktop).
        page = staff.new_page()
        errors = console_errors(page)
        page.goto(f"{portal.url}/login")
        idp_login(page, "paul.cabinet")
        page.goto(f"{portal.url}/cabinet/{portal.firm}/depots")
        row = page.locator("tr", has_text="facture-fournisseur.pdf")
        row.get_by_role("button", name="Prendre en charge").click()
        row = page.locator("tr", has_text="facture-fournisseur.pdf")
        row.get_by_role("button", name="Marquer traité").click()
        expect(page.locator("tr", has_text="facture-fournisseur.pdf")).to_contain_text("Traité")
        shot(page, "inbox-desktop")
        with portal.app.app_context():
            done = db.session.query(Deposit).filter_by(public_id=pdf_deposit).one()
            assert done.status == DepositStatus.PROCESSED.value
            db.session.remove()
        assert errors == []

        # 5. The user opens an archive: "sécurité avancée" asks for a second factor, which the
        # user enrols on the way (authenticator app), then comes back to the archives.
        page = phone.pages[0]
        errors = console_errors(page)
        page.goto(f"{bakery}/")
        page.get_by_role("link", name="Accédez à vos archives").click()
        expect(page.get_by_role("heading", name="Ajoutez un second facteur")).to_be_visible()
        shot(page, "step-up-phone")
        page.get_by_role("link", name="Ajouter un second facteur").click()
        page.get_by_role("link", name="Ajouter une application d'authentification").click()
        secret = page.locator(".totp-secret").inner_text().replace(" ", "")
        totp = pyotp.TOTP(secret)
        page.fill("#otp", totp.now())
        page.get_by_role("button", name="Activer").click()
        # The first code just proved the new factor: the session is stepped up, and the way
        # back from the recovery codes goes straight to the portal.
        page.get_by_role("link", name="Continuer").click()
        expect(page).to_have_url(re.compile(rf"^{re.escape(bakery)}/archives"))
        visited.append(page.url)
        fits(page)
        shot(page, "archives-phone")
        page.get_by_role("link", name="Bilan 2025.pdf").click()
        visited.append(page.url)
        opened = page.get_by_role("link", name="Ouvrir").get_attribute("href") or ""
        download = page.get_by_role("link", name="Enregistrer sous").get_attribute("href") or ""
        answer = phone.request.get(f"{portal.url}{opened}")
        assert answer.status == 200 and answer.body() == PDF
        assert "sandbox" in answer.headers["content-security-policy"]
        visited += [f"{portal.url}{opened}", f"{portal.url}{download}"]
        shot(page, "archive-phone")
        assert errors == []
    finally:
        for context in (admin, phone, staff):
            context.close()

    # 6. Another company's admin: 404 for every URL of the journey, one by one.
    with portal.app.app_context():
        garage = db.session.query(Company).filter_by(public_id=portal.garage).one()
        stranger = PortalUser(
            subject="sub-garage", email="nadia@garage.example", email_verified=True, name="Nadia"
        )
        db.session.add(stranger)
        db.session.flush()
        from client_portal_rp.models import Membership

        membership = Membership(company_id=garage.id, user_id=stranger.id, role="admin")
        membership.set_modules(set(Module))
        db.session.add(membership)
        db.session.commit()
        client = portal.app.test_client()
        sign_in(client, portal.app, stranger, advanced=True)
        assert client.get(f"/entreprises/{portal.garage}/").status_code == 200
        for url in [f"{bakery}/", *visited, f"{portal.url}/cabinet/{portal.firm}/depots"]:
            path = url.removeprefix(portal.url)
            assert client.get(path).status_code == 404, path
        db.session.remove()
