"""The API's deposits: the firm's types, the company's list (the page's filters, cursor pages),
one deposit, its file and thumbnail, and the upload (idempotent, refused kinds, size limit),
behind the scope `portal.deposits`, the module right and the company's tenancy (ADR 0026)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from client_portal_rp.deposits import services
from client_portal_rp.extensions import db
from client_portal_rp.models import (
    AuditEvent,
    Company,
    Deposit,
    DepositStatus,
    Module,
    PieceRequest,
    PortalUser,
    Processing,
)
from tests.client_portal_rp.api.support import bearer, token_for
from tests.client_portal_rp.conftest import make_company, make_firm, make_member, make_user
from tests.client_portal_rp.test_deposits import HTML_AS_PDF, a_pdf, jpeg_with_gps

PROBLEM = "application/problem+json"


@pytest.fixture
def member() -> tuple[Company, PortalUser]:
    company = make_company(make_firm())
    user = make_member(company, make_user("claire@example.fr"), modules={Module.DEPOSIT})
    return company, user


def url(company: Company, tail: str = "") -> str:
    return f"/api/v1/companies/{company.public_id}/deposits{tail}"


def get(client: FlaskClient, path: str, user: PortalUser, **token: Any) -> TestResponse:
    return client.get(path, headers=bearer(token_for(user, **token)))


def upload(
    client: FlaskClient,
    company: Company,
    user: PortalUser,
    data: bytes,
    *,
    name: str = "facture.pdf",
    code: str = "achats",
    comment: str | None = None,
    key: str | None = None,
    answering: str | None = None,
) -> TestResponse:
    form: dict[str, Any] = {"type": code, "file": (io.BytesIO(data), name)}
    if comment is not None:
        form["comment"] = comment
    if answering is not None:
        form["request"] = answering
    headers = bearer(token_for(user))
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(url(company), data=form, headers=headers)


def listed(
    company: Company,
    name: str,
    *,
    code: str = "achats",
    status: DepositStatus = DepositStatus.DEPOSITED,
    at: datetime | None = None,
    kind: str = "pdf",
    processing: Processing = Processing.NONE,
) -> Deposit:
    deposit_type = services.deposit_type_of(company, code)
    assert deposit_type is not None
    deposit = Deposit(
        company_id=company.id,
        deposit_type_id=deposit_type.id,
        filename=name,
        kind=kind,
        size=1000,
        sha256="b" * 64,
        blob_sha256="b" * 64,
        status=status.value,
        processing=processing.value,
        created_at=at or datetime.now(UTC),
    )
    db.session.add(deposit)
    db.session.commit()
    return deposit


def rows(company: Company) -> list[Deposit]:
    db.session.expire_all()
    return list(db.session.scalars(select(Deposit).where(Deposit.company_id == company.id)))


def assert_problem(answer: TestResponse, status: int, code: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == PROBLEM
    body: dict[str, Any] = answer.json or {}
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code
    return body


# --- types and list ----------------------------------------------------------------------


def test_deposit_types_are_the_firm_s_with_their_accepted_kinds(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    answer = get(api_client, f"/api/v1/companies/{company.public_id}/deposit-types", user)
    assert answer.status_code == 200
    types = {item["code"]: item for item in answer.json["items"]}
    assert list(types) == ["achats", "ventes", "divers", "donnees"]
    assert types["achats"]["label"] == "Factures achats"
    assert types["achats"]["data"] is False
    assert [k["kind"] for k in types["achats"]["accepted_kinds"]] == [
        "pdf",
        "jpeg",
        "png",
        "heic",
        "tiff",
        "xml",
    ]
    assert types["donnees"]["data"] is True
    assert {k["mime_type"] for k in types["donnees"]["accepted_kinds"]} == {
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }


def test_list_filters_like_the_page_newest_first(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    now = datetime.now(UTC)
    old = listed(company, "achat-ancien.pdf", at=datetime(2024, 1, 10, 12, tzinfo=UTC))
    sale = listed(company, "vente.pdf", code="ventes", at=now - timedelta(days=1))
    done = listed(company, "traite.pdf", status=DepositStatus.PROCESSED, at=now)

    def names(query: str = "") -> list[str]:
        answer = get(api_client, url(company, query), user)
        assert answer.status_code == 200, answer.json
        return [item["filename"] for item in answer.json["items"]]

    assert names() == ["traite.pdf", "vente.pdf", "achat-ancien.pdf"]
    assert names("?type=ventes") == ["vente.pdf"]
    assert names("?statut=traite") == ["traite.pdf"]
    assert names("?du=2024-01-01&au=2024-01-31") == ["achat-ancien.pdf"]
    assert names("?du=2020-01-01&au=2020-01-02") == []
    item = get(api_client, url(company, "?statut=traite"), user).json["items"][0]
    assert item["id"] == done.public_id
    assert item["status"] == "traite" and item["status_label"] == "Traité"
    assert item["type"] == {"code": "achats", "label": "Factures achats"}
    assert item["created_at"].endswith("+00:00")
    assert datetime.fromisoformat(item["created_at"]) == done.created_at
    assert sale.public_id != old.public_id


def test_a_wrong_filter_is_400_with_errors_by_parameter(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    answer = get(api_client, url(company, "?du=hier&statut=perdu&type=inconnu"), user)
    body = assert_problem(answer, 400, "invalid_parameter")
    assert set(body["errors"]) == {"du", "statut", "type"}
    assert "n'est pas une date valable" in body["errors"]["du"][0]
    backwards = get(api_client, url(company, "?du=2024-02-01&au=2024-01-01"), user)
    assert "la période est vide" in assert_problem(backwards, 400)["errors"]["au"][0]
    for limit in ("0", "201", "abc", "-1"):
        wrong = get(api_client, url(company, f"?limit={limit}"), user)
        assert set(assert_problem(wrong, 400)["errors"]) == {"limit"}


def test_cursor_pages_neither_repeat_nor_skip_even_with_equal_dates(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    start = datetime(2024, 3, 1, 9, tzinfo=UTC)
    made = [listed(company, f"piece-{n}.pdf", at=start + timedelta(hours=n // 2)) for n in range(9)]
    expected = [d.public_id for d in sorted(made, key=lambda d: (d.created_at, d.id), reverse=True)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        answer = get(api_client, url(company, query), user)
        assert answer.status_code == 200
        seen += [item["id"] for item in answer.json["items"]]
        cursor = answer.json["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert seen == expected
    assert pages == 5
    # A deposit added meanwhile (newer) does not shift the next page.
    first = get(api_client, url(company, "?limit=4"), user).json
    listed(company, "nouveau.pdf")
    rest = get(api_client, url(company, f"?limit=50&cursor={first['next_cursor']}"), user).json
    assert [i["id"] for i in first["items"]] + [i["id"] for i in rest["items"]] == expected


def test_a_cursor_not_from_a_page_is_400(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    for cursor in ("garbage", "bm90LWEtY3Vyc29y", "x" * 300):
        answer = get(api_client, url(company, f"?cursor={cursor}"), user)
        assert assert_problem(answer, 400, "invalid_cursor")["errors"] == {
            "cursor": ["Curseur invalide."]
        }


# --- one deposit and its files -----------------------------------------------------------


def test_one_deposit_and_its_file_as_an_attachment(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    data = a_pdf()
    created = upload(api_client, company, user, data, name="Facture été.pdf", comment="Mars")
    assert created.status_code == 201, created.json
    deposit = created.json
    assert created.headers["Location"] == url(company, f"/{deposit['id']}")
    one = get(api_client, created.headers["Location"], user)
    assert one.status_code == 200
    assert one.json == deposit
    assert deposit["filename"] == "Facture été.pdf"
    assert deposit["comment"] == "Mars"
    assert deposit["kind"] == "pdf" and deposit["size"] == len(data)
    assert deposit["uploaded_by"] == user.name
    assert deposit["processing"] == "none" and deposit["duplicate_of"] is None
    assert deposit["links"] == {"file": url(company, f"/{deposit['id']}/file"), "thumbnail": None}
    file = get(api_client, deposit["links"]["file"], user)
    assert file.status_code == 200
    assert file.data == data
    assert file.mimetype == "application/pdf"
    assert file.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''Facture%20%C3%A9t%C3%A9.pdf" in file.headers["Content-Disposition"]
    assert file.headers["X-Content-Type-Options"] == "nosniff"
    thumbnail = get(api_client, url(company, f"/{deposit['id']}/thumbnail"), user)
    assert_problem(thumbnail, 404)


def test_a_photo_is_served_only_once_processed_with_its_thumbnail(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    waiting = listed(company, "photo.jpg", kind="jpeg", processing=Processing.PENDING)
    item = get(api_client, url(company, f"/{waiting.public_id}"), user).json
    assert item["processing"] == "pending"
    assert item["links"] == {"file": None, "thumbnail": None}
    refused = get(api_client, url(company, f"/{waiting.public_id}/file"), user)
    assert "en cours de traitement" in assert_problem(refused, 409, "not_ready")["detail"]
    # Uploaded through the API, the photo job runs (inline in tests) and the links appear.
    created = upload(api_client, company, user, jpeg_with_gps(), name="ticket.jpg")
    assert created.status_code == 201
    deposit = get(api_client, created.headers["Location"], user).json
    assert deposit["processing"] == "done"
    thumbnail = get(api_client, deposit["links"]["thumbnail"], user)
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"
    assert get(api_client, deposit["links"]["file"], user).status_code == 200


def test_another_company_s_deposit_is_404_through_mine(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    theirs = make_company(make_firm("Autre cabinet"), name="Pas la sienne")
    make_member(theirs, modules={Module.DEPOSIT})
    other = listed(theirs, "secret.pdf")
    for tail in ("", "/file", "/thumbnail"):
        answer = get(api_client, url(company, f"/{other.public_id}{tail}"), user)
        assert_problem(answer, 404)
        direct = get(api_client, url(theirs, f"/{other.public_id}{tail}"), user)
        assert_problem(direct, 404)
    assert_problem(get(api_client, url(theirs), user), 404)
    assert_problem(get(api_client, url(company, "/does-not-exist"), user), 404)
    before = len(rows(theirs))
    refused = upload(api_client, theirs, user, a_pdf())
    assert_problem(refused, 404)
    assert len(rows(theirs)) == before


def test_scope_and_module_right_are_required(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    paths = [url(company), f"/api/v1/companies/{company.public_id}/deposit-types"]
    for path in paths:
        no_scope = get(api_client, path, user, scopes=("portal.archives",))
        assert_problem(no_scope, 403, "insufficient_scope")
        assert 'scope="portal.deposits"' in no_scope.headers["WWW-Authenticate"]
    archivist = make_member(company, modules={Module.ARCHIVES})
    for path in paths:
        assert_problem(get(api_client, path, archivist), 403, "module_refused")
    refused = api_client.post(
        url(company),
        data={"type": "achats", "file": (io.BytesIO(a_pdf()), "a.pdf")},
        headers=bearer(token_for(archivist)),
    )
    assert_problem(refused, 403, "module_refused")
    assert rows(company) == []


def test_a_person_unknown_to_the_portal_gets_404(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    answer = get(api_client, url(company), "sub-never-seen")  # type: ignore[arg-type]
    assert_problem(answer, 404)


def test_advanced_deposit_module_needs_an_mfa_token(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    company.advanced_modules = "depot"
    db.session.commit()
    answer = get(api_client, url(company), user)
    assert_problem(answer, 401, "insufficient_user_authentication")
    challenge = answer.headers["WWW-Authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge
    assert 'acr_values="urn:sesame:acr:mfa"' in challenge
    assert get(api_client, url(company), user, advanced=True).status_code == 200


# --- the upload --------------------------------------------------------------------------


def test_upload_stores_the_bytes_and_one_audit_line(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    data = a_pdf()
    answer = upload(api_client, company, user, data)
    assert answer.status_code == 201
    [deposit] = rows(company)
    assert deposit.public_id == answer.json["id"]
    assert deposit.uploaded_by_id == user.id and deposit.source == "web"
    with services.blob_store().open(deposit.blob_sha256) as stream:
        assert stream.read() == data
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "deposit.created"))
    assert [event.actor_id for event in audit] == [user.id]
    again = upload(api_client, company, user, data, name="encore.pdf")
    assert again.status_code == 201
    assert again.json["duplicate_of"] == deposit.public_id


def test_the_same_idempotency_key_returns_the_first_deposit_once(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    data = a_pdf()
    first = upload(api_client, company, user, data, key="offline-0001")
    assert first.status_code == 201
    assert "Idempotency-Replayed" not in first.headers
    again = upload(api_client, company, user, data, key="offline-0001")
    assert again.status_code == 200
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.json["id"] == first.json["id"]
    assert len(rows(company)) == 1
    audits = db.session.scalar(select(func.count()).where(AuditEvent.action == "deposit.created"))
    assert audits == 1
    other = upload(api_client, company, user, a_pdf(), key="offline-0001")
    body = assert_problem(other, 409, "idempotency_conflict")
    assert "cette clé d'idempotence a déjà servi" in body["detail"]
    assert len(rows(company)) == 1
    malformed = upload(api_client, company, user, data, key="court")
    assert set(assert_problem(malformed, 400, "invalid_idempotency_key")["errors"]) == {
        "Idempotency-Key"
    }


def test_a_refused_kind_is_422_in_french_and_not_stored(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    answer = upload(api_client, company, user, HTML_AS_PDF, name="facture.pdf")
    body = assert_problem(answer, 422, "deposit_refused")
    assert body["title"] == "Dépôt refusé"
    assert body["detail"].startswith("« facture.pdf » n'est pas un fichier accepté")
    csv_as_invoice = upload(api_client, company, user, b"a;b\n1;2\n", name="x.csv")
    assert "Pour un fichier de données" in assert_problem(csv_as_invoice, 422)["detail"]
    assert rows(company) == []


def test_missing_or_wrong_fields_are_422_naming_the_field(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    token = bearer(token_for(user))
    unknown = upload(api_client, company, user, a_pdf(), code="inconnu")
    assert set(assert_problem(unknown, 422)["errors"]) == {"type"}
    no_file = api_client.post(
        url(company), data={"type": "achats"}, headers=token, content_type="multipart/form-data"
    )
    assert set(assert_problem(no_file, 422)["errors"]) == {"file"}
    two = api_client.post(
        url(company),
        data={
            "type": "achats",
            "file": [(io.BytesIO(a_pdf()), "a.pdf"), (io.BytesIO(a_pdf()), "b.pdf")],
        },
        headers=token,
    )
    assert set(assert_problem(two, 422)["errors"]) == {"file"}
    long_comment = upload(api_client, company, user, a_pdf(), comment="x" * 2001)
    assert "2000 au plus" in assert_problem(long_comment, 422)["detail"]
    not_multipart = api_client.post(url(company), json={"type": "achats"}, headers=token)
    assert_problem(not_multipart, 400, "invalid_upload")
    assert rows(company) == []


def test_a_file_over_the_limit_is_413_problem_json(
    portal_app: Flask,
    api_client: FlaskClient,
    member: tuple[Company, PortalUser],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    company, user = member
    monkeypatch.setitem(portal_app.config, "PORTAL_MAX_UPLOAD_BYTES", 2000)
    big = a_pdf() + b"%" + b"x" * 3000 + b"\n"
    answer = upload(api_client, company, user, big)
    body = assert_problem(answer, 413, "too_large")
    assert body["title"] == "Fichier trop volumineux"
    assert set(body["errors"]) == {"file"}
    # Past the whole body's limit too (Content-Length over it: refused before reading).
    huge = upload(api_client, company, user, a_pdf() + b"%" + b"x" * (2 * 1024 * 1024) + b"\n")
    assert_problem(huge, 413, "too_large")
    assert rows(company) == []


def test_upload_operation_is_documented_as_one_multipart_body(api_client: FlaskClient) -> None:
    spec = api_client.get("/api/v1/openapi.json").json
    post = spec["paths"]["/api/v1/companies/{company_id}/deposits"]["post"]
    schema = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    body = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert body["properties"]["file"] == {
        "description": "Le fichier (un seul)",
        "format": "binary",
        "type": "string",
    }
    assert body["required"] == ["file", "type"]
    assert {p["name"] for p in post["parameters"]} == {"company_id", "Idempotency-Key"}
    assert {"200", "201", "409", "413", "422"} <= set(post["responses"])
    listing = spec["paths"]["/api/v1/companies/{company_id}/deposits"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"type", "statut", "du", "au", "cursor"}


# --- the firm's piece requests -------------------------------------------------------------


def test_open_piece_requests_are_listed_and_a_deposit_answers_one(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    staff = make_user("comptable@cabinet.fr", name="Paul Comptable")
    wanted = PieceRequest(company_id=company.id, asked_by_id=staff.id, message="Relevé de mars")
    closed = PieceRequest(company_id=company.id, message="Ancienne", closed_at=datetime.now(UTC))
    db.session.add_all([wanted, closed])
    db.session.commit()
    answer = get(api_client, url(company).replace("/deposits", "/piece-requests"), user)
    assert answer.status_code == 200
    assert [(r["id"], r["message"], r["asked_by"]) for r in answer.json["items"]] == [
        (wanted.public_id, "Relevé de mars", "Paul Comptable")
    ]
    created = upload(api_client, company, user, a_pdf(), answering=wanted.public_id)
    assert created.status_code == 201
    (deposit,) = rows(company)
    assert deposit.piece_request_id == wanted.id
    assert db.session.get(PieceRequest, wanted.id).answered_at is not None  # type: ignore[union-attr]
    again = get(api_client, url(company).replace("/deposits", "/piece-requests"), user)
    assert again.json["items"] == []


def test_a_piece_request_of_another_company_is_refused_and_nothing_is_deposited(
    api_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    other = make_company(company.firm, "Voisine")
    theirs = PieceRequest(company_id=other.id, message="Leur demande")
    db.session.add(theirs)
    db.session.commit()
    answer = upload(api_client, company, user, a_pdf(), answering=theirs.public_id)
    problem = assert_problem(answer, 422, "validation_error")
    assert problem["errors"]["request"] == [
        "Cette demande de pièce n'existe pas ou n'est plus ouverte."
    ]
    assert rows(company) == []
    assert db.session.get(PieceRequest, theirs.id).answered_at is None  # type: ignore[union-attr]
