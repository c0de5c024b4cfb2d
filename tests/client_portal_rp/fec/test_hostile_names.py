"""Hostile texts in a FEC (a third party's name, its number, a piece reference, a label) are
shown as text on every page that renders them, never as markup, and the exports keep them as
text (docs/security.md 45 for the formula case)."""

from __future__ import annotations

from urllib.parse import quote

from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from client_portal_rp.extensions import db
from client_portal_rp.fec.importer import import_fec
from client_portal_rp.models import Company, Module
from tests.client_portal_rp.conftest import make_firm, make_member, sign_in
from tests.client_portal_rp.fec.support import fec_bytes, line, stream

NAME = '<script>alert("nom")</script>'
NUMBER = "F<img src=x onerror=alert(1)>"
PIECE = '"><svg onload=alert(2)>'
LABEL = "<b>Facture</b> =HYPERLINK(1)"


def test_hostile_texts_of_a_fec_are_text_on_every_page(
    portal_app: Flask, portal_client: FlaskClient
) -> None:
    company = Company(firm=make_firm(), name="Société <Test>", siren="552100554")
    db.session.add(company)
    db.session.commit()
    rows = [
        line(journal="AC", num="1", day="20250110", account="606100", label="Achats",
             piece=PIECE, piece_day="20250110", text=LABEL, debit="100,00"),
        line(journal="AC", num="1", day="20250110", account="401000", label="Fournisseurs",
             aux=NUMBER, aux_label=NAME, piece=PIECE, piece_day="20250110", text=LABEL,
             credit="100,00"),
    ]  # fmt: skip
    report = import_fec(company, stream(fec_bytes(rows)), filename="x.txt", actor_label="t")
    assert report.ok, report.errors
    user = make_member(company, modules={Module.COMPTA})
    sign_in(portal_client, portal_app, user, advanced=True)
    base = f"/entreprises/{company.public_id}/compta"
    pages = [
        base,
        f"{base}/charges",
        f"{base}/tiers?tiers={quote(NUMBER)}",
        f"{base}/echeancier?cote=fournisseurs",
        f"{base}/echeancier/tiers?cote=fournisseurs&tiers={quote(NUMBER)}",
        f"{base}/pieces?ref={quote(PIECE)}",
    ]
    for path in pages:
        response = portal_client.get(path)
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        for hostile in (NAME, NUMBER, PIECE, "<b>Facture</b>", "Société <Test>"):
            assert hostile not in page, (path, hostile)
    charges = portal_client.get(f"{base}/charges").get_data(as_text=True)
    assert str(escape(NAME)) in charges  # shown, as text
    entries = portal_client.get(f"{base}/tiers?tiers={quote(NUMBER)}").get_data(as_text=True)
    assert str(escape(LABEL)) in entries
