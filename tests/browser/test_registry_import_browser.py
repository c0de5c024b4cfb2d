"""The issue's acceptance for councils, in a real browser: a council administrator logs in,
uploads a council file, watches the preview's progress, sees the diff, confirms, and finds the
import in the history. At phone size (360 px) and desktop size, without horizontal scrolling
or console errors; screenshots of every step in test-results/ for a human to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from idp.audit.services import CLI
from idp.extensions import db
from idp.registry import services, worker
from idp.registry.models import RegistryEntry, RegistryImport
from tests.factories import create_registry_entry, create_user
from tests.helpers import RESULTS_DIR, TEST_PASSWORD, LiveIdP

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 800}}
HEADER = "N° d'inscription;Nom;Prénom(s);Date de naissance;Courriel;Catégorie;Statut"
ROWS = 40_000  # enough for the preview to take a moment: the progress page shows


def _letters(n: int) -> str:
    return "".join(chr(ord("a") + int(digit)) for digit in f"{n:06d}")


def council_file(path: Path) -> Path:
    """A council's file as Excel saves it (cp1252, `;`, CRLF): one entry changed (its email),
    ROWS - 1 new ones, and one bad line (an impossible date) the admin lets through."""
    lines = [
        HEADER,
        "IDF000001;Lefèvre;Jean-François;12/04/1975;jf@nouveau.example;Expert-comptable;Inscrit",
    ]
    lines += [
        f"T{n:06d};Nom{_letters(n)};Anne;01/01/1970;a{n}@cabinet.example;Expert-comptable;inscrit"
        for n in range(ROWS - 1)
    ]
    lines.append("T999999;Petit;Luc;31/02/1980;luc@petit.example;Expert-comptable;inscrit")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return path


@pytest.fixture
def council_admin(live_idp: LiveIdP) -> Iterator[str]:
    with live_idp.app.app_context():
        user = create_user("conseil.idf")
        council = services.council_by_code(db.session, "IDF")
        services.grant_council_role(db.session, user.id, council, actor=CLI)
        create_registry_entry(registration_number="IDF000001", email="jf@ancien.example")
        db.session.commit()
        db.session.remove()
    try:
        yield "conseil.idf"
    finally:
        worker.join_all()


def shoot(page: Page, name: str, width: int) -> None:
    page.wait_for_load_state("load")
    scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
    assert scroll_width <= width, f"{name}: page is {scroll_width}px wide"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / f"registry-import-{name}.png"), full_page=True)


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_browser_council_admin_imports_a_file_and_sees_its_diff(
    live_idp: LiveIdP, council_admin: str, browser: Browser, tmp_path: Path, viewport: str
) -> None:
    size = VIEWPORTS[viewport]
    context = browser.new_context(viewport=size, locale="fr-FR", is_mobile=viewport == "phone")  # type: ignore[arg-type]
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    width = size["width"]

    page.goto(live_idp.url + "/login")
    page.get_by_label("Identifiant").fill(council_admin)
    page.get_by_label("Mot de passe", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name="Se connecter", exact=True).click()
    page.get_by_role("link", name="Imports du tableau").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Imports du tableau")
    page.get_by_role("link", name="Importer un fichier").click()
    expect(page.get_by_label("Conseil régional")).to_have_value("IDF")
    shoot(page, f"{viewport}-1-upload", width)

    page.get_by_label("Fichier du tableau").set_input_files(council_file(tmp_path / "IDF.csv"))
    page.get_by_label("Appliquer les lignes valides même s'il y a des erreurs").check()
    page.get_by_role("button", name="Envoyer et voir l'aperçu").click()
    expect(page.get_by_role("heading", name="Lecture et comparaison en cours…")).to_be_visible()
    shoot(page, f"{viewport}-2-progress", width)

    # The page refreshes itself (meta refresh) until the diff is there.
    expect(page.get_by_text("Aperçu : rien n'a encore été modifié")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("ligne 40002 : ")).to_be_visible()
    expect(page.get_by_text("jf@ancien.example")).to_be_visible()
    expect(page.get_by_text("jf@nouveau.example")).to_be_visible()
    shoot(page, f"{viewport}-3-diff", width)
    with live_idp.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RegistryEntry)) == 1
        db.session.remove()

    page.get_by_role("button", name="Confirmer et appliquer").click()
    expect(page.get_by_text("Import appliqué le")).to_be_visible(timeout=60_000)
    shoot(page, f"{viewport}-4-applied", width)
    with live_idp.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RegistryEntry)) == ROWS
        record = db.session.scalars(select(RegistryImport)).one()
        assert (record.status, record.added, record.changed, record.rejected) == (
            "applied",
            ROWS - 1,
            1,
            1,
        )
        db.session.remove()

    page.get_by_role("link", name="Historique des imports").click()
    row = page.locator("table.import-history tbody tr").first
    expect(row).to_contain_text("IDF.csv")
    expect(row).to_contain_text("appliqué")
    expect(row).to_contain_text(record.file_sha256[:12])
    with page.expect_download() as download:
        row.get_by_role("link", name="CSV").click()
    assert download.value.suggested_filename.startswith("rapport-import-IDF-")
    shoot(page, f"{viewport}-5-history", width)

    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    shoot(page, f"{viewport}-6-history-en", width)
    assert errors == []
    context.close()
