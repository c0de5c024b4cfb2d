"""« Importer un FEC », the firm's upload page: a real sample imported and its report (balance
check, warnings with line numbers), errors with line numbers and nothing imported, the size
limit, CSRF, tenant isolation (the firm's staff only: 404 for anyone else, and for another
firm's company), and the payment terms (0 to 60 days, L441-10)."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from client_portal_rp.extensions import db
from client_portal_rp.models import AuditEvent, Company, FecImport
from tests.client_portal_rp.conftest import make_firm, make_member, make_staff, sign_in
from tests.client_portal_rp.fec.support import fec_bytes, line, sale, sample
from tests.client_portal_rp.test_archives import csrf_token

SAMPLE = "123456789FEC20500930.txt"
NNBSP, NBSP = "\u202f", "\u00a0"


def company(siren: str = "123456789", firm: Any = None) -> Company:
    """Created directly: the samples' SIRENs carry no Luhn key."""
    target = Company(firm=firm or make_firm(), name="Société Exemple", siren=siren)
    db.session.add(target)
    db.session.commit()
    return target


def page_url(target: Company, tail: str = "") -> str:
    return f"/cabinet/{target.firm.public_id}/entreprises/{target.public_id}/fec{tail}"


def as_staff(app: Flask, client: FlaskClient, siren: str = "123456789") -> Company:
    target = company(siren)
    sign_in(client, app, make_staff(target.firm))
    return target


def post_fec(
    client: FlaskClient,
    target: Company,
    content: bytes,
    filename: str = SAMPLE,
    *,
    token: str | None = None,
    **dates: str,
) -> TestResponse:
    if token is None:
        token = csrf_token(client, page_url(target))
    data: dict[str, Any] = {"csrf_token": token, **dates}
    data["fichier"] = (io.BytesIO(content), filename)
    return client.post(page_url(target), data=data, content_type="multipart/form-data")


def session_token(client: FlaskClient) -> str:
    """A CSRF token of the client's session, from the language switch of any page."""
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found, "no CSRF token on the home page"
    return found.group(1)


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def imports_of(target: Company) -> list[FecImport]:
    return list(db.session.scalars(select(FecImport).where(FecImport.company_id == target.id)))


# --- importing ---------------------------------------------------------------------------


def test_staff_imports_a_sample_and_reads_its_report(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    target = as_staff(portal_app, portal_client)
    response = post_fec(portal_client, target, sample(SAMPLE).read_bytes())
    assert response.status_code == 303, text(response)[:2000]
    (stored,) = imports_of(target)
    assert stored.imported_by_id is not None
    assert response.headers["Location"].endswith(page_url(target, f"/imports/{stored.public_id}"))
    report = portal_client.get(response.headers["Location"])
    assert report.status_code == 200
    body = text(report)
    assert "L'exercice 2023 est importé." in body
    assert "Rapport d'import : exercice 2023" in body
    assert f"8{NNBSP}258{NNBSP}083,73{NBSP}€" in body  # total débit and total crédit
    assert body.count(f"8{NNBSP}258{NNBSP}083,73{NBSP}€") == 2
    assert "équilibré" in body and "écart de" not in body
    assert "aucune : chaque écriture est équilibrée" in body
    assert "ne correspond pas aux écritures" in body  # the one warning (the file's name)
    assert "10756" in body
    listing = text(portal_client.get(page_url(target)))
    assert "Voir le rapport de l'exercice 2023" in listing
    assert "Importer à nouveau l'exercice remplace ses chiffres." in listing


def test_import_again_replaces_the_exercice_and_says_so(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    target = as_staff(portal_app, portal_client, "552100554")
    content = fec_bytes(sale("1", "20250110", "10,00"))
    first = post_fec(portal_client, target, content, "export.txt", cloture="2025-12-31")
    assert first.status_code == 303
    again = post_fec(portal_client, target, content, "export.txt", cloture="2025-12-31")
    assert again.status_code == 303
    body = text(portal_client.get(again.headers["Location"]))
    assert "L'exercice 2025 est importé ; il remplace l'import du " in body
    assert len(imports_of(target)) == 1


def test_warnings_are_listed_with_their_line_numbers_and_the_gap_shown(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    target = as_staff(portal_app, portal_client, "552100554")
    unbalanced = [
        line(num="1", day="20250110", account="411000", aux="C1", debit="100,00"),
        line(num="1", day="20250110", account="706000", credit="90,00"),
    ]
    response = post_fec(portal_client, target, fec_bytes(unbalanced), "export.txt")
    assert response.status_code == 303
    body = text(portal_client.get(response.headers["Location"]))
    assert f"écart de 10,00{NBSP}€ (débit − crédit)" in body
    assert "ligne 2 : " in body
    (stored,) = imports_of(target)
    assert stored.unbalanced_entries == 1


def test_a_file_with_errors_shows_them_by_line_and_imports_nothing(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    target = as_staff(portal_app, portal_client, "552100554")
    bad = fec_bytes([*sale("1", "20250110", "10,00"), line(num="3", debit="abc")])
    response = post_fec(portal_client, target, bad, "export.txt")
    assert response.status_code == 422
    body = text(response)
    assert "ligne 4 : Debit : montant illisible" in body
    assert "Rien n'a été importé." in body
    assert imports_of(target) == []


def test_another_companys_fec_is_refused(portal_app: Flask, portal_client: FlaskClient) -> None:
    target = as_staff(portal_app, portal_client, "552100554")
    response = post_fec(portal_client, target, sample(SAMPLE).read_bytes())
    assert response.status_code == 422
    assert "Ce FEC est celui du SIREN 123456789" in text(response)
    assert imports_of(target) == []


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        ({"debut": "31/02/2025"}, "Date non valable"),
        ({"debut": "2025-12-31", "cloture": "2025-01-01"}, "La date de clôture précède"),
    ],
)
def test_bad_dates_are_refused_in_french(
    portal_app: Flask, portal_client: FlaskClient, dates: dict[str, str], message: str
) -> None:
    target = as_staff(portal_app, portal_client, "552100554")
    content = fec_bytes(sale("1", "20250110", "10,00"))
    response = post_fec(portal_client, target, content, "export.txt", **dates)
    assert response.status_code == 422
    assert message in text(response)
    assert imports_of(target) == []


def test_the_form_without_a_file_asks_for_one(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    target = as_staff(portal_app, portal_client)
    response = portal_client.post(
        page_url(target),
        data={"csrf_token": csrf_token(portal_client, page_url(target))},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Choisissez le fichier FEC à importer." in text(response)


def test_a_file_over_the_limit_is_refused_in_french(
    portal_app: Flask, portal_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(portal_app.config, "PORTAL_FEC_MAX_BYTES", 100_000)
    target = as_staff(portal_app, portal_client)
    response = post_fec(portal_client, target, sample(SAMPLE).read_bytes())
    assert response.status_code == 413
    assert "Le fichier dépasse la taille maximale de 0,1 Mo : il n'a pas été importé." in text(
        response
    )
    assert imports_of(target) == []


def test_the_limit_defaults_to_600_mb(portal_app: Flask) -> None:
    from client_portal_rp.config import build_config

    assert build_config({})["PORTAL_FEC_MAX_BYTES"] == 600_000_000
    assert build_config({"PORTAL_FEC_MAX_BYTES": "1000"})["PORTAL_FEC_MAX_BYTES"] == 1000
    assert portal_app.config["PORTAL_FEC_MAX_BYTES"] == 600_000_000


# --- refusals: CSRF, tenant isolation ------------------------------------------------------


def test_upload_without_the_csrf_token_imports_nothing(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    target = as_staff(portal_app, portal_client)
    response = post_fec(portal_client, target, sample(SAMPLE).read_bytes(), token="forged")
    assert response.status_code == 400
    assert "La page d'envoi a expiré" in text(response)
    assert imports_of(target) == []


def _refused_everywhere(client: FlaskClient, target: Company, report_id: str) -> None:
    assert client.get(page_url(target)).status_code == 404
    assert client.get(page_url(target, f"/imports/{report_id}")).status_code == 404
    response = client.post(
        page_url(target),
        data={"fichier": (io.BytesIO(b"x"), SAMPLE)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 404
    token = session_token(client)  # a valid token: the refusal below is the 404's, not CSRF's
    terms = {"csrf_token": token, "payment_terms_days": "10"}
    assert client.post(page_url(target, "/delai-de-paiement"), data=terms).status_code == 404
    db.session.refresh(target)
    assert target.payment_terms_days == 30


def _imported(app: Flask, target: Company) -> str:
    from client_portal_rp.fec.importer import import_fec

    content = fec_bytes(sale("1", "20250110", "10,00"))
    report = import_fec(target, io.BytesIO(content), filename="export.txt", actor_label="t")
    assert report.fec_import is not None
    return report.fec_import.public_id


def test_a_member_of_the_company_who_is_not_staff_gets_404(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    target = company("552100554")
    report_id = _imported(portal_app, target)
    sign_in(portal_client, portal_app, make_member(target), advanced=True)
    _refused_everywhere(portal_client, target, report_id)


def test_another_firms_staff_gets_404(portal_app: Flask, portal_client: FlaskClient) -> None:
    target = company("552100554")
    report_id = _imported(portal_app, target)
    sign_in(portal_client, portal_app, make_staff(make_firm("Autre cabinet")))
    _refused_everywhere(portal_client, target, report_id)


def test_another_firms_company_under_ones_own_firm_gets_404(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    mine = as_staff(portal_app, portal_client, "552100554")
    theirs = company("732829320")
    report_id = _imported(portal_app, theirs)
    base = f"/cabinet/{mine.firm.public_id}/entreprises/{theirs.public_id}/fec"
    assert portal_client.get(base).status_code == 404
    assert portal_client.get(f"{base}/imports/{report_id}").status_code == 404
    # and the other firm's import under one's own company
    assert portal_client.get(page_url(mine, f"/imports/{report_id}")).status_code == 404


def test_the_firms_home_links_to_the_upload_page(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    target = as_staff(portal_app, portal_client)
    body = text(portal_client.get(f"/cabinet/{target.firm.public_id}/"))
    assert f'href="{page_url(target)}">Importer un FEC</a>' in body


# --- payment terms -----------------------------------------------------------------------


def post_terms(client: FlaskClient, target: Company, value: str, token: str | None = None) -> Any:
    token = csrf_token(client, page_url(target)) if token is None else token
    return client.post(
        page_url(target, "/delai-de-paiement"),
        data={"csrf_token": token, "payment_terms_days": value},
    )


def test_payment_terms_are_saved_with_an_audit_line(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    target = as_staff(portal_app, portal_client)
    response = post_terms(portal_client, target, "45")
    assert response.status_code == 303
    db.session.refresh(target)
    assert target.payment_terms_days == 45
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.company_id == target.id, AuditEvent.action == "company.updated"
        )
    )
    assert event is not None and event.details["payment_terms_days"] == 45
    assert isinstance(event.actor_id, int)
    body = text(portal_client.get(response.headers["Location"]))
    assert "Délai de paiement de Société Exemple : 45 jours." in body
    assert 'value="45"' in body
    assert post_terms(portal_client, target, "0").status_code == 303
    db.session.refresh(target)
    assert target.payment_terms_days == 0


@pytest.mark.parametrize("value", ["61", "-1", "trente", "", "12.5", "90"])
def test_payment_terms_outside_0_to_60_are_refused_in_french(
    portal_app: Flask, portal_client: FlaskClient, value: str
) -> None:
    target = as_staff(portal_app, portal_client)
    response = post_terms(portal_client, target, value)
    assert response.status_code == 422
    assert "Le délai de paiement est un nombre entier de jours entre 0 et 60" in text(response)
    assert "L441-10" in text(response)
    db.session.refresh(target)
    assert target.payment_terms_days == 30


def test_payment_terms_without_the_csrf_token_change_nothing(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    target = as_staff(portal_app, portal_client)
    response = post_terms(portal_client, target, "10", token="forged")
    assert response.status_code == 400
    db.session.refresh(target)
    assert target.payment_terms_days == 30
    count = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.company_id == target.id)
    )
    assert count == 0


def test_the_report_says_how_the_file_was_written(portal_app: Flask) -> None:
    """Encoding, separator, columns and amount columns stay with the import (the report is
    read again later, not only right after the upload)."""
    from client_portal_rp.fec.importer import import_path

    firm = make_firm()
    staff = make_staff(firm)
    company = Company(firm=firm, name="Société Exemple", siren="111111111")
    db.session.add(company)
    db.session.commit()
    report = import_path(company, sample("111111111FEC20221231.TXT"), actor_label="t")
    assert report.ok and report.fec_import is not None
    client = portal_app.test_client()
    sign_in(client, portal_app, staff)
    page = client.get(
        f"/cabinet/{firm.public_id}/entreprises/{company.public_id}/fec/imports/"
        f"{report.fec_import.public_id}"
    )
    text = html.unescape(page.get_data(as_text=True))
    assert "ISO-8859-15, séparateur « | », 18 colonnes, montants en Debit/Credit" in text
