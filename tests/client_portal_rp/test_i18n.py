"""The portal in English (ADR 0001, like the IdP): French msgids, a complete English catalog,
the language chosen by the footer's switch, else the browser, else French."""

from __future__ import annotations

import os
import re

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from client_portal_rp.models import Module
from tests.client_portal_rp.conftest import (
    make_company,
    make_firm,
    make_member,
    make_staff,
    sign_in,
)
from tests.idp.test_i18n import KEYWORDS, ROOT, french_left, translation_problem

SOURCE_DIR = ROOT / "client_portal_rp"
PO_FILE = SOURCE_DIR / "translations" / "en" / "LC_MESSAGES" / "messages.po"
MO_FILE = PO_FILE.with_suffix(".mo")
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}


@pytest.fixture(scope="module")
def portal_catalog(portal_app: Flask) -> Catalog:
    with PO_FILE.open("rb") as po:
        catalog = read_po(po, locale="en")
    if not MO_FILE.exists() or MO_FILE.stat().st_mtime < PO_FILE.stat().st_mtime:
        partial = MO_FILE.with_name(f"messages.mo.{os.getpid()}")
        with partial.open("wb") as mo:
            write_mo(mo, catalog)
        os.replace(partial, MO_FILE)
    with portal_app.app_context():
        portal_app.extensions["babel"].instance.domain_instance.cache.clear()
    return catalog


def extracted() -> dict[str | tuple[str, ...], list[str]]:
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str | tuple[str, ...], list[str]] = {}
    for filename, lineno, message, _c, _ctx in extract_from_dir(
        str(SOURCE_DIR), method_map, options_map, keywords=KEYWORDS
    ):
        found.setdefault(message, []).append(f"client_portal_rp/{filename}:{lineno}")
    return found


def test_portal_i18n_every_french_string_has_its_english_translation(
    portal_catalog: Catalog,
) -> None:
    problems = []
    for msgid, where in extracted().items():
        key = msgid if isinstance(msgid, str) else msgid[0]
        problem = translation_problem(msgid, portal_catalog.get(key))
        if problem:
            problems.append(f"{where[0]}: {key!r}: {problem}")
    assert not problems, "\n".join(problems)


def test_portal_i18n_company_pages_are_english_for_an_english_browser(
    portal_app: Flask, portal_client: FlaskClient, portal_catalog: Catalog
) -> None:
    firm = make_firm()
    company = make_company(firm)
    sign_in(portal_client, portal_app, make_staff(firm), advanced=True)
    paths = [
        "/",
        f"/cabinet/{firm.public_id}/",
        f"/cabinet/{firm.public_id}/depots",
        f"/cabinet/{firm.public_id}/entreprises/{company.public_id}/demandes",
        f"/entreprises/{company.public_id}/",
        f"/entreprises/{company.public_id}/compta",
        f"/entreprises/{company.public_id}/depots",
        f"/entreprises/{company.public_id}/archives",
        f"/entreprises/{company.public_id}/archives/publier",
        f"/entreprises/{company.public_id}/acces",
        f"/entreprises/{company.public_id}/acces/nouveau",
        f"/entreprises/{company.public_id}/journal",
        f"/entreprises/{company.public_id}/parametres",
    ]
    for path in paths:
        response = portal_client.get(path, headers=ENGLISH)
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and '<html lang="en">' in page, path
        text = page.replace(company.name, "").replace(firm.name, "")
        assert french_left(text) == [], (path, french_left(text))


def test_portal_i18n_footer_switch_keeps_the_page(
    portal_app: Flask, portal_client: FlaskClient, portal_catalog: Catalog
) -> None:
    company = make_company(make_firm())
    sign_in(portal_client, portal_app, make_member(company, modules={Module.DEPOSIT}))
    home = f"/entreprises/{company.public_id}/"
    page = portal_client.get(home).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token and '<html lang="fr">' in page
    response = portal_client.post("/langue/en", data={"csrf_token": token.group(1), "next": home})
    assert response.status_code == 303 and response.headers["Location"] == home
    assert '<html lang="en">' in portal_client.get(home).get_data(as_text=True)
    evil = portal_client.post(
        "/langue/fr", data={"csrf_token": token.group(1), "next": "//evil.example/"}
    )
    assert evil.headers["Location"] == "/"
