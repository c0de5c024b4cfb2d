"""« Accédez à vos archives »: publishing (firm staff only, kind from content, hostile names),
the list (folders, exercice, search without accents, literal % and _), and the documents served
(inline PDF/images under a CSP sandbox, attachments, RFC 6266 names, no traversal): SECURITY.md
49-50. Sample files are real (a PDF with a page, Pillow's PNG, xlsxwriter's workbook).

The samples and `publish` below are imported by test_archives_access.py.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import xlsxwriter
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from werkzeug.http import parse_options_header
from werkzeug.test import TestResponse

from client_portal_rp.archives.services import publish_document
from client_portal_rp.extensions import db
from client_portal_rp.files import FileKind
from client_portal_rp.models import (
    ArchiveDocument,
    ArchiveFolder,
    AuditEvent,
    Company,
    PortalUser,
    Role,
)
from client_portal_rp.storage import current_blob_store
from tests.client_portal_rp.conftest import (
    make_company,
    make_firm,
    make_member,
    make_staff,
    sign_in,
)


def pdf_bytes(text: str = "Bilan 2024") -> bytes:
    """A small valid PDF (one page with a line of text), xref offsets computed."""
    stream = f"BT /F1 24 Tf 40 120 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 200]/Contents 4 0 R"
        b"/Resources<</Font<</F1 5 0 R>>>>>>",
        b"<</Length " + str(len(stream)).encode() + b">>stream\n" + stream + b"\nendstream",
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer<</Size {len(objects) + 1}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def png_bytes(color: tuple[int, int, int] = (15, 90, 74)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), color).save(buffer, "PNG")
    return buffer.getvalue()


CSV_BYTES = "Compte;Libellé;Solde\n401000;Fournisseurs;-1250,50\n".encode()


def xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"in_memory": True}) as book:
        sheet = book.add_worksheet("Balance")
        sheet.write_row(0, 0, ["Compte", "Libellé", "Solde"])
        sheet.write_row(1, 0, ["401000", "Fournisseurs", -1250.5])
    return buffer.getvalue()


def publish(
    company: Company,
    filename: str,
    content: bytes | None = None,
    *,
    folder: ArchiveFolder = ArchiveFolder.COMPTABLES,
    exercice: int = 2024,
    by: PortalUser | None = None,
    published_at: datetime | None = None,
) -> ArchiveDocument:
    """A document published through the service (bytes stored, row, audit), committed."""
    content = pdf_bytes() if content is None else content
    with tempfile.NamedTemporaryFile(delete=False) as handle:
        handle.write(content)
    path = Path(handle.name)
    try:
        document = publish_document(
            company,
            folder=folder,
            exercice=exercice,
            path=path,
            filename=filename,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            published_by=by,
        )
    finally:
        path.unlink(missing_ok=True)
    if published_at is not None:
        document.published_at = published_at
    db.session.commit()
    return document


def csrf_token(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on " + url
    return found.group(1)


# --- fixtures of this module -------------------------------------------------------------


def staff_client(app: Flask, client: FlaskClient) -> tuple[Company, PortalUser]:
    """A company and its firm's staff member, signed in with MFA."""
    firm = make_firm()
    company = make_company(firm, exercice_end=date(2025, 6, 30))
    staff = make_staff(firm)
    sign_in(client, app, staff, advanced=True)
    return company, staff


def archives_url(company: Company, suffix: str = "") -> str:
    return f"/entreprises/{company.public_id}/archives{suffix}"


def post_publish(
    client: FlaskClient,
    company: Company,
    files: list[tuple[bytes, str]],
    *,
    folder: str = "comptables",
    exercice: str = "2024",
    token: str | None = None,
) -> TestResponse:
    if token is None:
        token = csrf_token(client, archives_url(company, "/publier"))
    data: dict[str, Any] = {"csrf_token": token, "folder": folder, "exercice": exercice}
    data["documents"] = [(io.BytesIO(content), name) for content, name in files]
    return client.post(
        archives_url(company, "/publier"), data=data, content_type="multipart/form-data"
    )


def documents_of(company: Company) -> list[ArchiveDocument]:
    return list(
        db.session.scalars(
            select(ArchiveDocument)
            .where(ArchiveDocument.company_id == company.id)
            .order_by(ArchiveDocument.id)
        )
    )


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


# --- publishing --------------------------------------------------------------------------


def test_staff_publishes_a_pdf_stored_by_digest_with_audit(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company, staff = staff_client(portal_app, portal_client)
    content = pdf_bytes()
    response = post_publish(
        portal_client, company, [(content, "Bilan Général 2024.pdf")], folder="fiscaux"
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(
        archives_url(company, "?dossier=fiscaux&exercice=2024")
    )
    (document,) = documents_of(company)
    assert document.filename == "Bilan Général 2024.pdf"
    assert document.search_name == "bilan general 2024.pdf"
    assert (document.folder, document.exercice, document.kind) == ("fiscaux", 2024, "pdf")
    assert document.size == len(content)
    digest = hashlib.sha256(content).hexdigest()
    assert document.blob_sha256 == digest
    store = current_blob_store()
    assert store.open(digest).read() == content
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "archive.published")
    ).one()
    assert event.company_id == company.id and event.actor_id == staff.id
    assert event.details["document"] == document.public_id
    assert event.details["folder"] == "fiscaux"
    page = text(portal_client.get(response.headers["Location"]))
    assert (
        "« Bilan Général 2024.pdf » est publié dans « Documents fiscaux », exercice 2024." in page
    )


def test_staff_publishes_several_files_of_each_accepted_kind(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company, _ = staff_client(portal_app, portal_client)
    response = post_publish(
        portal_client,
        company,
        [
            (pdf_bytes(), "statuts.pdf"),
            (png_bytes(), "scan.png"),
            (CSV_BYTES, "balance.csv"),
            (xlsx_bytes(), "grand-livre.xlsx"),
        ],
        folder="juridiques",
        exercice="2023",
    )
    assert response.status_code == 303
    kinds = {d.filename: d.kind for d in documents_of(company)}
    assert kinds == {
        "statuts.pdf": "pdf",
        "scan.png": "png",
        "balance.csv": "csv",
        "grand-livre.xlsx": "xlsx",
    }
    assert {d.exercice for d in documents_of(company)} == {2023}


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"<!doctype html><script>alert(1)</script>", "facture.pdf"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.svg"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "setup.exe"),
        (b"PK\x03\x04garbage", "archive.zip"),
    ],
)
def test_publish_refuses_what_is_not_a_document_with_a_french_message(
    portal_app: Flask, portal_client: FlaskClient, content: bytes, name: str
) -> None:
    company, _ = staff_client(portal_app, portal_client)
    response = post_publish(portal_client, company, [(content, name)])
    assert response.status_code == 422
    assert f"« {name} » n'est pas un fichier accepté dans les archives" in text(response)
    assert documents_of(company) == []
    assert not db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "archive.published")
    ).all()


def test_publish_keeps_the_good_files_and_names_the_refused_one(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company, _ = staff_client(portal_app, portal_client)
    response = post_publish(
        portal_client, company, [(pdf_bytes(), "bon.pdf"), (b"<html>x</html>", "page.html")]
    )
    assert response.status_code == 303
    assert [d.filename for d in documents_of(company)] == ["bon.pdf"]
    page = text(portal_client.get(response.headers["Location"]))
    assert "« bon.pdf » est publié" in page
    assert "« page.html » n'est pas un fichier accepté" in page


def test_publish_empty_file_and_no_file_are_refused(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company, _ = staff_client(portal_app, portal_client)
    empty = post_publish(portal_client, company, [(b"", "vide.pdf")])
    assert empty.status_code == 422
    assert "« vide.pdf » est vide" in text(empty)
    none = post_publish(portal_client, company, [])
    assert none.status_code == 422
    assert "Choisissez au moins un fichier à publier." in text(none)
    assert documents_of(company) == []


@pytest.mark.parametrize(
    "exercice", ["1989", "abc", "", "20245", "２０２４", str(date.today().year + 2)]
)
def test_publish_refuses_an_exercice_out_of_range(
    portal_app: Flask, portal_client: FlaskClient, exercice: str
) -> None:
    company, _ = staff_client(portal_app, portal_client)
    response = post_publish(portal_client, company, [(pdf_bytes(), "a.pdf")], exercice=exercice)
    assert response.status_code == 422
    page = text(response)
    assert "L'exercice est l'année de clôture" in page or "Indiquez l'exercice" in page
    assert documents_of(company) == []


def test_publish_refuses_an_unknown_folder(portal_app: Flask, portal_client: FlaskClient) -> None:
    company, _ = staff_client(portal_app, portal_client)
    response = post_publish(portal_client, company, [(pdf_bytes(), "a.pdf")], folder="../perso")
    assert response.status_code == 422
    assert "Ce dossier n'existe pas" in text(response)
    assert documents_of(company) == []


def test_publish_without_the_csrf_token_writes_nothing(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company, _ = staff_client(portal_app, portal_client)
    response = post_publish(portal_client, company, [(pdf_bytes(), "a.pdf")], token="forged")
    assert response.status_code == 400
    assert "La page d'envoi a expiré" in text(response)
    assert documents_of(company) == []


def test_publish_form_defaults_to_the_companys_exercice_and_says_nothing_is_deleted(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company, _ = staff_client(portal_app, portal_client)
    page = portal_client.get(archives_url(company, "/publier"))
    assert page.status_code == 200
    body = text(page)
    assert 'name="exercice" type="number"' in body
    assert 'value="2025"' in body  # the exercice closes on 30 June 2025
    assert "ne peut pas être supprimé, ni par l'entreprise ni par le cabinet" in body


def test_publish_form_without_an_exercice_end_uses_this_year(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    company = make_company(firm)
    sign_in(portal_client, portal_app, make_staff(firm), advanced=True)
    body = text(portal_client.get(archives_url(company, "/publier")))
    assert f'value="{date.today().year}"' in body


@pytest.mark.parametrize("role", [Role.ADMIN, Role.USER])
def test_the_companys_own_people_cannot_publish(
    portal_app: Flask, portal_client: FlaskClient, role: Role
) -> None:
    company = make_company(make_firm())
    sign_in(portal_client, portal_app, make_member(company, role=role), advanced=True)
    form = portal_client.get(archives_url(company, "/publier"))
    assert form.status_code == 403
    assert "Seul votre cabinet publie des documents" in text(form)
    # A forged POST (token from another page of the portal) is refused just the same.
    token = csrf_token(portal_client, archives_url(company))
    response = post_publish(portal_client, company, [(pdf_bytes(), "a.pdf")], token=token)
    assert response.status_code == 403
    assert documents_of(company) == []
    assert "Publier des documents" not in text(portal_client.get(archives_url(company)))


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("fac\x00ture.pdf", "facture.pdf"),
        ("\u202egpj.exe.pdf", "gpj.exe.pdf"),
        ("<script>alert(1)</script>.pdf", "script>.pdf"),
        ("é" * 300 + ".pdf", "é" * 146 + ".pdf"),
        ("..", "document"),
    ],
)
def test_hostile_names_are_stored_safely_and_never_reach_the_disk(
    portal_app: Flask, portal_client: FlaskClient, sent: str, shown: str
) -> None:
    company, _ = staff_client(portal_app, portal_client)
    response = post_publish(portal_client, company, [(pdf_bytes(), sent)])
    assert response.status_code == 303
    (document,) = documents_of(company)
    assert document.filename == shown
    assert len(document.search_name) <= 200
    root = Path(portal_app.config["PORTAL_STORAGE_PATH"])
    stored = {p.name for p in root.rglob("*") if p.is_file()}
    assert document.blob_sha256 in stored
    assert not any(shown in name or "passwd" in name for name in stored)
    listing = portal_client.get(archives_url(company)).get_data(as_text=True)
    assert "<script>" not in listing


# --- the list ----------------------------------------------------------------------------


def member_client(app: Flask, client: FlaskClient) -> Company:
    company = make_company(make_firm())
    sign_in(client, app, make_member(company), advanced=True)
    return company


def names_on(client: FlaskClient, url: str) -> list[str]:
    body = client.get(url).get_data(as_text=True)
    return [html.unescape(n) for n in re.findall(r'class="archive-name"[^>]*>([^<]*)</a>', body)]


def test_list_shows_newest_first_with_date_exercice_type_and_french_size(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = member_client(portal_app, portal_client)
    now = datetime.now(UTC)
    publish(company, "ancien.pdf", exercice=2022, published_at=now - timedelta(days=400))
    publish(
        company,
        "gros.csv",
        CSV_BYTES + b"1;2;3\n" * 205_000,
        exercice=2024,
        published_at=now - timedelta(days=1),
    )
    publish(company, "récent.png", png_bytes(), folder=ArchiveFolder.JURIDIQUES, exercice=2024)
    response = portal_client.get(archives_url(company))
    assert response.status_code == 200
    assert names_on(portal_client, archives_url(company)) == [
        "récent.png",
        "gros.csv",
        "ancien.pdf",
    ]
    body = text(response)
    assert "1,2\u00a0Mo" in body  # 1 230 05x bytes
    assert "fichier CSV" in body and "image PNG" in body and "PDF" in body
    assert "Documents juridiques" in body
    assert 'data-label="Exercice">2022<' in body
    assert 'data-label="Taille"' in body  # rows fold on a phone


def test_human_size_is_french(portal_app: Flask) -> None:
    from client_portal_rp.archives.views import human_size

    with portal_app.test_request_context(headers={"Accept-Language": "fr"}):
        assert human_size(850) == "850\u00a0o"
        assert human_size(1_234) == "1,2\u00a0ko"
        assert human_size(1_234_567) == "1,2\u00a0Mo"
        assert human_size(25_000_000) == "25\u00a0Mo"
        assert human_size(345_600_000) == "346\u00a0Mo"
        assert human_size(2_500_000_000) == "2,5\u00a0Go"


def test_folders_are_tabs_with_counts_and_filter_the_list(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = member_client(portal_app, portal_client)
    publish(company, "bilan.pdf", folder=ArchiveFolder.COMPTABLES)
    publish(company, "liasse.pdf", folder=ArchiveFolder.FISCAUX)
    publish(company, "tva.pdf", folder=ArchiveFolder.FISCAUX)
    body = text(portal_client.get(archives_url(company)))
    assert re.search(r'aria-current="page">Tous les documents <span class="count">3<', body)
    assert re.search(r'Documents fiscaux <span class="count">2<', body)
    assert re.search(r'Documents juridiques <span class="count">0<', body)
    assert sorted(names_on(portal_client, archives_url(company, "?dossier=fiscaux"))) == [
        "liasse.pdf",
        "tva.pdf",
    ]
    empty = text(portal_client.get(archives_url(company, "?dossier=juridiques")))
    assert "Aucun document dans ce dossier pour le moment." in empty


def test_exercice_filter(portal_app: Flask, portal_client: FlaskClient) -> None:
    company = member_client(portal_app, portal_client)
    publish(company, "bilan-2023.pdf", exercice=2023)
    publish(company, "bilan-2024.pdf", exercice=2024)
    assert names_on(portal_client, archives_url(company, "?exercice=2023")) == ["bilan-2023.pdf"]
    body = text(portal_client.get(archives_url(company, "?exercice=2023")))
    assert '<option value="2023" selected>' in body and '<option value="2024">' in body
    assert re.search(r'Tous les documents <span class="count">1<', body)


def test_search_ignores_accents_and_case(portal_app: Flask, portal_client: FlaskClient) -> None:
    company = member_client(portal_app, portal_client)
    publish(company, "Bilan Général 2024.pdf")
    publish(company, "Liasse fiscale.pdf")
    for query in ("general", "GÉNÉRAL", "bilan  gén", "Général 2024"):
        found = names_on(portal_client, archives_url(company, f"?q={quote(query)}"))
        assert found == ["Bilan Général 2024.pdf"], query
    nothing = text(portal_client.get(archives_url(company, "?q=introuvable")))
    assert "Aucun document ne correspond à cette recherche." in nothing


def test_search_takes_percent_and_underscore_literally(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = member_client(portal_app, portal_client)
    publish(company, "remise 100%.pdf")
    publish(company, "remise 1000.pdf")
    publish(company, "a_b.pdf")
    publish(company, "axb.pdf")
    assert names_on(portal_client, archives_url(company, "?q=100%25")) == ["remise 100%.pdf"]
    assert names_on(portal_client, archives_url(company, "?q=a_b")) == ["a_b.pdf"]
    assert names_on(portal_client, archives_url(company, "?q=%25")) == ["remise 100%.pdf"]
    assert names_on(portal_client, archives_url(company, "?q=_")) == ["a_b.pdf"]
    # A backslash (the LIKE escape character) is a character like any other.
    assert names_on(portal_client, archives_url(company, "?q=%5C")) == []
    assert portal_client.get(archives_url(company, "?q=%5C%25")).status_code == 200


def test_search_within_a_folder_counts_matches_per_folder(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = member_client(portal_app, portal_client)
    publish(company, "bilan 2024.pdf", folder=ArchiveFolder.COMPTABLES)
    publish(company, "bilan social.pdf", folder=ArchiveFolder.JURIDIQUES)
    publish(company, "statuts.pdf", folder=ArchiveFolder.JURIDIQUES)
    url = archives_url(company, "?dossier=juridiques&q=bilan")
    assert names_on(portal_client, url) == ["bilan social.pdf"]
    body = text(portal_client.get(url))
    assert re.search(r'Documents comptables <span class="count">1<', body)
    assert re.search(r'Documents juridiques <span class="count">1<', body)
    assert 'name="dossier" value="juridiques"' in body  # the search stays in the folder


def test_list_pages_by_fifty(portal_app: Flask, portal_client: FlaskClient) -> None:
    company = member_client(portal_app, portal_client)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    db.session.add_all(
        ArchiveDocument(
            company_id=company.id,
            folder="comptables",
            exercice=2024,
            filename=f"piece-{n:03d}.pdf",
            search_name=f"piece-{n:03d}.pdf",
            kind="pdf",
            size=1000,
            blob_sha256="0" * 64,
            published_at=start + timedelta(minutes=n),
        )
        for n in range(120)
    )
    db.session.commit()
    first = names_on(portal_client, archives_url(company))
    assert len(first) == 50 and first[0] == "piece-119.pdf" and first[-1] == "piece-070.pdf"
    third = names_on(portal_client, archives_url(company, "?page=3"))
    assert third == [f"piece-{n:03d}.pdf" for n in range(19, -1, -1)]
    beyond = names_on(portal_client, archives_url(company, "?page=99"))
    assert beyond == third  # past the end: the last page
    body = text(portal_client.get(archives_url(company, "?page=2")))
    assert "Page 2 sur 3" in body and "Page précédente" in body and "Page suivante" in body


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("dossier=perso", "Ce dossier n'existe pas"),
        ("exercice=1900", "L'exercice est l'année de clôture"),
        ("exercice=abc", "L'exercice est l'année de clôture"),
        ("q=" + "x" * 150, "La recherche fait 150 caractères : 100 au plus."),
    ],
)
def test_a_wrong_filter_gets_a_french_message_not_a_500(
    portal_app: Flask, portal_client: FlaskClient, query: str, message: str
) -> None:
    company = member_client(portal_app, portal_client)
    publish(company, "bilan.pdf")
    response = portal_client.get(archives_url(company, f"?{query}&page=-3"))
    assert response.status_code == 400
    assert message in text(response)


# --- one document, opened and saved ------------------------------------------------------


def test_detail_page_shows_metadata_open_and_save(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = member_client(portal_app, portal_client)
    document = publish(company, "Bilan 2024.pdf", folder=ArchiveFolder.FISCAUX, exercice=2024)
    body = text(portal_client.get(archives_url(company, f"/{document.public_id}")))
    assert "Bilan 2024.pdf" in body and "Documents fiscaux" in body and "2024" in body
    assert f'href="{archives_url(company, f"/{document.public_id}/voir")}" target="_blank"' in body
    assert f'href="{archives_url(company, f"/{document.public_id}/telecharger")}" download' in body
    assert "Ouvrir" in body and "Enregistrer sous" in body
    assert "conservés 10 ans" in body
    assert "<iframe" not in body


def test_detail_page_of_a_csv_offers_only_to_save_it(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = member_client(portal_app, portal_client)
    document = publish(company, "balance.csv", CSV_BYTES)
    body = text(portal_client.get(archives_url(company, f"/{document.public_id}")))
    assert "/voir" not in body
    assert "Enregistrer sous" in body
    assert "ne s'affiche pas dans le navigateur" in body


def test_a_pdf_opens_inline_under_a_csp_sandbox(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = member_client(portal_app, portal_client)
    content = pdf_bytes()
    document = publish(company, "Bilan Général.pdf", content)
    response = portal_client.get(archives_url(company, f"/{document.public_id}/voir"))
    assert response.status_code == 200
    assert response.data == content
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Length"] == str(len(content))
    csp = response.headers["Content-Security-Policy"]
    assert csp.split(";")[0].strip() == "sandbox"
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "no-store" in response.headers["Cache-Control"]
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("inline; ")
    assert parse_options_header(disposition)[1]["filename"] == "Bilan Général.pdf"


def test_an_image_opens_inline_and_a_csv_or_xlsx_never_does(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = member_client(portal_app, portal_client)
    image = publish(company, "scan.png", png_bytes())
    csv = publish(company, "balance.csv", CSV_BYTES)
    workbook = publish(company, "grand-livre.xlsx", xlsx_bytes())
    shown = portal_client.get(archives_url(company, f"/{image.public_id}/voir"))
    assert shown.mimetype == "image/png"
    assert shown.headers["Content-Disposition"].startswith("inline; ")
    assert shown.headers["Content-Security-Policy"].startswith("sandbox")
    for document, mimetype in ((csv, "text/csv"), (workbook, FileKind.XLSX.mime_type)):
        response = portal_client.get(archives_url(company, f"/{document.public_id}/voir"))
        assert response.status_code == 200
        assert response.mimetype == mimetype
        assert response.headers["Content-Disposition"].startswith("attachment; ")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_save_as_is_an_attachment_with_a_unicode_name_and_quotes(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = member_client(portal_app, portal_client)
    content = pdf_bytes()
    document = publish(company, 'Relevé "final" à 100%.pdf', content)
    response = portal_client.get(archives_url(company, f"/{document.public_id}/telecharger"))
    assert response.status_code == 200
    assert response.data == content
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; ")
    assert 'filename="Releve _final_ a 100_.pdf"' in disposition
    assert "filename*=UTF-8''Relev%C3%A9%20%22final%22%20%C3%A0%20100%25.pdf" in disposition
    assert parse_options_header(disposition)[1]["filename"] == 'Relevé "final" à 100%.pdf'
    assert "\r" not in disposition and "\n" not in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "document_id",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "..%252F..%252Fetc%252Fpasswd",
        "%2e%2e",
        "..",
        "x" * 65,
        "0" * 64,  # a digest is no document id
    ],
)
def test_no_directory_traversal_through_a_document_id(
    portal_app: Flask, portal_client: FlaskClient, document_id: str
) -> None:
    company = member_client(portal_app, portal_client)
    document = publish(company, "bilan.pdf")
    for suffix in ("", "/voir", "/telecharger"):
        response = portal_client.get(archives_url(company, f"/{document_id}{suffix}"))
        assert response.status_code == 404, (document_id, suffix)
        assert b"root:" not in response.data
    # The digest of a stored blob is not a way in either.
    blob = portal_client.get(archives_url(company, f"/{document.blob_sha256}/voir"))
    assert blob.status_code == 404


def test_a_missing_blob_is_a_404_not_a_500(portal_app: Flask, portal_client: FlaskClient) -> None:
    company = member_client(portal_app, portal_client)
    document = publish(company, "bilan.pdf")
    document.blob_sha256 = "f" * 64
    db.session.commit()
    assert (
        portal_client.get(archives_url(company, f"/{document.public_id}/voir")).status_code == 404
    )


def test_sizes_and_dates_follow_the_pages_language(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = member_client(portal_app, portal_client)
    publish(company, "gros.pdf", pdf_bytes() + b"%" * 1_234_000)
    english = portal_client.get(archives_url(company), headers={"Accept-Language": "en"})
    assert english.status_code == 200
    assert "1.2\u00a0" in english.get_data(as_text=True)
    french = portal_client.get(archives_url(company), headers={"Accept-Language": "fr"})
    assert "1,2\u00a0Mo" in french.get_data(as_text=True)
