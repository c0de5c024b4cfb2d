"""The help, legal notices and accessibility pages, and the footer that links to them."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import CSRF_FIELD, csrf_token

PAGES = {
    "/help": "Aide",
    "/legal": "Mentions légales",
    "/accessibility": "Déclaration d'accessibilité",
}
NBSP = "\u00a0"
# French typography: a (narrow) no-break space before : ; ? ! and nothing else.
BAD_SPACING = re.compile(r"(?:^|[^\u00a0\u202f])[:;?!](?=\s|$)")


def get(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def region(page: str, tag: str) -> str:
    match = re.search(rf"<{tag}\b.*?</{tag}>", page, flags=re.S)
    assert match, f"no <{tag}>"
    return match.group(0)


def text_of(fragment: str) -> str:
    fragment = re.sub(r'href="[^"]*"', "", fragment)
    # Only ASCII whitespace collapses: the no-break spaces are what the typography tests check.
    return html.unescape(re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", fragment)))


@pytest.mark.parametrize(("path", "title"), PAGES.items())
def test_pages_are_french_by_default(client: FlaskClient, path: str, title: str) -> None:
    page = html.unescape(get(client, path))
    assert '<html lang="fr">' in page
    assert f"<h1>{title}</h1>" in page and f"<title>{title} · Sésame</title>" in page


@pytest.mark.parametrize("path", ["/login", "/signup", *PAGES])
def test_footer_links_to_help_legal_and_accessibility(client: FlaskClient, path: str) -> None:
    footer = region(get(client, path), "footer")
    nav = re.search(r'<nav class="footer-nav" aria-label="([^"]+)">(.*?)</nav>', footer, re.S)
    assert nav and nav.group(1) == "Informations sur le service"
    links = dict(re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav.group(2)))
    assert links == {
        "/help": "Aide",
        "/legal": "Mentions légales",
        "/accessibility": f"Accessibilité{NBSP}: partiellement conforme",
    }
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', nav.group(2))
    assert current == ([path] if path in PAGES else [])


@pytest.mark.parametrize("path", list(PAGES))
def test_pages_follow_french_typography(client: FlaskClient, path: str) -> None:
    page = get(client, path)
    for part in (region(page, "main"), region(page, "footer")):
        text = text_of(part)
        assert not BAD_SPACING.findall(text), BAD_SPACING.findall(text)
        assert " :" not in text and " ?" not in text


def test_help_page_answers_the_usual_questions(app: Flask, client: FlaskClient) -> None:
    page = get(client, "/help")
    text = text_of(region(page, "main"))
    for heading in (
        f"Qu'est-ce que Sésame{NBSP}?",
        "Créer un compte",
        "Mot de passe oublié",
        "Identifiant oublié",
        "Compte désactivé",
    ):
        assert f"<h2>{heading}</h2>" in html.unescape(page), heading
    assert 'href="/password/forgot"' in page and 'href="/activate/resend"' in page
    assert "l'email reçu rappelle votre identifiant" in text
    assert "conseil régional de l'ordre des experts-comptables" in text
    assert 'href="mailto:support@sesame.localhost"' in page


def test_help_page_shows_the_configured_support_address(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch, configure
) -> None:
    configure(support_email="aide@ordre.example")
    for path in PAGES:
        page = get(client, path)
        assert 'href="mailto:aide@ordre.example"' in page, path
        assert "support@sesame.localhost" not in page, path


def test_legal_page_covers_publisher_host_personal_data_and_cookies(
    app: Flask, client: FlaskClient
) -> None:
    page = get(client, "/legal")
    text = text_of(region(page, "main"))
    for heading in ("Éditeur", "Hébergement", "Données personnelles", "Cookies"):
        assert f"<h2>{heading}</h2>" in page, heading
    assert "RGPD" in text and "Finalités" in text and "Durée de conservation" in text
    assert "accès, rectification, effacement" in text and "CNIL" in text
    cookie = app.config["SESSION_COOKIE_NAME"]
    assert f"«{NBSP}{cookie}{NBSP}»" in text
    assert "strictement nécessaire" in text and "aucun consentement n'est donc demandé" in text
    hours = round(app.extensions["sesame.settings"].session_absolute.total_seconds() / 3600)
    assert f"Il expire au plus tard {hours} heures après votre connexion." in text


def test_legal_page_shows_the_configured_publisher_and_host(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch, configure
) -> None:
    configure(legal_publisher="Ordre <test>\n1 rue de l'Exemple")
    configure(legal_host="Hébergeur SAS")
    page = get(client, "/legal")
    assert "Ordre &lt;test&gt;\n1 rue de l&#39;Exemple" in page  # escaped, lines kept
    assert "Hébergeur SAS" in page and "à renseigner" not in page


def test_accessibility_statement_has_the_rgaa_mentions(client: FlaskClient) -> None:
    text = text_of(region(get(client, "/accessibility"), "main"))
    assert "partiellement conforme" in text and "RGAA), version 4.1" in text
    assert "loi n°\u00a02005-102 du 11 février 2005" in text
    assert "Déclaration établie le 2 décembre 2026." in text
    assert "200\u00a0%." in text  # the literal per cent sign survives formatting
    assert "Défenseur des droits" in text and "Libre réponse 71120" in text
    assert "support@sesame.localhost" in text


# --- the markup of the shared layout -------------------------------------------------------


def ids_of(page: str) -> list[str]:
    return re.findall(r'\sid="([^"]*)"', page)


@pytest.mark.parametrize("path", ["/login", "/signup", "/password/forgot", *PAGES])
def test_pages_have_no_duplicate_ids(client: FlaskClient, path: str) -> None:
    ids = ids_of(get(client, path))
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("path", list(PAGES))
def test_layout_csrf_inputs_have_no_id_and_a_working_token(client: FlaskClient, path: str) -> None:
    page = get(client, path)
    assert 'id="csrf_token"' not in page
    assert re.findall(f"<input {CSRF_FIELD.pattern}>", page)
    # The language switch of the footer-linked page works with that token.
    response = client.post(
        "/language/en", data={"csrf_token": csrf_token(client, path), "next": path}
    )
    assert response.status_code == 302 and response.headers["Location"] == path
    with client.session_transaction() as cookie_session:
        assert cookie_session["locale"] == "en"


@pytest.mark.parametrize("path", ["/login", "/signup", "/password/forgot", *PAGES])
def test_no_aria_describedby_none(client: FlaskClient, path: str) -> None:
    page = get(client, path)
    assert 'aria-describedby="None"' not in page and 'aria-describedby=""' not in page


def test_login_fields_reference_only_existing_ids(client: FlaskClient) -> None:
    page = get(client, "/login")
    ids = set(ids_of(page))
    for value in re.findall(r'aria-describedby="([^"]*)"', page):
        assert set(value.split()) <= ids, value
