"""idp/oidc/admin.py: the client administration pages of the Order's national administrators
(404 for everyone else, CSRF on every form, the secret shown once, French first, 360 px)."""

from __future__ import annotations

import hashlib
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.audit.services import CLI
from idp.extensions import db
from idp.oidc import clients
from idp.oidc.admin import is_order_administrator
from idp.oidc.models import Grant, OAuthClient
from idp.registry import services as registry
from tests.factories import create_user
from tests.helpers import (
    CHROMIUM_ARGS,
    RESULTS_DIR,
    TEST_PASSWORD,
    Inbox,
    chromium_path,
    csrf_token,
    login,
    require_browser,
    running_idp,
)

REDIRECT = "https://rp.example/callback"
SECRET_ON_PAGE = re.compile(r'<code class="client-secret" id="client-secret">([^<]+)</code>')


def _national_admin(username: str = "paul.national") -> int:
    user = create_user(username)
    registry.grant_council_role(db.session, user.id, None, actor=CLI)
    db.session.commit()
    return user.id


@pytest.fixture
def admin(client: FlaskClient) -> FlaskClient:
    _national_admin()
    assert login(client, "paul.national").status_code == 302
    return client


def _registered(**fields: object) -> tuple[OAuthClient, str | None]:
    values: dict[str, object] = {"name": "Bibliothèque de l'Ordre", "redirect_uris": [REDIRECT]}
    values.update(fields)
    client, secret = clients.create_client(db.session, clients.NewClient(**values), CLI)  # type: ignore[arg-type]
    db.session.commit()
    return client, secret


def _form(admin: FlaskClient, **fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "csrf_token": csrf_token(admin, "/admin/clients/nouveau"),
        "name": "Journal de la profession",
        "client_type": "confidential",
        "auth_method": "client_secret_basic",
        "redirect_uris": f"{REDIRECT}\r\nhttps://rp.example/other\r\n",
        "post_logout_redirect_uris": "",
        "backchannel_logout_uri": "",
        "jwks_uri": "",
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "profile", "email"],
        "id_token_alg": "RS256",
    }
    data.update(fields)
    return data


# --- who sees the pages ---------------------------------------------------------------------


def test_admin_is_order_administrator_only_for_the_national_role(app):
    national = _national_admin()
    council = create_user("conseil.idf")
    registry.grant_council_role(
        db.session, council.id, registry.council_by_code(db.session, "IDF"), actor=CLI
    )
    nobody = create_user("camille.martin")
    db.session.commit()
    assert is_order_administrator(db.session, national)
    assert not is_order_administrator(db.session, council.id)
    assert not is_order_administrator(db.session, nobody.id)


@pytest.fixture
def known_client(app) -> str:
    client, _secret = _registered()
    return client.client_id


@pytest.mark.parametrize("who", ["anonymous", "member", "council_admin"])
def test_admin_pages_answer_404_to_everyone_else(app, client, known_client, who):
    if who != "anonymous":
        user = create_user("camille.martin")
        if who == "council_admin":
            idf = registry.council_by_code(db.session, "IDF")
            registry.grant_council_role(db.session, user.id, idf, actor=CLI)
            db.session.commit()
        assert login(client, "camille.martin").status_code == 302
    urls = [
        "/admin/clients/",
        "/admin/clients/nouveau",
        f"/admin/clients/{known_client}",
        f"/admin/clients/{known_client}/supprimer",
        f"/admin/clients/{known_client}/secret",
        "/admin/clients/inconnu",
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
        assert client.post(url, data={"name": "x"}).status_code == 404, url  # not 400, not 405
    assert clients.get_client(known_client) is not None  # nothing removed
    assert db.session.scalar(select(OAuthClient.id).where(OAuthClient.name == "x")) is None


def test_admin_unknown_client_is_404_and_wrong_method_405_for_the_admin(admin, known_client):
    assert admin.get("/admin/clients/inconnu").status_code == 404
    assert admin.get(f"/admin/clients/{known_client}/secret").status_code == 405


# --- list, add, show ------------------------------------------------------------------------


def test_admin_list_shows_clients_in_french(admin, known_client):
    page = admin.get("/admin/clients/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Sites partenaires" in html and "Bibliothèque de l&#39;Ordre" in html
    assert known_client in html and "confidentiel" in html


def test_admin_add_shows_the_secret_once_and_stores_its_digest(admin):
    response = admin.post("/admin/clients/nouveau", data=_form(admin, first_party="y"))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    match = SECRET_ON_PAGE.search(html)
    assert match, html
    secret = match.group(1)
    assert len(secret) >= 43
    client = db.session.scalars(select(OAuthClient)).one()
    assert client.name == "Journal de la profession" and client.first_party
    assert client.redirect_uris == [REDIRECT, "https://rp.example/other"]
    assert client.secret_digest == hashlib.sha256(secret.encode()).hexdigest()
    assert client.client_id in html and "ne pourra plus l'afficher" in html
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "oidc_client_created")
    ).one()
    assert event.actor_kind == "user" and event.actor_id is not None
    # Never again: the client's page shows neither the secret nor its digest.
    shown = admin.get(f"/admin/clients/{client.client_id}").get_data(as_text=True)
    assert secret not in shown and client.secret_digest not in shown
    assert client.client_id in shown


def test_admin_add_public_client_has_no_secret(admin):
    response = admin.post(
        "/admin/clients/nouveau",
        data=_form(admin, client_type="public", auth_method="client_secret_post"),
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert not SECRET_ON_PAGE.search(html) and "pas de secret" in html
    client = db.session.scalars(select(OAuthClient)).one()
    assert client.is_public and client.secret_digest is None


def test_admin_add_refuses_bad_uris_with_french_messages_on_the_form(admin):
    response = admin.post(
        "/admin/clients/nouveau",
        data=_form(
            admin,
            redirect_uris="http://rp.example/cb\r\nhttps://rp.example/cb#frag",
            auth_method="private_key_jwt",
            allowed_profiles=["autre"],
        ),
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "doit commencer par https://" in html
    assert "fragment" in html
    assert "jwks_uri" in html and "private_key_jwt" in html
    assert 'aria-invalid="true"' in html
    assert "http://rp.example/cb" in html  # the typed values are kept
    assert db.session.scalar(select(OAuthClient.id)) is None


def test_admin_add_registers_the_resources_and_the_page_lists_them(admin):
    api = "https://portail.example/api/v1"
    form = admin.get("/admin/clients/nouveau").get_data(as_text=True)
    assert "Ressources (RFC 8707)" in form
    response = admin.post(
        "/admin/clients/nouveau",
        data=_form(admin, resources=f"{api}\r\nhttps://fichiers.example/\r\n"),
    )
    assert response.status_code == 200
    client = db.session.scalars(select(OAuthClient)).one()
    assert client.resources == [api, "https://fichiers.example/"]
    shown = admin.get(f"/admin/clients/{client.client_id}").get_data(as_text=True)
    assert "Ressources (RFC 8707)" in shown and api in shown


def test_admin_add_refuses_a_malformed_resource_on_its_field(admin):
    response = admin.post(
        "/admin/clients/nouveau", data=_form(admin, resources="portail.example/api")
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    error = html[html.index('id="resources-error"') :]
    assert error.index("« portail.example/api » n&#39;est pas une adresse absolue") < 200
    assert db.session.scalar(select(OAuthClient.id)) is None


def test_admin_add_refuses_control_characters_in_the_uri_lines(admin):
    response = admin.post(
        "/admin/clients/nouveau", data=_form(admin, redirect_uris="https://rp.example/\u202ecb")
    )
    assert "caractères non autorisés" in response.get_data(as_text=True)
    assert db.session.scalar(select(OAuthClient.id)) is None


def test_admin_forms_need_their_csrf_token(admin, known_client):
    data = _form(admin)
    del data["csrf_token"]
    assert admin.post("/admin/clients/nouveau", data=data).status_code == 400
    assert admin.post(f"/admin/clients/{known_client}/secret").status_code == 400
    assert admin.post(f"/admin/clients/{known_client}/supprimer").status_code == 400
    forged = {"csrf_token": "forged"}
    assert admin.post(f"/admin/clients/{known_client}/supprimer", data=forged).status_code == 400
    assert db.session.scalars(select(OAuthClient)).one().disabled_at is None
    assert clients.get_client(known_client) is not None


# --- rotate, remove -------------------------------------------------------------------------


def test_admin_rotate_secret_shows_the_new_one_once(admin):
    client, old = _registered()
    token = csrf_token(admin, f"/admin/clients/{client.client_id}")
    response = admin.post(f"/admin/clients/{client.client_id}/secret", data={"csrf_token": token})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    match = SECRET_ON_PAGE.search(response.get_data(as_text=True))
    assert match
    db.session.expire_all()
    fresh = clients.find_client(db.session, client.client_id)
    assert fresh is not None
    assert clients.secret_matches(fresh, match.group(1))
    assert not clients.secret_matches(fresh, old)


def test_admin_public_client_page_offers_no_secret_rotation(admin):
    client, _secret = _registered(public=True)
    html = admin.get(f"/admin/clients/{client.client_id}").get_data(as_text=True)
    assert "Renouveler le secret" not in html
    token = csrf_token(admin, f"/admin/clients/{client.client_id}/supprimer")
    response = admin.post(f"/admin/clients/{client.client_id}/secret", data={"csrf_token": token})
    assert response.status_code == 302
    assert "pas de secret" in admin.get(response.location).get_data(as_text=True)


def test_admin_remove_confirms_then_disables_and_revokes(admin):
    client, _secret = _registered()
    user = create_user("camille.martin")
    db.session.add(Grant(client_id=client.id, user_id=user.id, scope="openid"))
    db.session.commit()
    confirm = admin.get(f"/admin/clients/{client.client_id}/supprimer")
    assert confirm.status_code == 200
    assert "Supprimer définitivement" in confirm.get_data(as_text=True)
    assert clients.get_client(client.client_id) is not None  # a GET changes nothing
    token = csrf_token(admin, f"/admin/clients/{client.client_id}/supprimer")
    response = admin.post(
        f"/admin/clients/{client.client_id}/supprimer", data={"csrf_token": token}
    )
    assert response.status_code == 302 and response.location.endswith("/admin/clients/")
    listing = admin.get(response.location).get_data(as_text=True)
    assert "1 autorisation(s) révoquée(s)" in listing
    db.session.expire_all()
    assert clients.get_client(client.client_id) is None
    assert db.session.scalars(select(Grant)).one().revoked_at is not None
    assert client.client_id not in listing.split("autorisation(s)")[1]
    assert client.client_id in admin.get("/admin/clients/?tous=1").get_data(as_text=True)


# --- in a real browser, at phone and desktop sizes ------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize(("viewport", "width"), [("phone", 360), ("desktop", 1280)])
def test_admin_browser_registers_a_client_at_phone_and_desktop_sizes(
    own_database_url: str, smtp_server: Inbox, viewport: str, width: int
) -> None:
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    with running_idp(own_database_url, smtp_server) as idp, sync_playwright() as playwright:
        with idp.app.app_context():
            _national_admin()
            db.session.remove()
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path()), args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": width, "height": 800}, locale="fr-FR")
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        def fits(name: str) -> None:
            page.wait_for_load_state("load")
            scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
            assert scroll_width <= width, f"{name}: page is {scroll_width}px wide"
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            page.screenshot(
                path=str(RESULTS_DIR / f"oidc-admin-{viewport}-{name}.png"), full_page=True
            )

        page.goto(idp.url + "/login")
        page.get_by_label("Identifiant").fill("paul.national")
        page.get_by_label("Mot de passe", exact=True).fill(TEST_PASSWORD)
        page.get_by_role("button", name="Se connecter", exact=True).click()
        page.goto(idp.url + "/admin/clients/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Sites partenaires")
        fits("1-list")
        page.get_by_role("link", name="Enregistrer un site").first.click()
        page.get_by_label("Nom du site").fill(
            "Bibliothèque numérique de l'Ordre des experts-comptables"
        )
        page.get_by_label("Adresses de retour (redirect URI), une par ligne").fill(
            "http://rp.example/cb"
        )
        page.get_by_role("button", name="Enregistrer le site").click()
        expect(page.get_by_text("doit commencer par https://").first).to_be_visible()
        fits("2-refused")
        page.get_by_label("Adresses de retour (redirect URI), une par ligne").fill(
            "https://bibliotheque.experts-comptables.example/oidc/callback/with/a/long/path"
        )
        page.get_by_role("button", name="Enregistrer le site").click()
        secret = page.locator("#client-secret").inner_text()
        assert len(secret) >= 43
        fits("3-secret")
        page.get_by_role("link", name="Voir le site").click()
        expect(page.get_by_role("button", name="Renouveler le secret")).to_be_visible()
        assert secret not in page.content()
        fits("4-show")
        page.get_by_role("link", name="Supprimer le site").click()
        page.get_by_role("button", name="Supprimer définitivement").click()
        expect(page.get_by_text("est supprimé")).to_be_visible()
        fits("5-removed")
        assert errors == []
        browser.close()


def test_admin_navigation_link_only_for_national_administrators(app, client):
    council_member = create_user("claire.conseil")
    registry.grant_council_role(
        db.session, council_member.id, registry.council_by_code(db.session, "IDF"), actor=CLI
    )
    db.session.commit()
    _national_admin()
    login(client, "claire.conseil")
    assert 'href="/admin/clients/"' not in client.get("/account").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    login(client, "paul.national")
    page = client.get("/account").get_data(as_text=True)
    assert 'href="/admin/clients/">Sites partenaires</a>' in page
