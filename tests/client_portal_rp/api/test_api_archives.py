"""`/api/v1/companies/{id}/archives`: the page's search, folder and exercice filters as JSON,
cursor paging, folder counts, one document and its bytes served exactly as the page serves them;
the page's rights (scope, module right, "sécurité avancée" as RFC 9470 step-up, tenancy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from client_portal_rp.models import ArchiveDocument, ArchiveFolder, Company, Module, PortalUser
from tests.client_portal_rp.api.support import bearer, token_for
from tests.client_portal_rp.conftest import make_company, make_firm, make_member, make_staff
from tests.client_portal_rp.test_archives import CSV_BYTES, pdf_bytes, png_bytes, publish

DAY = timedelta(days=1)
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def company(portal_app: Flask) -> Company:
    return make_company(make_firm())


@pytest.fixture
def reader(company: Company) -> PortalUser:
    return make_member(company, modules={Module.ARCHIVES})


def url(company: Company, suffix: str = "") -> str:
    return f"/api/v1/companies/{company.public_id}/archives{suffix}"


def get(client: FlaskClient, user: PortalUser, path: str, **token: Any) -> Any:
    token.setdefault("advanced", True)
    return client.get(path, headers=bearer(token_for(user, **token)))


def problem(answer: Any) -> dict[str, Any]:
    assert answer.mimetype == "application/problem+json"
    body: dict[str, Any] = answer.get_json()
    return body


def names(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.json
    return [item["filename"] for item in answer.json["items"]]


def library(company: Company) -> dict[str, ArchiveDocument]:
    """Five documents over two folders and two exercices, one a day (newest last)."""
    specs = [
        ("Bilan Général 2023.pdf", ArchiveFolder.COMPTABLES, 2023, None),
        ("Statuts.pdf", ArchiveFolder.JURIDIQUES, 2023, None),
        ("Bilan général 2024.pdf", ArchiveFolder.COMPTABLES, 2024, None),
        ("Liasse fiscale 2024.pdf", ArchiveFolder.FISCAUX, 2024, None),
        ("Grand livre 2024.csv", ArchiveFolder.COMPTABLES, 2024, CSV_BYTES),
    ]
    return {
        name: publish(
            company,
            name,
            content,
            folder=folder,
            exercice=exercice,
            published_at=START + index * DAY,
        )
        for index, (name, folder, exercice, content) in enumerate(specs)
    }


# --- the list ----------------------------------------------------------------------------


def test_list_is_newest_first_with_each_documents_fields(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    documents = library(company)
    answer = get(api_client, reader, url(company))
    assert names(answer) == [
        "Grand livre 2024.csv",
        "Liasse fiscale 2024.pdf",
        "Bilan général 2024.pdf",
        "Statuts.pdf",
        "Bilan Général 2023.pdf",
    ]
    assert answer.json["next_cursor"] is None
    csv = answer.json["items"][0]
    document = documents["Grand livre 2024.csv"]
    assert csv == {
        "id": document.public_id,
        "filename": "Grand livre 2024.csv",
        "folder": {"code": "comptables", "label": "Documents comptables"},
        "exercice": 2024,
        "size": len(CSV_BYTES),
        "kind": "csv",
        "kind_label": "fichier CSV",
        "mime_type": "text/csv",
        "published_at": (START + 4 * DAY).isoformat(),
        "download_url": url(company, f"/{document.public_id}/file"),
    }
    assert answer.headers["Cache-Control"] == "no-store"
    assert "RateLimit" in answer.headers


def test_search_folder_and_exercice_filter_as_on_the_page(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    library(company)
    assert names(get(api_client, reader, url(company, "?q=general"))) == [
        "Bilan général 2024.pdf",
        "Bilan Général 2023.pdf",
    ]
    assert names(get(api_client, reader, url(company, "?q=BILAN%20G%C3%89N%C3%89RAL%202023"))) == [
        "Bilan Général 2023.pdf"
    ]
    assert names(get(api_client, reader, url(company, "?folder=juridiques"))) == ["Statuts.pdf"]
    assert names(get(api_client, reader, url(company, "?exercice=2023"))) == [
        "Statuts.pdf",
        "Bilan Général 2023.pdf",
    ]
    assert names(
        get(api_client, reader, url(company, "?folder=comptables&exercice=2024&q=2024"))
    ) == ["Grand livre 2024.csv", "Bilan général 2024.pdf"]
    assert names(get(api_client, reader, url(company, "?q=%25"))) == []  # % is literal


def test_cursor_pages_through_everything_once_and_a_new_document_does_not_shift_pages(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    library(company)
    seen: list[str] = []
    answer = get(api_client, reader, url(company, "?limit=2"))
    seen += names(answer)
    # Published meanwhile (newest of all): not on the following pages.
    publish(company, "Nouveau.pdf", published_at=START + 30 * DAY)
    while answer.json["next_cursor"]:
        answer = get(
            api_client, reader, url(company, f"?limit=2&cursor={answer.json['next_cursor']}")
        )
        seen += names(answer)
    assert seen == [
        "Grand livre 2024.csv",
        "Liasse fiscale 2024.pdf",
        "Bilan général 2024.pdf",
        "Statuts.pdf",
        "Bilan Général 2023.pdf",
    ]
    assert names(get(api_client, reader, url(company, "?limit=1"))) == ["Nouveau.pdf"]


def test_cursor_keeps_the_filter_and_documents_published_the_same_second(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    for index in range(3):
        publish(company, f"Relevé {index}.pdf", published_at=START)
    publish(company, "Autre.pdf", published_at=START)
    first = get(api_client, reader, url(company, "?q=releve&limit=2"))
    second = get(
        api_client, reader, url(company, f"?q=releve&limit=2&cursor={first.json['next_cursor']}")
    )
    assert sorted(names(first) + names(second)) == ["Relevé 0.pdf", "Relevé 1.pdf", "Relevé 2.pdf"]
    assert second.json["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("folder=personnels", "folder"),
        ("exercice=1989", "exercice"),
        ("exercice=deux-mille", "exercice"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("q=" + "a" * 101, "q"),
    ],
)
def test_a_wrong_filter_is_a_400_problem_naming_the_field_in_french(
    api_client: FlaskClient, company: Company, reader: PortalUser, query: str, field: str
) -> None:
    """400 invalid_parameter, as the deposits' filters answer (a refused body is 422)."""
    answer = get(api_client, reader, url(company, f"?{query}"))
    assert answer.status_code == 400
    assert answer.mimetype == "application/problem+json"
    assert answer.json["title"] == "Paramètre invalide"
    assert answer.json["code"] == "invalid_parameter"
    assert list(answer.json["errors"]) == [field]
    message = answer.json["errors"][field][0]
    assert not message.startswith(("Not a", "Must be", "Length must")), message


def test_the_folder_and_exercice_messages_are_the_pages(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    answer = get(api_client, reader, url(company, "?folder=x&exercice=1989"))
    assert answer.json["errors"]["folder"] == [
        "Ce dossier n'existe pas (documents comptables, juridiques ou fiscaux)."
    ]
    assert answer.json["errors"]["exercice"][0].startswith("L'exercice est l'année de clôture")


def test_a_made_up_cursor_is_a_400_problem(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    answer = get(api_client, reader, url(company, "?cursor=not-a-cursor"))
    assert answer.status_code == 400
    assert answer.json["code"] == "invalid_cursor"


# --- folders -----------------------------------------------------------------------------


def test_folders_count_with_the_exercice_and_the_search_and_list_the_exercices(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    library(company)
    every = get(api_client, reader, url(company, "/folders")).json
    assert every == {
        "items": [
            {"code": "comptables", "label": "Documents comptables", "count": 3},
            {"code": "juridiques", "label": "Documents juridiques", "count": 1},
            {"code": "fiscaux", "label": "Documents fiscaux", "count": 1},
        ],
        "total": 5,
        "exercices": [2024, 2023],
    }
    narrowed = get(api_client, reader, url(company, "/folders?exercice=2024&q=bilan")).json
    assert [item["count"] for item in narrowed["items"]] == [1, 0, 0]
    assert narrowed["total"] == 1
    assert narrowed["exercices"] == [2024, 2023]  # the exercices the search finds


def test_folders_of_an_empty_archive(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    answer = get(api_client, reader, url(company, "/folders")).json
    assert [item["count"] for item in answer["items"]] == [0, 0, 0]
    assert (answer["total"], answer["exercices"]) == (0, [])


# --- one document ------------------------------------------------------------------------


def test_one_document_and_its_file_with_the_pages_headers(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    content = pdf_bytes("Bilan")
    document = publish(company, "Bilan « final » 2024.pdf", content, folder=ArchiveFolder.FISCAUX)
    detail = get(api_client, reader, url(company, f"/{document.public_id}"))
    assert detail.status_code == 200
    assert detail.json["filename"] == "Bilan « final » 2024.pdf"
    assert detail.json["folder"]["code"] == "fiscaux"
    answer = get(api_client, reader, detail.json["download_url"])
    assert answer.status_code == 200
    assert answer.data == content
    assert answer.mimetype == "application/pdf"
    disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    assert "filename*=UTF-8''Bilan%20%C2%AB%20final%20%C2%BB%202024.pdf" in disposition
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Cache-Control"] == "private, no-store"
    assert answer.headers["Content-Security-Policy"].startswith("sandbox; default-src 'none'")
    assert int(answer.headers["Content-Length"]) == len(content)


def test_the_api_download_is_the_pages_download(
    portal_app: Flask,
    api_client: FlaskClient,
    portal_client: FlaskClient,
    company: Company,
    reader: PortalUser,
) -> None:
    from tests.client_portal_rp.conftest import sign_in

    document = publish(company, "Photo.png", png_bytes())
    sign_in(portal_client, portal_app, reader, advanced=True)
    page = portal_client.get(
        f"/entreprises/{company.public_id}/archives/{document.public_id}/telecharger"
    )
    api = get(api_client, reader, url(company, f"/{document.public_id}/file"))
    assert (api.status_code, page.status_code) == (200, 200)
    assert api.data == page.data
    for name in (
        "Content-Type",
        "Content-Disposition",
        "Content-Length",
        "X-Content-Type-Options",
        "Cache-Control",
        "Content-Security-Policy",
    ):
        assert api.headers[name] == page.headers[name], name


def test_a_missing_blob_is_a_404_problem(
    portal_app: Flask, api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    from client_portal_rp.extensions import db

    document = publish(company, "Perdu.pdf")
    document.blob_sha256 = "0" * 64
    db.session.commit()
    answer = get(api_client, reader, url(company, f"/{document.public_id}/file"))
    assert answer.status_code == 404
    assert answer.mimetype == "application/problem+json"


# --- rights ------------------------------------------------------------------------------


def every_path(company: Company, document: ArchiveDocument) -> list[str]:
    return [
        url(company),
        url(company, "/folders"),
        url(company, f"/{document.public_id}"),
        url(company, f"/{document.public_id}/file"),
    ]


def test_another_companys_document_or_company_is_404(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    theirs = make_company(make_firm("Autre cabinet"), name="Pas la sienne")
    their_document = publish(theirs, "Secret.pdf")
    for path in every_path(theirs, their_document):
        answer = get(api_client, reader, path)
        assert answer.status_code == 404, path
        assert answer.mimetype == "application/problem+json", path
    # Their document's id under my company: not found either (looked up inside my company).
    for suffix in (f"/{their_document.public_id}", f"/{their_document.public_id}/file"):
        assert get(api_client, reader, url(company, suffix)).status_code == 404, suffix


def test_without_the_archives_scope_it_is_403_insufficient_scope(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    document = publish(company, "Bilan.pdf")
    for path in every_path(company, document):
        answer = get(api_client, reader, path, scopes=("portal.deposits", "portal.accesses"))
        assert answer.status_code == 403, path
        assert answer.json["code"] == "insufficient_scope"
        assert 'scope="portal.archives"' in answer.headers["WWW-Authenticate"]


def test_without_the_module_right_it_is_403(api_client: FlaskClient, company: Company) -> None:
    document = publish(company, "Bilan.pdf")
    depositor = make_member(company, modules={Module.DEPOSIT})
    for path in every_path(company, document):
        answer = get(api_client, depositor, path)
        assert answer.status_code == 403, path
        assert answer.json["code"] == "module_refused"
        assert "Accédez à vos archives" in answer.json["detail"]


def test_archives_are_advanced_security_a_password_token_must_step_up(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    document = publish(company, "Bilan.pdf")
    for path in every_path(company, document):
        answer = get(api_client, reader, path, advanced=False)
        assert answer.status_code == 401, path
        assert answer.json["code"] == "insufficient_user_authentication"
        challenge = answer.headers["WWW-Authenticate"]
        assert 'error="insufficient_user_authentication"' in challenge
        assert 'acr_values="urn:sesame:acr:mfa"' in challenge


def test_a_company_that_drops_advanced_security_lets_a_password_token_in(
    api_client: FlaskClient, company: Company, reader: PortalUser
) -> None:
    from client_portal_rp.extensions import db

    company.advanced_modules = ""
    db.session.commit()
    publish(company, "Bilan.pdf")
    assert names(get(api_client, reader, url(company), advanced=False)) == ["Bilan.pdf"]


def test_no_token_is_401_before_anything_else(api_client: FlaskClient, company: Company) -> None:
    document = publish(company, "Bilan.pdf")
    for path in [*every_path(company, document), url(company, "?limit=0")]:
        answer = api_client.get(path)
        assert answer.status_code == 401, path
        assert problem(answer)["code"] == "unauthorized"


def test_the_firms_staff_read_every_company_of_the_firm(
    api_client: FlaskClient, company: Company
) -> None:
    publish(company, "Bilan.pdf")
    staff = make_staff(company.firm)
    assert names(get(api_client, staff, url(company))) == ["Bilan.pdf"]


def test_the_document_lists_the_archive_operations(api_client: FlaskClient) -> None:
    spec: dict[str, Any] = api_client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    listing = paths["/api/v1/companies/{company_id}/archives"]["get"]
    assert listing["tags"] == ["Archives"]
    assert {p["name"] for p in listing["parameters"] if p["in"] == "query"} == {
        "q",
        "folder",
        "exercice",
        "cursor",
        "limit",
    }
    assert "/api/v1/companies/{company_id}/archives/folders" in paths
    assert "/api/v1/companies/{company_id}/archives/{document_id}" in paths
    download = paths["/api/v1/companies/{company_id}/archives/{document_id}/file"]["get"]
    assert "application/pdf" in download["responses"]["200"]["content"]
    assert list(download["responses"]["404"]["content"]) == ["application/problem+json"]
