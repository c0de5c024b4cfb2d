"""The installable app's server side (client_portal_rp/pwa.py, ADR 0026): the manifest, the
service worker served from the root without being cached, the offline page that names no one,
the session endpoint of the offline queue, and the idempotent web upload the queue relies on
(a replay adds nothing, the key with another file is 409, two racing requests make one
deposit, a malformed key is 400 in French)."""

from __future__ import annotations

import io
import json
import re
import threading
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from client_portal_rp.extensions import db
from client_portal_rp.models import AuditEvent, Company, Deposit, Module, PortalUser
from client_portal_rp.pwa import SHELL_FILES
from tests.client_portal_rp.conftest import make_company, make_firm, make_member, sign_in
from tests.client_portal_rp.test_deposits import (
    a_pdf,
    csrf_token,
    deposits_of,
    multipart,
    post_files,
    url_of,
)

KEY = "0b6f1c9e-3a51-4a56-9d8e-5f0d3c2b1a77"


@pytest.fixture
def member(portal_app: Flask, portal_client: FlaskClient) -> tuple[Company, PortalUser]:
    company = make_company(make_firm())
    user = make_member(company, modules={Module.DEPOSIT})
    sign_in(portal_client, portal_app, user)
    return company, user


def keyed(key: str) -> dict[str, str]:
    return {"Accept": "application/json", "Idempotency-Key": key}


def audit_lines(company: Company) -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.company_id == company.id, AuditEvent.action == "deposit.created")
        )
        or 0
    )


# --- manifest, worker, offline page ------------------------------------------------------


def test_manifest_is_valid_with_french_name_standalone_and_icons(
    portal_client: FlaskClient,
) -> None:
    response = portal_client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    manifest = json.loads(response.get_data(as_text=True))
    assert manifest["name"] == "Portail client" and manifest["short_name"]
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#0f5a4a" and manifest["background_color"] == "#f4f6f5"
    css = portal_client.get("/static/css/portal.css").get_data(as_text=True)
    assert "--brand: #0f5a4a" in css and "--bg: #f4f6f5" in css
    purposes = set()
    for icon in manifest["icons"]:
        image = portal_client.get(icon["src"])
        assert image.status_code == 200 and image.mimetype == "image/png", icon["src"]
        width, height = Image.open(io.BytesIO(image.data)).size
        assert f"{width}x{height}" == icon["sizes"]
        purposes.add((icon["purpose"], icon["sizes"]))
    assert {("any", "192x192"), ("any", "512x512"), ("maskable", "512x512")} <= purposes


def test_service_worker_is_served_from_the_root_uncached_with_its_shell(
    portal_client: FlaskClient,
) -> None:
    response = portal_client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    source = response.get_data(as_text=True)
    assert "__SHELL_VERSION__" not in source and "/*__SHELL__*/" not in source
    version = re.search(r'var VERSION = "([0-9a-f]{16})";', source)
    assert version, "the cache name carries the shell's hash"
    shell = json.loads("[" + re.search(r"var SHELL = \[(.*)\];", source).group(1) + "]")  # type: ignore[union-attr]
    assert shell == [f"/static/{name}" for name in SHELL_FILES] + ["/hors-ligne"]
    for url in shell:
        assert portal_client.get(url).status_code == 200, url
    # Nothing loaded from elsewhere: the only script it imports is the portal's own.
    assert "http://" not in source and "https://" not in source
    assert re.findall(r"importScripts\(([^)]*)\)", source) == ['"/static/js/deposit-queue.js"']


def test_pages_link_the_manifest_icons_and_scripts_without_inline_script(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    page = portal_client.get(url_of(company)).get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert '<meta name="theme-color" content="#0f5a4a">' in page
    assert 'rel="apple-touch-icon" href="/static/icons/apple-touch-icon.png"' in page
    assert f'data-user="{user.public_id}"' in page and 'data-sw="/sw.js"' in page
    for script in ("js/deposit-queue.js", "js/pwa.js", "js/deposits.js"):
        assert f'src="/static/{script}"' in page
    assert "<script>" not in page and " style=" not in page
    # The "+" and its two choices; the queue's panel and « Envoyer maintenant ».
    assert 'for="deposit-camera" class="add-choice">Prendre une photo' in page
    assert 'for="deposit-files" class="add-choice">Joindre un fichier' in page
    assert 'accept="image/*" capture="environment"' in page
    assert "data-deposit-queue hidden" in page and "Envoyer maintenant" in page


def test_offline_page_names_no_one_and_holds_no_token(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    _company, user = member
    response = portal_client.get("/hors-ligne")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Vous êtes hors ligne" in page
    assert user.name not in page and user.email not in page and user.public_id not in page
    assert "csrf_token" not in page and "data-user" not in page


def test_session_endpoint_gives_the_user_and_a_fresh_token_never_cached(
    portal_app: Flask, member: tuple[Company, PortalUser]
) -> None:
    company, user = member
    anonymous = portal_app.test_client().get("/app/session")
    assert anonymous.get_json() == {"user": None, "csrf_token": None}
    assert anonymous.headers["Cache-Control"] == "no-store"
    # A queue flushing hours later: the form's token is gone with a new session cookie, the
    # endpoint's token works.
    client = portal_app.test_client()
    sign_in(client, portal_app, user)
    answer = client.get("/app/session")
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.get_json()["user"] == user.public_id
    token = answer.get_json()["csrf_token"]
    response = post_files(
        client, company, [("ticket.pdf", a_pdf())], token=token, headers=keyed(KEY)
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert "Access-Control-Allow-Origin" not in answer.headers


# --- the idempotent upload ---------------------------------------------------------------


def test_a_replayed_upload_returns_the_first_deposit_and_adds_nothing(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    pdf = a_pdf()
    first = post_files(portal_client, company, [("facture.pdf", pdf)], headers=keyed(KEY))
    assert first.status_code == 201
    assert "Idempotency-Replayed" not in first.headers
    again = post_files(portal_client, company, [("facture.pdf", pdf)], headers=keyed(KEY))
    assert again.status_code == 200
    assert again.headers["Idempotency-Replayed"] == "true"
    answer = again.get_json()
    assert answer["ok"] is True and answer["results"][0]["replayed"] is True
    assert answer["results"][0]["deposit"] == first.get_json()["results"][0]["deposit"]
    assert "était déjà déposé" in answer["message"]
    assert len(deposits_of(company)) == 1
    assert audit_lines(company) == 1


def test_the_same_key_with_another_file_is_409_and_deposits_nothing(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    post_files(portal_client, company, [("facture.pdf", a_pdf())], headers=keyed(KEY))
    other = post_files(portal_client, company, [("autre.pdf", a_pdf())], headers=keyed(KEY))
    assert other.status_code == 409
    assert (
        "cette clé d'idempotence a déjà servi pour un autre fichier"
        in (other.get_json()["message"])
    )
    assert [d.filename for d in deposits_of(company)] == ["facture.pdf"]


@pytest.mark.parametrize("key", ["court", "x" * 65, "clé-accentuée-123", "a b c d e f g h"])
def test_a_malformed_key_is_refused_in_french_before_anything_is_deposited(
    portal_client: FlaskClient, member: tuple[Company, PortalUser], key: str
) -> None:
    company, _user = member
    headers = {"Accept": "application/json", "Idempotency-Key": key.encode().decode("latin-1")}
    response = post_files(portal_client, company, [("facture.pdf", a_pdf())], headers=headers)
    assert response.status_code == 400
    assert response.get_json()["message"] == (
        "La clé d'idempotence doit compter 8 à 64 caractères parmi lettres, chiffres et "
        "« _ . : - »."
    )
    assert deposits_of(company) == []


def test_a_key_covers_one_file_only(
    portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    company, _user = member
    response = post_files(
        portal_client, company, [("a.pdf", a_pdf()), ("b.pdf", a_pdf())], headers=keyed(KEY)
    )
    assert response.status_code == 400
    assert "un seul fichier" in response.get_json()["message"]
    assert deposits_of(company) == []


def test_keys_are_per_person(
    portal_app: Flask, portal_client: FlaskClient, member: tuple[Company, PortalUser]
) -> None:
    """Another member of the company sending the same key makes a deposit of their own."""
    company, _user = member
    pdf = a_pdf()
    post_files(portal_client, company, [("facture.pdf", pdf)], headers=keyed(KEY))
    colleague = make_member(company, modules={Module.DEPOSIT})
    client = portal_app.test_client()
    sign_in(client, portal_app, colleague)
    from tests.client_portal_rp.test_deposits import switch_user

    switch_user()
    response = post_files(client, company, [("facture.pdf", pdf)], headers=keyed(KEY))
    assert response.status_code == 201
    assert len(deposits_of(company)) == 2


def test_two_requests_racing_with_one_key_make_one_deposit(
    committed_portal: Flask, tmp_path: Path
) -> None:
    app = committed_portal
    with app.app_context():
        company = make_company(make_firm())
        user = make_member(company, modules={Module.DEPOSIT})
        company_url = url_of(company)
        company_id = company.id
        db.session.refresh(user)
        db.session.expunge(user)
    pdf = a_pdf()
    clients = [app.test_client() for _ in range(3)]
    bodies = []
    for client in clients:
        sign_in(client, app, user)
        with app.app_context():
            token = csrf_token(client, db.session.get(Company, company_id))  # type: ignore[arg-type]
            db.session.remove()
        bodies.append(multipart([("csrf_token", token), ("type", "achats")], [("f.pdf", pdf)]))
    barrier = threading.Barrier(len(clients))
    answers: list[TestResponse] = []
    lock = threading.Lock()

    def send(client: FlaskClient, body: tuple[bytes, str]) -> None:
        barrier.wait()
        response = client.post(company_url, data=body[0], content_type=body[1], headers=keyed(KEY))
        with lock:
            answers.append(response)

    threads = [
        threading.Thread(target=send, args=(client, body))
        for client, body in zip(clients, bodies, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 200, 201], [a.get_data(as_text=True)[:300] for a in answers]
    deposit_ids = {answer.get_json()["results"][0]["deposit"] for answer in answers}
    assert len(deposit_ids) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Deposit)) == 1
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "deposit.created")
            )
            == 1
        )
        db.session.remove()
