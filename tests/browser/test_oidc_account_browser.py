"""« Mon compte » and RP-initiated logout in a real browser, at phone size (360x740) and desktop
size: « Applications connectées » and « Retirer l'accès », the sites each session was used for,
and the /end-session confirmation; no horizontal scrolling, no console errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from idp.accounts.models import UserSession
from idp.extensions import db
from idp.oidc.models import Consent, Grant, OAuthClient
from tests.browser.test_account_lifecycle import VIEWPORTS, Visitor, log_in, open_visitor
from tests.factories import create_user
from tests.helpers import TEST_PASSWORD, LiveIdP
from tests.idp.oidc.logout_rows import (
    create_consent,
    create_grant,
    create_oauth_client,
    use_session_for,
)

pytestmark = pytest.mark.browser

JOURNAL = "Le journal de la profession comptable et de ses très longues rubriques"


@pytest.fixture(params=sorted(VIEWPORTS))
def visitor(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Visitor]:
    context, visitor = open_visitor(browser, request.param)
    yield visitor
    context.close()


def test_browser_connected_apps_listed_and_access_withdrawn(
    live_idp: LiveIdP, visitor: Visitor
) -> None:
    page = visitor.page
    username = f"camille.martin.{visitor.name}"
    with live_idp.app.app_context():
        user = create_user(username)
        journal = create_oauth_client(JOURNAL)
        create_consent(user, journal, ["openid", "profile", "email", "ordre", "offline_access"])
        grant_id = create_grant(user, journal, None).id
        portal = create_oauth_client("Portail client", first_party=True)
        user_id, journal_pk, portal_id = user.id, journal.id, portal.id
        db.session.remove()

    page.goto(live_idp.url + "/login")
    log_in(page, username, TEST_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")
    with live_idp.app.app_context():
        user_session = db.session.scalar(select(UserSession).where(UserSession.user_id == user_id))
        assert user_session is not None
        portal_row = db.session.get(OAuthClient, portal_id)
        journal_row = db.session.get(OAuthClient, journal_pk)
        assert portal_row is not None and journal_row is not None
        use_session_for(user_session, journal_row, portal_row)
        db.session.remove()
    page.reload()

    section = page.locator(
        "section", has=page.get_by_role("heading", name="Applications connectées")
    )
    expect(section.get_by_text(JOURNAL)).to_be_visible()
    expect(section.get_by_text("votre adresse email", exact=False)).to_be_visible()
    expect(page.get_by_text("Utilisée pour", exact=False)).to_contain_text("Portail client")
    visitor.checkpoint("connected-apps")

    section.get_by_role("link", name=f"Retirer l'accès de «\u00a0{JOURNAL}\u00a0»").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Retirer l'accès")
    expect(page.get_by_text("votre inscription au tableau de l'Ordre", exact=False)).to_be_visible()
    visitor.checkpoint("withdraw-confirm")
    page.get_by_role("button", name="Retirer l'accès").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")
    expect(page.get_by_role("status")).to_contain_text("Vous avez retiré l'accès")
    expect(page.get_by_text("Aucun site partenaire n'a accès à votre compte.")).to_be_visible()
    visitor.checkpoint("withdrawn")
    with live_idp.app.app_context():
        assert db.session.scalar(select(Consent).where(Consent.client_id == journal_pk)) is None
        grant = db.session.get(Grant, grant_id)
        assert grant is not None and grant.revoke_reason == "consent_withdrawn"
        db.session.remove()
    assert visitor.console_errors == []


def test_browser_end_session_confirmation_logs_out(live_idp: LiveIdP, visitor: Visitor) -> None:
    page = visitor.page
    username = f"marie.curie.{visitor.name}"
    with live_idp.app.app_context():
        create_user(username)
        client = create_oauth_client(
            "Bibliothèque de l'Ordre",
            post_logout_redirect_uris=[live_idp.url + "/login?from=rp"],
        )
        client_id = client.client_id
        db.session.remove()
    page.goto(live_idp.url + "/login")
    log_in(page, username, TEST_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")

    page.goto(
        f"{live_idp.url}/end-session?client_id={client_id}"
        f"&post_logout_redirect_uri={live_idp.url}/login%3Ffrom%3Drp&state=s1"
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Se déconnecter de Sésame")
    expect(page.get_by_text("Voulez-vous vous déconnecter de Sésame")).to_be_visible()
    expect(page.get_by_text("Bibliothèque de l'Ordre", exact=False)).to_be_visible()
    visitor.checkpoint("end-session-confirm")
    page.get_by_role("main").get_by_role("button", name="Se déconnecter").click()

    expect(page).to_have_url(f"{live_idp.url}/login?from=rp&state=s1")
    page.goto(live_idp.url + "/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion")
    assert visitor.console_errors == []
