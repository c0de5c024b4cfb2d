"""The council import pages (idp/registry/views.py): access, upload, preview, confirm or
cancel, history and reports. Jobs run inline (worker.INLINE_SETTING) so that they see the
test's transaction; tests/idp/registry/test_worker.py runs them in real threads."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.audit.services import CLI
from idp.database import utcnow
from idp.extensions import db
from idp.registry import services
from idp.registry.forms import UPLOAD_MAX_BYTES
from idp.registry.models import (
    ImportStatus,
    RegistryEntry,
    RegistryImport,
    RegistryImportUpload,
)
from idp.registry.worker import INLINE_SETTING
from tests.factories import create_registry_entry, create_user
from tests.helpers import csrf_token, login

BASE = "/registre/imports"
UPLOAD = f"{BASE}/nouveau"
HEADER = "N° d'inscription;Nom;Prénom(s);Date de naissance;Email;Catégorie;Statut"


@pytest.fixture(autouse=True)
def inline_jobs(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, INLINE_SETTING, True)


def council_admin(username: str = "conseil.idf", council: str | None = "IDF") -> Any:
    user = create_user(username)
    target = services.council_by_code(db.session, council) if council else None
    services.grant_council_role(db.session, user.id, target, actor=CLI)
    db.session.commit()
    return user


def csv_file(*rows: str, header: str = HEADER) -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode("cp1252")


GOOD_ROWS = (
    "IDF001;Lefèvre;Jean-François;12/04/1975;jf@cabinet.example;Expert-comptable;inscrit",
    "IDF002;Durand;Anne;03/09/1980;anne@durand.example;Expert-comptable;inscrit",
)


def upload(
    client: FlaskClient,
    content: bytes,
    *,
    name: str = "tableau.csv",
    council: str = "IDF",
    token: str | None = None,
    **options: str,
) -> Any:
    data: dict[str, Any] = {
        "council": council,
        "file": (io.BytesIO(content), name),
        **options,
    }
    if token is not False:
        data["csrf_token"] = token or csrf_token(client, UPLOAD)
    return client.post(UPLOAD, data=data, content_type="multipart/form-data")


def only_import() -> RegistryImport:
    db.session.expire_all()
    return db.session.scalars(select(RegistryImport)).one()


def confirm(client: FlaskClient, record: RegistryImport, action: str = "confirmer") -> Any:
    page = f"{BASE}/{record.public_id}"
    return client.post(f"{page}/{action}", data={"csrf_token": csrf_token(client, page)})


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "plain account"])
def test_registry_admin_pages_are_404_without_a_council_role(app, client, who):
    council_admin("conseil.idf")
    client_idf = app.test_client()
    login(client_idf, "conseil.idf")
    upload(client_idf, csv_file(*GOOD_ROWS))
    record = only_import()
    if who == "plain account":
        create_user("jean.dupont")
        login(client, "jean.dupont")
    urls = [
        BASE + "/",
        UPLOAD,
        f"{BASE}/{record.public_id}",
        f"{BASE}/{record.public_id}/rapport.csv",
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    for url in [
        UPLOAD,
        f"{BASE}/{record.public_id}/confirmer",
        f"{BASE}/{record.public_id}/annuler",
    ]:
        assert client.post(url, data={}).status_code == 404, url  # not 400 (CSRF) nor 405
    assert client.get(f"{BASE}/{record.public_id}/confirmer").status_code == 404
    assert "Imports du tableau" not in client.get("/account").get_data(as_text=True)
    assert only_import().status == ImportStatus.PREVIEWED


def test_registry_admin_tenant_isolation_other_councils_imports_are_404(app, client):
    """SECURITY.md 46's rule for councils: another council's import is 404 on every URL."""
    council_admin("conseil.ara", "ARA")
    ara = app.test_client()
    login(ara, "conseil.ara")
    entries = "ARA001;Martin;Paul;01/02/1970;paul@martin.example;Expert-comptable;inscrit"
    upload(ara, csv_file(entries), council="ARA")
    record = only_import()
    council_admin("conseil.idf", "IDF")
    login(client, "conseil.idf")
    page = f"{BASE}/{record.public_id}"
    for url in (page, f"{page}/rapport.csv"):
        assert client.get(url).status_code == 404
    token = csrf_token(client, UPLOAD)
    for action in ("confirmer", "annuler"):
        assert client.post(f"{page}/{action}", data={"csrf_token": token}).status_code == 404
    assert record.file_name not in client.get(BASE + "/").get_data(as_text=True)
    # Nor can IDF upload for ARA by posting its code.
    response = upload(client, csv_file(*GOOD_ROWS), council="ARA")
    assert response.status_code == 200 and "est pas un choix valide" in response.get_data(True)
    assert db.session.scalar(select(db.func.count()).select_from(RegistryImport)) == 1
    assert only_import().status == ImportStatus.PREVIEWED


def test_registry_admin_national_admin_acts_for_any_council(client):
    council_admin("paul.national", None)
    login(client, "paul.national")
    page = client.get(UPLOAD).get_data(as_text=True)
    assert page.count("<option") == 16
    upload(client, csv_file(*GOOD_ROWS), council="IDF")
    assert only_import().council.code == "IDF"


def test_registry_admin_nav_link_only_for_council_admins(client):
    create_user("jean.dupont")
    login(client, "jean.dupont")
    assert "Imports du tableau" not in client.get("/account").get_data(as_text=True)
    council_admin("conseil.idf")
    login(client, "conseil.idf")
    assert f'href="{BASE}/"' in client.get("/account").get_data(as_text=True)


# --- the upload form ------------------------------------------------------------------------


def test_registry_admin_upload_preselects_the_only_council(client):
    council_admin()
    login(client, "conseil.idf")
    page = client.get(UPLOAD).get_data(as_text=True)
    assert page.count("<option") == 1 and '<option selected value="IDF">' in page
    assert 'enctype="multipart/form-data"' in page and 'name="csrf_token"' in page


def test_registry_admin_upload_refused_without_csrf_token(client):
    council_admin()
    login(client, "conseil.idf")
    response = upload(client, csv_file(*GOOD_ROWS), token=False)
    assert response.status_code == 400
    assert db.session.scalar(select(db.func.count()).select_from(RegistryImport)) == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("tableau.csv", b"", "Le fichier est vide."),
        ("tableau.csv", b" \r\n", "Le fichier est vide."),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "Format non pris en charge"),
        ("tableau.csv", b"MZ\x90\x00\x03\x00\x00\x00" * 20, "Format non pris en charge"),
        ("tableau.xlsx", b"N;Nom\r\n1;Durand\r\n", "Format non pris en charge"),
        ("tableau.csv", b"PK\x03\x04" + b"\x00" * 50, "Format non pris en charge"),
        ("tableau.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 50, "Excel 97-2003"),
    ],
)
def test_registry_admin_upload_refuses_empty_and_wrong_type(client, name, content, message):
    council_admin()
    login(client, "conseil.idf")
    response = upload(client, content, name=name)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and message in page
    assert 'class="error-summary"' in page
    assert db.session.scalar(select(db.func.count()).select_from(RegistryImport)) == 0


def test_registry_admin_upload_requires_a_file(client):
    council_admin()
    login(client, "conseil.idf")
    token = csrf_token(client, UPLOAD)
    response = client.post(UPLOAD, data={"csrf_token": token, "council": "IDF"})
    assert "Choisissez le fichier du tableau" in response.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count()).select_from(RegistryImport)) == 0


def test_registry_admin_upload_size_limit(client):
    """Over 20 MB: refused on the form (just over) or before the body is read (far over)."""
    council_admin()
    login(client, "conseil.idf")
    over = csv_file(*GOOD_ROWS) + b"x" * (UPLOAD_MAX_BYTES + 1)
    response = upload(client, over)
    assert response.status_code == 200
    assert "Le fichier dépasse la taille maximale (20 Mo)" in response.get_data(as_text=True)
    far_over = b"x" * (UPLOAD_MAX_BYTES + 1024 * 1024)
    response = upload(client, far_over)
    assert response.status_code == 413
    assert "Le fichier dépasse la taille maximale (20 Mo)" in response.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count()).select_from(RegistryImport)) == 0


def test_registry_admin_other_pages_keep_the_one_megabyte_limit(client):
    council_admin()
    login(client, "conseil.idf")
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"csrf_token": token, "x": "y" * (2 * 1024 * 1024)})
    assert response.status_code == 413


def test_registry_admin_upload_stores_a_safe_file_name_and_the_hash(client):
    council_admin()
    login(client, "conseil.idf")
    content = csv_file(*GOOD_ROWS)
    upload(client, content, name="../../etc/Tableau\x00 IDF\u202e.csv")
    record = only_import()
    import hashlib

    assert record.file_name == "Tableau IDF.csv"
    assert record.file_sha256 == hashlib.sha256(content).hexdigest()
    assert record.file_size == len(content) and record.actor_kind == "user"


# --- preview, confirm, cancel ----------------------------------------------------------------


def test_registry_admin_upload_preview_confirm_applied(client):
    council_admin()
    login(client, "conseil.idf")
    existing = create_registry_entry(
        "Durand", "Anne", registration_number="IDF002", email="old@durand.example",
        birth_date=date(1980, 9, 3),
    )  # fmt: skip
    response = upload(client, csv_file(*GOOD_ROWS))
    record = only_import()
    assert response.status_code == 302 and response.location.endswith(record.public_id)
    assert record.status == ImportStatus.PREVIEWED and record.dry_run
    assert (record.added, record.changed) == (1, 1)
    assert db.session.get(RegistryImportUpload, record.id) is not None
    assert (
        db.session.scalar(
            select(RegistryEntry).where(RegistryEntry.registration_number == "IDF001")
        )
        is None
    )  # a preview changes nothing
    page = client.get(response.location).get_data(as_text=True)
    assert "Aperçu : rien n'a encore été modifié" in page
    assert "IDF002" in page and "old@durand.example" in page and "anne@durand.example" in page
    added = client.get(f"{response.location}?type=added").get_data(as_text=True)
    assert "IDF001" in added and "LEFÈVRE Jean-François" in added
    assert "Confirmer et appliquer" in page and 'http-equiv="refresh"' not in page

    assert confirm(client, record).status_code == 302
    record = only_import()
    assert record.status == ImportStatus.APPLIED and not record.dry_run
    assert db.session.get(RegistryImportUpload, record.id) is None
    db.session.expire_all()
    assert db.session.get(RegistryEntry, existing.id).email == "anne@durand.example"
    page = client.get(f"{BASE}/{record.public_id}").get_data(as_text=True)
    assert "Import appliqué le" in page and "Confirmer et appliquer" not in page
    history = client.get(BASE + "/").get_data(as_text=True)
    assert "tableau.csv" in history and record.file_sha256[:12] in history
    assert "conseil.idf" in history and "appliqué" in history


def test_registry_admin_second_confirm_is_refused(client):
    council_admin()
    login(client, "conseil.idf")
    upload(client, csv_file(*GOOD_ROWS))
    record = only_import()
    confirm(client, record)
    response = confirm(client, record)
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert "Cet import ne peut pas être confirmé." in page
    assert db.session.scalar(select(db.func.count()).select_from(RegistryEntry)) == 2


def test_registry_admin_cancel_deletes_the_upload(client):
    council_admin()
    login(client, "conseil.idf")
    upload(client, csv_file(*GOOD_ROWS))
    record = only_import()
    response = confirm(client, record, "annuler")
    page = client.get(response.location).get_data(as_text=True)
    record = only_import()
    assert record.status == ImportStatus.CANCELLED
    assert db.session.get(RegistryImportUpload, record.id) is None
    assert "Import annulé : rien n'a été modifié" in page and "Confirmer" not in page
    assert db.session.scalar(select(db.func.count()).select_from(RegistryEntry)) == 0
    assert confirm(client, record).status_code == 302
    assert only_import().status == ImportStatus.CANCELLED


def test_registry_admin_confirm_refused_without_csrf_token(client):
    council_admin()
    login(client, "conseil.idf")
    upload(client, csv_file(*GOOD_ROWS))
    record = only_import()
    response = client.post(f"{BASE}/{record.public_id}/confirmer", data={})
    assert response.status_code == 400
    assert only_import().status == ImportStatus.PREVIEWED
    assert db.session.scalar(select(db.func.count()).select_from(RegistryEntry)) == 0


BAD_ROWS = (
    GOOD_ROWS[0],
    "IDF003;Petit;Luc;31/02/1980;luc@petit.example;Expert-comptable;inscrit",
    'IDF004;=HYPERLINK("http://evil.example");Marc;01/01/1981;m@x.example;Expert-comptable;inscrit',
)


def test_registry_admin_refused_file_shows_line_numbers_and_cannot_be_confirmed(client):
    council_admin()
    login(client, "conseil.idf")
    upload(client, csv_file(*BAD_ROWS))
    record = only_import()
    assert record.status == ImportStatus.REFUSED and record.rejected == 2
    page = client.get(f"{BASE}/{record.public_id}").get_data(as_text=True)
    assert "ligne 3 : " in page and "ligne 4 : " in page
    assert "Fichier refusé" in page and "Confirmer et appliquer" not in page
    assert db.session.get(RegistryImportUpload, record.id) is None
    assert confirm(client, record).status_code == 302
    assert only_import().status == ImportStatus.REFUSED
    assert db.session.scalar(select(db.func.count()).select_from(RegistryEntry)) == 0


def test_registry_admin_allow_partial_applies_the_valid_rows(client):
    council_admin()
    login(client, "conseil.idf")
    upload(client, csv_file(*BAD_ROWS), allow_partial="y")
    record = only_import()
    assert record.status == ImportStatus.PREVIEWED and record.rejected == 2
    page = client.get(f"{BASE}/{record.public_id}").get_data(as_text=True)
    assert "ligne 3 : " in page and "Confirmer et appliquer" in page
    confirm(client, record)
    assert only_import().status == ImportStatus.APPLIED
    numbers = db.session.scalars(select(RegistryEntry.registration_number)).all()
    assert numbers == ["IDF001"]


def test_registry_admin_stale_preview_cannot_be_confirmed(client):
    council_admin()
    login(client, "conseil.idf")
    upload(client, csv_file(*GOOD_ROWS))
    first = only_import()
    upload(client, csv_file(GOOD_ROWS[0]))
    second = db.session.scalars(select(RegistryImport).where(RegistryImport.id != first.id)).one()
    confirm(client, second)  # applied after the first one's preview
    db.session.expire_all()
    assert db.session.get(RegistryImport, second.id).status == ImportStatus.APPLIED
    page = client.get(f"{BASE}/{first.public_id}").get_data(as_text=True)
    assert "la comparaison n'est plus à jour" in page and "Confirmer et appliquer" not in page
    response = confirm(client, first)
    assert "Envoyez le fichier à nouveau" in client.get(response.location).get_data(True)
    db.session.expire_all()
    assert db.session.get(RegistryImport, first.id).status == ImportStatus.PREVIEWED
    numbers = db.session.scalars(select(RegistryEntry.registration_number)).all()
    assert numbers == ["IDF001"]


def test_registry_admin_same_file_twice_says_nothing_changes(client):
    council_admin()
    login(client, "conseil.idf")
    upload(client, csv_file(*GOOD_ROWS))
    confirm(client, only_import())
    upload(client, csv_file(*GOOD_ROWS))
    second = db.session.scalars(
        select(RegistryImport).order_by(RegistryImport.id.desc()).limit(1)
    ).one()
    assert (second.added, second.changed, second.unchanged) == (0, 0, 2)
    page = client.get(f"{BASE}/{second.public_id}").get_data(as_text=True)
    assert "Aucun changement : le tableau est déjà à jour" in page


def test_registry_admin_diff_pages_every_change_from_the_full_report(client):
    """The summary keeps the first changes only: the page reads the others in the report,
    one kind per tab, CHANGES_PER_PAGE per page."""
    council_admin()
    login(client, "conseil.idf")
    create_registry_entry("Durand", "Anne", registration_number="IDF002", email="old@x.example")
    rows = [
        f"N{n:04d};Nom{_letters(n)};Anne;01/01/1970;a{n}@c.example;Expert-comptable;inscrit"
        for n in range(120)
    ]
    upload(client, csv_file(*rows, "IDF002;Durand;Anne;12/04/1975;new@x.example;EC;inscrit"))
    record = only_import()
    assert (record.added, record.changed) == (120, 1)
    assert len(record.summary["changes"]) < 121
    page = client.get(f"{BASE}/{record.public_id}").get_data(as_text=True)
    assert "old@x.example" in page and "new@x.example" in page  # "Modifiées" first
    last = client.get(f"{BASE}/{record.public_id}?type=added&page=3").get_data(as_text=True)
    assert "N0119" in last and "N0099" not in last and "Page 3 sur 3" in last


def test_registry_admin_xlsx_upload_is_previewed(client):
    from tests.registry_import.files import xlsx_bytes

    council_admin()
    login(client, "conseil.idf")
    rows = [
        [100001, "Lefèvre", "Jean-François", date(1975, 4, 12), "jf@c.example", "EC", "Inscrit"]
    ]
    upload(client, xlsx_bytes(rows, header=HEADER.split(";")), name="Tableau IDF.xlsx")
    record = only_import()
    assert (record.status, record.added) == (ImportStatus.PREVIEWED, 1)
    page = client.get(f"{BASE}/{record.public_id}?type=added").get_data(as_text=True)
    assert "100001" in page and "XLSX" in page


def test_registry_admin_full_import_strikes_off_absent_entries(client):
    council_admin()
    login(client, "conseil.idf")
    gone = create_registry_entry("Absent", "Paul", registration_number="IDF009")
    create_registry_entry("Autre", "Région", registration_number="ARA009", council_code="ARA")
    upload(client, csv_file(*GOOD_ROWS), full="y")
    record = only_import()
    assert record.full and record.struck_off == 1
    page = client.get(f"{BASE}/{record.public_id}").get_data(as_text=True)
    assert "import complet (les absents sont radiés)" in page
    assert "IDF009" in page and "ARA009" not in page  # "Radiées" is the first tab
    confirm(client, record)
    db.session.expire_all()
    assert db.session.get(RegistryEntry, gone.id).status == "radie"


def test_registry_admin_unreadable_file_fails_with_its_reason(client):
    council_admin()
    login(client, "conseil.idf")
    upload(client, csv_file("Dupont;Jean", header="Nom;Prénom"))
    record = only_import()
    assert record.status == ImportStatus.FAILED
    assert db.session.get(RegistryImportUpload, record.id) is None
    page = client.get(f"{BASE}/{record.public_id}").get_data(as_text=True)
    assert "Le fichier n'a pas pu être lu : rien n'a été appliqué." in page
    assert record.summary["file_error"] in page.replace("&#39;", "'")
    assert "Confirmer" not in page and "Importer un autre fichier" in page


def test_registry_admin_progress_page_refreshes_itself(client):
    council_admin()
    login(client, "conseil.idf")
    upload(client, csv_file(*GOOD_ROWS))
    record = only_import()
    record.status = ImportStatus.RUNNING.value
    record.rows_processed = 5000
    db.session.commit()
    page = client.get(f"{BASE}/{record.public_id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in page
    assert "5000 lignes traitées" in page.replace("\u202f", "").replace("\xa0", "")
    assert "Confirmer" not in page


# --- reports and history ------------------------------------------------------------------


def test_registry_admin_report_download_headers_and_neutralised_formulas(client):
    council_admin()
    login(client, "conseil.idf")
    upload(client, csv_file(*BAD_ROWS))
    record = only_import()
    response = client.get(f"{BASE}/{record.public_id}/rapport.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="rapport-import-IDF-')
    assert disposition.endswith(f'-{record.id}.csv"')
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8-sig")
    cells = [
        cell for row in csv.reader(io.StringIO(text), delimiter=_delimiter(text)) for cell in row
    ]
    assert any("HYPERLINK" in cell for cell in cells)
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


def _delimiter(text: str) -> str:
    first = text.splitlines()[0]
    return ";" if first.count(";") >= first.count(",") else ","


def test_registry_admin_history_lists_every_import_of_the_councils(app, client):
    council_admin("conseil.idf")
    council_admin("conseil.ara", "ARA")
    ara = app.test_client()
    login(ara, "conseil.ara")
    upload(
        ara,
        csv_file("ARA001;Martin;Paul;01/02/1970;p@m.example;Expert-comptable;inscrit"),
        name="ara.csv",
        council="ARA",
    )
    login(client, "conseil.idf")
    upload(client, csv_file(*GOOD_ROWS), name="idf-janvier.csv")
    upload(client, csv_file(*BAD_ROWS), name="idf-fevrier.csv")
    page = client.get(BASE + "/").get_data(as_text=True)
    assert "idf-janvier.csv" in page and "idf-fevrier.csv" in page and "ara.csv" not in page
    assert page.count("rapport.csv") == 2 and "refusé" in page


def test_registry_admin_pages_in_english(client):
    council_admin()
    login(client, "conseil.idf")
    client.post("/language/en", data={"csrf_token": csrf_token(client, UPLOAD), "next": UPLOAD})
    page = client.get(UPLOAD).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "20 MB at most" in page and "20 Mo" not in page


def test_registry_admin_old_import_listed_with_cli_actor(client):
    council_admin()
    login(client, "conseil.idf")
    record = RegistryImport(
        council_id=services.council_by_code(db.session, "IDF").id,
        actor_kind="cli",
        file_name="tableau-2025.csv",
        file_sha256="ab" * 32,
        status=ImportStatus.APPLIED.value,
        created_at=utcnow() - timedelta(days=30),
        report_csv="ligne;message\r\n",
    )
    db.session.add(record)
    db.session.commit()
    page = client.get(BASE + "/").get_data(as_text=True)
    assert "tableau-2025.csv" in page and "ligne de commande" in page and "abababababab" in page
    assert db.session.scalar(select(db.func.count()).select_from(AuditEvent)) >= 1


# --- real threads, on a database of the test's own ---------------------------------------


def _letters(n: int) -> str:
    return "".join(chr(ord("a") + int(digit)) for digit in f"{n:05d}")


def test_registry_admin_preview_and_apply_run_in_background_threads(committed_app):
    """Without the inline setting the request returns at once and a thread previews; the
    page read by another request shows the result; threads are joined."""
    from idp.registry import worker

    assert not committed_app.config.get(INLINE_SETTING)
    rows = [
        f"T{n:05d};Nom{_letters(n)};Prénom;01/01/1970;p{n}@cabinet.example;Expert-comptable;inscrit"
        for n in range(3000)
    ]
    with committed_app.app_context():
        council_admin()
        client = committed_app.test_client()
        login(client, "conseil.idf")
        try:
            response = upload(client, csv_file(*rows))
            assert response.status_code == 302
            worker.join_all()
            record = only_import()
            assert record.status == ImportStatus.PREVIEWED and record.rows_processed == 3000
            page = client.get(response.location).get_data(as_text=True)
            assert "Confirmer et appliquer" in page and "T00000" in page
            confirm(client, record)
            worker.join_all()
            record = only_import()
            assert record.status == ImportStatus.APPLIED
            assert db.session.scalar(select(db.func.count()).select_from(RegistryEntry)) == 3000
        finally:
            worker.join_all()
            db.session.remove()
        assert worker.running_jobs() == 0


def test_registry_admin_progress_is_visible_while_the_import_transaction_is_open(committed_app):
    """ProgressWriter writes through its own transaction: another connection sees it while
    the session that will commit the import's results still has its transaction open."""
    from idp.registry.worker import ProgressWriter

    with committed_app.app_context():
        council_admin()
        record = RegistryImport(
            council_id=services.council_by_code(db.session, "IDF").id,
            actor_kind="cli",
            file_name="t.csv",
            file_sha256="0" * 64,
        )
        db.session.add(record)
        db.session.commit()
        import_id = record.id
        held = db.session.get(RegistryImport, import_id)  # the import's session: open read
        assert held is not None and held.rows_processed == 0
        progress = ProgressWriter(import_id)
        progress(5000)
        assert progress.enabled
        with db.engine.connect() as other:
            seen = other.scalar(
                select(RegistryImport.rows_processed).where(RegistryImport.id == import_id)
            )
        assert seen == 5000
        db.session.remove()
