"""« Déposez vos documents », the client's side: the upload (without JavaScript: a form POST
and a redirect; with it: one JSON answer per file), the kinds allowed per deposit type, PDFs
kept byte for byte, photos served only once their location is removed, hostile names, the
streaming size limit, duplicates, the list's filters, the firm's requests answered, and 404/403
on every URL for another company's user or without the module (SECURITY.md 46, 47, 49, 50)."""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from client_portal_rp.deposits import jobs, services
from client_portal_rp.extensions import db
from client_portal_rp.models import (
    AuditEvent,
    Company,
    Deposit,
    DepositStatus,
    DepositType,
    Module,
    PieceRequest,
    PortalUser,
    Processing,
)
from client_portal_rp.storage import LocalBlobStore
from tests.client_portal_rp.conftest import make_company, make_firm, make_member, sign_in
from tests.client_portal_rp.test_images import gradient, photo_exif

# An e-invoice (Factur-X): a PDF carrying its XML; the XML must survive byte for byte.
FACTURX_PDF = (
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /EmbeddedFile /Subtype /text#2Fxml >>\n"
    b"stream\n<?xml version='1.0' encoding='UTF-8'?><rsm:CrossIndustryInvoice>"
    b"<ram:GrandTotalAmount>1234.56</ram:GrandTotalAmount></rsm:CrossIndustryInvoice>\n"
    b"endstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
HTML_AS_PDF = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
CSV = "Date;Libellé;Montant\n2024-03-01;Loyer;-850,00\n".encode()
JSON_ACCEPT = {"Accept": "application/json"}


# --- helpers -----------------------------------------------------------------------------


def a_pdf(marker: str = "") -> bytes:
    """A distinct small PDF (a new marker: new bytes, no duplicate)."""
    return FACTURX_PDF + f"% {marker or secrets.token_hex(8)}\n".encode()


def jpeg_with_gps(size: tuple[int, int] = (400, 300)) -> bytes:
    out = io.BytesIO()
    gradient(size).save(out, "JPEG", exif=photo_exif(gps=True), quality=90)
    return out.getvalue()


def image_bytes(fmt: str, *, gps: bool = True, **options: object) -> bytes:
    out = io.BytesIO()
    gradient((320, 240)).save(out, fmt, exif=photo_exif(gps=gps), **options)
    return out.getvalue()


def gps_in(data: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif().get_ifd(0x8825))


def multipart(
    fields: Sequence[tuple[str, str]], files: Sequence[tuple[str, bytes]], field: str = "documents"
) -> tuple[bytes, str]:
    """A multipart/form-data body built by hand (fields first, then files), so that any file
    name, NUL and '../' included, reaches the server as a browser could send it."""
    boundary = "----test" + secrets.token_hex(8)
    body = b""
    for name, value in fields:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for filename, data in files:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="'.encode()
            + filename.replace("\\", "\\\\").replace('"', "%22").encode("utf-8")
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def page_of(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def csrf_token(client: FlaskClient, company: Company) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page_of(client, url_of(company)))
    assert found
    return found.group(1)


def switch_user() -> None:
    """Forget the person cached in `g`: the tests' app context outlives each request, so a
    second client's requests would otherwise run as the first client's person."""
    g.pop("portal_user", None)
    g.pop("rp_login", None)


def url_of(company: Company, tail: str = "") -> str:
    return f"/entreprises/{company.public_id}/depots{tail}"


def post_files(
    client: FlaskClient,
    company: Company,
    files: Sequence[tuple[str, bytes]],
    *,
    code: str = "achats",
    token: str | None = None,
    extra: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> TestResponse:
    token = csrf_token(client, company) if token is None else token
    fields = ([("csrf_token", token)] if token else []) + [("type", code), *extra]
    body, content_type = multipart(fields, files)
    return client.post(
        url_of(company), data=body, content_type=content_type, headers=dict(headers or {})
    )


def deposits_of(company: Company) -> list[Deposit]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Deposit).where(Deposit.company_id == company.id).order_by(Deposit.id)
        )
    )


def blob_bytes(sha256: str) -> bytes:
    with services.blob_store().open(sha256) as stream:
        return stream.read()


@pytest.fixture
def member(portal_app: Flask, portal_client: FlaskClient) -> tuple[Company, PortalUser]:
    company = make_company(make_firm())
    user = make_member(company, modules={Module.DEPOSIT})
    sign_in(portal_client, portal_app, user)
    return company, user


def deposit_type(company: Company, code: str) -> DepositType:
    found = services.deposit_type_of(company, code)
    assert found is not None
    return found


# --- the page ----------------------------------------------------------------------------


def test_deposit_page_offers_files_drop_zone_and_camera_without_inline_script(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    page = page_of(portal_client, url_of(company))
    assert "Ajouter ou déposer des documents" in page
    assert 'enctype="multipart/form-data"' in page
    assert 'type="file" name="documents" multiple' in page
    assert 'accept="image/*" capture="environment"' in page
    assert "Prendre une photo" in page and "data-drop-zone" in page
    for label in ("Factures achats", "Factures ventes", "Divers – opérations diverses", "Données"):
        assert label in page
    assert "/static/js/deposits.js" in page
    assert "<script>" not in page and " style=" not in page and "onclick" not in page
    # The token precedes the file inputs: it is checked before a file byte is written.
    assert page.index('name="csrf_token"', page.index("deposit-form")) < page.index('type="file"')


# --- kinds kept, cleaned, refused --------------------------------------------------------


def test_pdf_is_kept_byte_for_byte_and_downloaded_as_an_attachment(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    response = post_files(portal_client, company, [("facture-2024-03.pdf", FACTURX_PDF)])
    assert response.status_code == 303
    assert response.headers["Location"].endswith(url_of(company))
    (deposit,) = deposits_of(company)
    assert deposit.filename == "facture-2024-03.pdf" and deposit.kind == "pdf"
    assert deposit.size == len(FACTURX_PDF)
    assert deposit.processing == Processing.NONE.value
    assert deposit.uploaded_by_id == user.id and deposit.source == "web"
    assert deposit.status == DepositStatus.DEPOSITED.value
    assert blob_bytes(deposit.blob_sha256) == FACTURX_PDF
    page = page_of(portal_client, url_of(company))
    assert "« facture-2024-03.pdf » est déposé." in page
    assert "facture-2024-03.pdf" in page.split("Documents déposés", 1)[1]
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "deposit.created"))
    assert audit is not None and audit.company_id == company.id and audit.actor_id == user.id
    assert audit.details["deposit"] == deposit.public_id and audit.details["type"] == "achats"

    download = portal_client.get(url_of(company, f"/{deposit.public_id}/fichier"))
    assert download.status_code == 200
    assert download.data == FACTURX_PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "facture-2024-03.pdf" in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Cache-Control"] == "private, no-store"
    opened = portal_client.get(url_of(company, f"/{deposit.public_id}/apercu"))
    assert opened.status_code == 200 and opened.data == FACTURX_PDF
    assert opened.headers["Content-Disposition"].startswith("inline;")
    assert opened.headers["Content-Security-Policy"].startswith("sandbox")


def test_jpeg_with_gps_is_served_only_without_its_location_and_gets_a_thumbnail(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    photo = jpeg_with_gps()
    assert gps_in(photo)
    response = post_files(portal_client, company, [("IMG_2041.JPG", photo)])
    assert response.status_code == 303
    (deposit,) = deposits_of(company)  # the job ran after the answer (inline in tests)
    assert deposit.kind == "jpeg" and deposit.processing == Processing.DONE.value
    assert deposit.sha256 != deposit.blob_sha256
    assert not services.blob_store().exists(deposit.sha256)  # the original is gone
    served = portal_client.get(url_of(company, f"/{deposit.public_id}/fichier"))
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert gps_in(served.data) == {}
    assert b"GPS" not in served.data[:4096] or gps_in(served.data) == {}
    preview = portal_client.get(url_of(company, f"/{deposit.public_id}/apercu"))
    assert preview.status_code == 200 and gps_in(preview.data) == {}
    thumb = portal_client.get(url_of(company, f"/{deposit.public_id}/vignette"))
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb.data)) as image:
        assert image.format == "JPEG" and max(image.size) <= 320
    assert thumb.headers["Cache-Control"] == "private, no-store"
    page = page_of(portal_client, url_of(company))
    assert f"/depots/{deposit.public_id}/vignette" in page


def test_photo_is_not_served_before_the_job_and_run_pending_finishes_it(
    portal_client: FlaskClient, member: tuple[Company, PortalUser], tmp_path: Path
) -> None:
    company, user = member
    path = tmp_path / "photo.jpg"
    data = jpeg_with_gps()
    path.write_bytes(data)
    from hashlib import sha256

    digest = sha256(data).hexdigest()
    result = services.deposit_file(
        company,
        deposit_type(company, "achats"),
        path=path,
        filename="photo.jpg",
        size=len(data),
        sha256=digest,
        uploaded_by=user,
    )
    db.session.commit()
    assert result.needs_processing
    deposit_id = result.deposit.public_id
    for tail in ("fichier", "apercu"):
        response = portal_client.get(url_of(company, f"/{deposit_id}/{tail}"))
        assert response.status_code == 409
        assert "en cours de traitement" in response.get_data(as_text=True)
        assert response.data.find(data[:64]) == -1
    assert portal_client.get(url_of(company, f"/{deposit_id}/vignette")).status_code == 404
    assert "en cours de traitement" in page_of(portal_client, url_of(company))

    assert jobs.run_pending() == 1
    assert jobs.run_pending() == 0  # nothing left; a second run changes nothing
    assert jobs.process_deposit(result.deposit.id) is False
    served = portal_client.get(url_of(company, f"/{deposit_id}/fichier"))
    assert served.status_code == 200 and gps_in(served.data) == {}


def test_heic_gets_a_jpeg_rendition_and_png_a_thumbnail(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    company, _user = member
    heic = image_bytes("HEIF")
    png = image_bytes("PNG", gps=False)
    response = post_files(portal_client, company, [("IMG_0001.HEIC", heic), ("scan.png", png)])
    assert response.status_code == 303
    heic_deposit, png_deposit = deposits_of(company)
    assert heic_deposit.kind == "heic" and png_deposit.kind == "png"
    assert heic_deposit.processing == png_deposit.processing == Processing.DONE.value
    assert heic_deposit.rendition_sha256 and png_deposit.rendition_sha256 is None
    preview = portal_client.get(url_of(company, f"/{heic_deposit.public_id}/apercu"))
    assert preview.status_code == 200 and preview.headers["Content-Type"] == "image/jpeg"
    assert "IMG_0001.jpg" in preview.headers["Content-Disposition"]
    with Image.open(io.BytesIO(preview.data)) as image:
        assert image.format == "JPEG" and image.size == (320, 240)
    original = portal_client.get(url_of(company, f"/{heic_deposit.public_id}/fichier"))
    assert original.status_code == 200 and original.headers["Content-Type"] == "image/heic"
    assert gps_in(original.data) == {}
    for deposit in (heic_deposit, png_deposit):
        thumb = portal_client.get(url_of(company, f"/{deposit.public_id}/vignette"))
        assert thumb.status_code == 200 and thumb.data[:3] == b"\xff\xd8\xff"
    png_served = portal_client.get(url_of(company, f"/{png_deposit.public_id}/fichier"))
    assert png_served.data == png  # no location: nothing to change


@pytest.mark.parametrize(
    ("filename", "data", "code", "expected"),
    [
        ("facture.pdf", HTML_AS_PDF, "achats", "n'est pas un fichier accepté"),
        ("logo.svg", SVG, "achats", "n'est pas un fichier accepté"),
        ("facture.pdf", SVG, "achats", "n'est pas un fichier accepté"),
        ("setup.exe", EXE, "divers", "n'est pas un fichier accepté"),
        ("releve.pdf", FACTURX_PDF, "donnees", "prend les fichiers CSV et les classeurs Excel"),
        ("releve.csv", CSV, "achats", "choisissez le type « Données »"),
    ],
)
def test_kinds_outside_the_types_allow_list_are_refused_and_not_stored(
    portal_client: FlaskClient,
    member: tuple[Company, PortalUser],
    filename: str,
    data: bytes,
    code: str,
    expected: str,
) -> None:
    company, _user = member
    response = post_files(portal_client, company, [(filename, data)], code=code)
    assert response.status_code == 303
    page = page_of(portal_client, url_of(company))
    assert "flash-error" in page and expected in page.replace("&#39;", "'")
    assert deposits_of(company) == []
    from hashlib import sha256

    assert not services.blob_store().exists(sha256(data).hexdigest()) or code != "achats"
    answer = post_files(portal_client, company, [(filename, data)], code=code, headers=JSON_ACCEPT)
    assert answer.status_code == 422
    assert answer.json is not None and answer.json["ok"] is False
    assert expected in answer.json["results"][0]["message"]


def test_csv_is_accepted_as_data(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    response = post_files(
        portal_client, company, [("releve.csv", CSV)], code="donnees", headers=JSON_ACCEPT
    )
    assert response.status_code == 201, response.json
    (deposit,) = deposits_of(company)
    assert deposit.kind == "csv" and deposit.deposit_type.code == "donnees"
    download = portal_client.get(url_of(company, f"/{deposit.public_id}/apercu"))
    assert download.headers["Content-Disposition"].startswith("attachment;")


def test_hostile_names_are_stored_as_display_names_only(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    names = {
        "../../etc/passwd": "passwd",
        "..\\..\\windows\\system32\\facture.pdf": "facture.pdf",
        "fac\x00ture.pdf": "facture.pdf",
        "a" * 300 + ".pdf": "a" * 146 + ".pdf",
        "Facture n°12 – café ‮fdp.exe": "Facture n°12 – café fdp.exe",
        "..": "document",
    }
    files = [(name, a_pdf()) for name in names]
    response = post_files(portal_client, company, files, headers=JSON_ACCEPT)
    assert response.status_code == 201, response.json
    stored = deposits_of(company)
    assert [d.filename for d in stored] == list(names.values())
    root = services.blob_store()
    assert isinstance(root, LocalBlobStore)
    every_file = [p for p in root.root.rglob("*") if p.is_file()]
    assert every_file and all(re.fullmatch(r"[0-9a-f]{64}", p.name) for p in every_file)
    assert not list(root.root.rglob("passwd")) and not (root.root.parent / "etc").exists()
    for deposit in stored:
        header = portal_client.get(url_of(company, f"/{deposit.public_id}/fichier")).headers[
            "Content-Disposition"
        ]
        assert header.startswith("attachment;") and "/" not in header.split("filename*=")[0]
        assert "\x00" not in header and "\u202e" not in header and ".." not in header


def test_a_file_over_the_limit_is_refused_while_streaming_and_the_next_accepted(
    portal_app: Flask, portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    old = portal_app.config["PORTAL_MAX_UPLOAD_BYTES"]
    portal_app.config["PORTAL_MAX_UPLOAD_BYTES"] = 25 * 1000
    try:
        token = csrf_token(portal_client, company)
        big = FACTURX_PDF + b"0" * (25 * 1000 + 1 - len(FACTURX_PDF))
        too_big = post_files(
            portal_client, company, [("gros.pdf", big)], token=token, headers=JSON_ACCEPT
        )
        assert too_big.status_code == 413
        assert too_big.json is not None
        assert "« gros.pdf » dépasse la taille maximale" in too_big.json["message"]
        just_right = big[:-1]
        fine = post_files(
            portal_client, company, [("juste.pdf", just_right)], token=token, headers=JSON_ACCEPT
        )
        assert fine.status_code == 201
        no_js = post_files(portal_client, company, [("gros.pdf", big)], token=token)
        assert no_js.status_code == 413
        assert "dépasse la taille maximale" in no_js.get_data(as_text=True)
    finally:
        portal_app.config["PORTAL_MAX_UPLOAD_BYTES"] = old
    assert [d.filename for d in deposits_of(company)] == ["juste.pdf"]
    incoming = services.upload_tmp_dir()
    assert list(incoming.iterdir()) == []  # no temporary file left behind


def test_without_javascript_one_file_too_large_does_not_lose_the_others(
    portal_app: Flask, portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    """The plain form posts every file in one request: the one over the limit is read and
    dropped, named in a message; the others are deposited."""
    company, _user = member
    old = portal_app.config["PORTAL_MAX_UPLOAD_BYTES"]
    portal_app.config["PORTAL_MAX_UPLOAD_BYTES"] = 25 * 1000
    try:
        big = FACTURX_PDF + b"0" * (25 * 1000 + 1 - len(FACTURX_PDF))
        answer = post_files(
            portal_client,
            company,
            [("avant.pdf", a_pdf()), ("gros.pdf", big), ("apres.pdf", a_pdf() + b"%x")],
        )
        assert answer.status_code == 303
        page = portal_client.get(answer.headers["Location"]).get_data(as_text=True)
        assert "« gros.pdf » dépasse la taille maximale" in page
    finally:
        portal_app.config["PORTAL_MAX_UPLOAD_BYTES"] = old
    assert sorted(d.filename for d in deposits_of(company)) == ["apres.pdf", "avant.pdf"]
    assert list(services.upload_tmp_dir().iterdir()) == []


def test_the_same_bytes_again_are_flagged_as_a_duplicate_with_the_first_date(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    pdf = a_pdf()
    assert post_files(portal_client, company, [("facture.pdf", pdf)]).status_code == 303
    first = deposits_of(company)[0]
    first.created_at = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    db.session.commit()
    answer = post_files(portal_client, company, [("copie.pdf", pdf)], headers=JSON_ACCEPT)
    assert answer.status_code == 201 and answer.json is not None
    result = answer.json["results"][0]
    assert result["duplicate"] is True
    assert "Ce fichier a déjà été déposé le 01/03/2024" in result["message"]
    first, second = deposits_of(company)
    assert second.duplicate_of_id == first.id and first.duplicate_of_id is None
    assert second.blob_sha256 == first.blob_sha256
    page = page_of(portal_client, url_of(company))
    assert page.count("Doublon probable") == 1 and "Déjà déposé le 01/03/2024" in page
    # The same bytes in another company are no duplicate of this one.
    other = make_company(company.firm, "Autre")
    path = services.upload_tmp_dir() / "copy.pdf"
    path.write_bytes(pdf)
    try:
        elsewhere = services.deposit_file(
            other,
            deposit_type(other, "achats"),
            path=path,
            filename="f.pdf",
            size=len(pdf),
            sha256=first.sha256,
            uploaded_by=None,
            source="email",
        )
    finally:
        path.unlink()
    assert elsewhere.duplicate_of is None


def make_listed(
    company: Company,
    name: str,
    *,
    code: str = "achats",
    status: DepositStatus = DepositStatus.DEPOSITED,
    at: datetime | None = None,
) -> Deposit:
    deposit = Deposit(
        company_id=company.id,
        deposit_type_id=deposit_type(company, code).id,
        filename=name,
        kind="pdf",
        size=1000,
        sha256="b" * 64,
        blob_sha256="b" * 64,
        status=status.value,
        created_at=at or datetime.now(UTC),
    )
    db.session.add(deposit)
    db.session.commit()
    return deposit


def test_list_filters_by_type_status_and_dates_newest_first(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    now = datetime.now(UTC)
    make_listed(company, "achat-ancien.pdf", at=datetime(2024, 1, 10, 12, tzinfo=UTC))
    make_listed(company, "vente.pdf", code="ventes", at=now - timedelta(days=1))
    make_listed(company, "traite.pdf", status=DepositStatus.PROCESSED, at=now)
    page = page_of(portal_client, url_of(company))
    assert page.index("traite.pdf") < page.index("vente.pdf") < page.index("achat-ancien.pdf")
    by_type = page_of(portal_client, url_of(company, "?type=ventes"))
    assert "vente.pdf" in by_type and "traite.pdf" not in by_type
    by_status = page_of(portal_client, url_of(company, "?statut=traite"))
    assert "traite.pdf" in by_status and "vente.pdf" not in by_status
    by_dates = page_of(portal_client, url_of(company, "?du=2024-01-01&au=2024-01-31"))
    assert "achat-ancien.pdf" in by_dates and "vente.pdf" not in by_dates
    assert "Aucun document ne correspond" in page_of(
        portal_client, url_of(company, "?du=2020-01-01&au=2020-01-02")
    )
    wrong = portal_client.get(url_of(company, "?du=hier&statut=perdu"))
    assert wrong.status_code == 400
    text = wrong.get_data(as_text=True)
    assert "n'est pas une date valable" in text.replace("&#39;", "'")
    assert "Ce statut n'existe pas" in text.replace("&#39;", "'")


def test_list_is_paginated_by_fifty(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(51):
        make_listed(company, f"piece-{n:02d}.pdf", at=start + timedelta(hours=n))
    first = page_of(portal_client, url_of(company))
    assert "piece-50.pdf" in first and "piece-01.pdf" in first and "piece-00.pdf" not in first
    assert "Page 1 sur 2" in first
    second = page_of(portal_client, url_of(company, "?page=2"))
    assert "piece-00.pdf" in second and "piece-50.pdf" not in second


def test_list_shows_status_firm_note_and_who_took_it(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    from tests.client_portal_rp.conftest import make_staff

    company, _user = member
    staff = make_staff(company.firm)
    deposit = make_listed(company, "note.pdf", status=DepositStatus.TAKEN)
    deposit.taken_by_id = staff.id
    deposit.firm_note = "Il manque la page 2."
    db.session.commit()
    page = page_of(portal_client, url_of(company))
    assert "Pris en charge" in page and "pris en charge par Paul Comptable" in page
    assert "Il manque la page 2." in page


# --- missing-piece requests ----------------------------------------------------------------


def test_open_piece_requests_are_shown_and_answered_by_a_deposit(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    wanted = PieceRequest(company_id=company.id, message="Le relevé bancaire de mars")
    closed = PieceRequest(
        company_id=company.id, message="Ancienne demande", closed_at=datetime.now(UTC)
    )
    db.session.add_all([wanted, closed])
    db.session.commit()
    page = page_of(portal_client, url_of(company))
    assert "Le relevé bancaire de mars" in page and "Ancienne demande" not in page
    assert "Répondre avec un document" in page
    assert f"demande={wanted.public_id}" in page
    answering = page_of(portal_client, url_of(company, f"?demande={wanted.public_id}"))
    assert f'name="piece_request" value="{wanted.public_id}"' in answering
    response = post_files(
        portal_client,
        company,
        [("releve.pdf", a_pdf())],
        extra=[("piece_request", wanted.public_id)],
    )
    assert response.status_code == 303
    (deposit,) = deposits_of(company)
    assert deposit.piece_request_id == wanted.id
    assert db.session.get(PieceRequest, wanted.id).answered_at is not None  # type: ignore[union-attr]
    assert "Le relevé bancaire de mars" not in page_of(portal_client, url_of(company))


def test_a_piece_request_of_another_company_is_refused(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    other = make_company(company.firm, "Voisine")
    theirs = PieceRequest(company_id=other.id, message="Leur demande")
    db.session.add(theirs)
    db.session.commit()
    assert "Leur demande" not in page_of(
        portal_client, url_of(company, f"?demande={theirs.public_id}")
    )
    response = post_files(
        portal_client,
        company,
        [("releve.pdf", a_pdf())],
        extra=[("piece_request", theirs.public_id)],
        headers=JSON_ACCEPT,
    )
    assert response.status_code == 422 and response.json is not None
    assert "Cette demande de pièce n'existe pas" in response.json["message"]
    assert deposits_of(company) == []
    db.session.expire_all()
    assert db.session.get(PieceRequest, theirs.id).answered_at is None  # type: ignore[union-attr]


# --- CSRF, tenancy, module rights ----------------------------------------------------------


def test_upload_requires_the_csrf_token_before_any_file_is_stored(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    pdf = a_pdf()
    for token, headers in (("", {}), ("forged", {}), ("", JSON_ACCEPT)):
        response = post_files(
            portal_client, company, [("f.pdf", pdf)], token=token or "", headers=headers
        )
        assert response.status_code == 400
        text = response.get_data(as_text=True).replace("&#39;", "'").replace("\\u00e9", "é")
        assert "La page d'envoi a expiré" in text
    assert deposits_of(company) == []
    from hashlib import sha256

    assert not services.blob_store().exists(sha256(pdf).hexdigest())
    # The header is accepted in place of the field (the XHR path may send it so).
    token = csrf_token(portal_client, company)
    body, content_type = multipart([("type", "achats")], [("f.pdf", pdf)])
    with_header = portal_client.post(
        url_of(company),
        data=body,
        content_type=content_type,
        headers={**JSON_ACCEPT, "X-CSRFToken": token},
    )
    assert with_header.status_code == 201


def _every_url(company: Company, deposit: Deposit) -> list[tuple[str, str]]:
    return [
        ("GET", url_of(company)),
        ("POST", url_of(company)),
        ("GET", url_of(company, f"/{deposit.public_id}/fichier")),
        ("GET", url_of(company, f"/{deposit.public_id}/vignette")),
        ("GET", url_of(company, f"/{deposit.public_id}/apercu")),
    ]


def _call(client: FlaskClient, method: str, url: str, token: str) -> TestResponse:
    switch_user()
    if method == "GET":
        return client.get(url)
    body, content_type = multipart(
        [("csrf_token", token), ("type", "achats")], [("f.pdf", a_pdf())]
    )
    return client.post(url, data=body, content_type=content_type)


def test_another_companys_user_gets_404_on_every_deposit_url(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    firm = make_firm()
    theirs, ours = make_company(firm, "Theirs"), make_company(firm, "Ours")
    owner = make_member(theirs, modules={Module.DEPOSIT})
    sign_in(portal_client, portal_app, owner)
    assert post_files(portal_client, theirs, [("IMG.jpg", jpeg_with_gps())]).status_code == 303
    (deposit,) = deposits_of(theirs)
    assert portal_client.get(url_of(theirs, f"/{deposit.public_id}/vignette")).status_code == 200

    outsider = make_member(ours, modules={Module.DEPOSIT})
    client = portal_app.test_client()
    sign_in(client, portal_app, outsider)
    switch_user()
    token = csrf_token(client, ours)
    for method, url in _every_url(theirs, deposit):
        assert _call(client, method, url, token).status_code == 404, (method, url)
    # Their deposit through our company's URLs: 404 too (looked up within the company).
    for method, url in _every_url(ours, deposit)[2:]:
        assert _call(client, method, url, token).status_code == 404, (method, url)
    assert len(deposits_of(theirs)) == 1 and deposits_of(ours) == []


def test_a_member_without_the_deposit_module_gets_403_on_every_deposit_url(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = make_company(make_firm())
    depositor = make_member(company, modules={Module.DEPOSIT})
    sign_in(portal_client, portal_app, depositor)
    assert post_files(portal_client, company, [("f.pdf", a_pdf())]).status_code == 303
    token = csrf_token(portal_client, company)
    (deposit,) = deposits_of(company)
    reader = make_member(company, modules={Module.ARCHIVES})
    client = portal_app.test_client()
    sign_in(client, portal_app, reader)
    switch_user()
    for method, url in _every_url(company, deposit):
        response = _call(client, method, url, token)
        assert response.status_code == 403, (method, url)
        assert "Déposez vos documents" in response.get_data(as_text=True)
    assert len(deposits_of(company)) == 1


def test_firm_staff_see_and_download_the_companys_deposits(
    portal_app: Flask, portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    from tests.client_portal_rp.conftest import make_staff

    company, _user = member
    assert post_files(portal_client, company, [("f.pdf", FACTURX_PDF)]).status_code == 303
    (deposit,) = deposits_of(company)
    staff = make_staff(company.firm)
    client = portal_app.test_client()
    sign_in(client, portal_app, staff)
    switch_user()
    assert client.get(url_of(company, f"/{deposit.public_id}/fichier")).data == FACTURX_PDF


def test_deposit_count_unchanged_by_refused_requests(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    """No file, no type, an unknown type: precise messages, nothing stored."""
    company, _user = member
    token = csrf_token(portal_client, company)
    body, content_type = multipart([("csrf_token", token), ("type", "achats")], [])
    none = portal_client.post(
        url_of(company), data=body, content_type=content_type, headers=JSON_ACCEPT
    )
    assert none.status_code == 422 and none.json is not None
    assert "Choisissez au moins un fichier" in none.json["message"]
    unknown = post_files(
        portal_client,
        company,
        [("f.pdf", a_pdf())],
        code="inconnu",
        token=token,
        headers=JSON_ACCEPT,
    )
    assert unknown.status_code == 422 and unknown.json is not None
    assert "Ce type de document n'existe pas" in unknown.json["message"]
    not_multipart = portal_client.post(
        url_of(company), data={"csrf_token": token, "type": "achats"}, headers=JSON_ACCEPT
    )
    assert not_multipart.status_code == 400
    count = db.session.scalar(select(func.count(Deposit.id)))
    assert count == 0
