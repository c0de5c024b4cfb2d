"""Issue 16's "done when", in a real browser (headless Chromium), against the live IdP and the
sample partner site « Espace des experts-comptables » (experts-comptables only, and their
delegates; scope `delegations`), both served over HTTP:

a collaborator signs up as « Autre » and activates the account from the email, asks an
expert-comptable for a delegation on « Délégations » (the registry autocomplete); the
expert-comptable approves it from the email's link; the collaborator logs into the partner site
and reads the delegation claim there in words (who granted it, registration number, firm,
services, end date); the expert-comptable ends it, and the collaborator's next login at that
site is refused (Sésame's explanation, then access_denied at the site). No console error.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from idp.accounts.models import User
from idp.delegation.models import Delegation, DelegationStatus
from idp.extensions import db
from idp.profiles.catalog import Profile
from samples.partner_site import french_date
from tests.browser.test_sso import partner
from tests.helpers import RESULTS_DIR, TEST_PASSWORD, LiveIdP, console_errors, free_port, serving
from tests.idp.delegation.support import expert
from tests.idp.oidc.helpers import register_client

pytestmark = pytest.mark.browser

SITE_NAME = "Espace des experts-comptables"
COLLABORATOR = "marie.curie"
COLLABORATOR_EMAIL = "marie.curie@cabinet-lefevre.example"
COLLABORATOR_PASSWORD = "velours tambour cerise 48"
REGISTRATION_NUMBER = "75012345"


def shot(page: Page, name: str) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / f"delegation-{name}.png"), full_page=True)


def log_in(page: Page, username: str, password: str) -> None:
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    page.get_by_role("button", name="Se connecter", exact=True).click()


def register_experts_site(idp: LiveIdP, url: str) -> tuple[str, str]:
    """The site as `make run` registers it (devserver/__main__.py): experts-comptables only,
    admitting their delegates, a service delegations may name, scope `delegations`."""
    with idp.app.app_context():
        client = register_client(
            name=SITE_NAME,
            auth_method="client_secret_basic",
            first_party=False,
            redirect_uris=[f"{url}/callback"],
            post_logout_redirect_uris=[f"{url}/logged-out"],
            backchannel_logout_uri=f"{url}/backchannel-logout",
            scopes=["openid", "profile", "email", "ordre", "delegations"],
            allowed_profiles=[Profile.EXPERT_COMPTABLE.value],
            accepts_delegations=True,
            admits_delegates=True,
        )
        expert(registration_number=REGISTRATION_NUMBER)  # jf.lefevre, Cabinet Lefèvre
        db.session.remove()
    assert client.secret is not None
    return client.client_id, client.secret


def only_link(idp: LiveIdP, to: str, path: str) -> str:
    links = [link for link in idp.inbox.links(to) if path in link]
    assert len(links) == 1, (links, [m["Subject"] for m in idp.inbox.messages])
    return links[0]


def stored_delegation(idp: LiveIdP) -> Delegation:
    with idp.app.app_context():
        delegation = db.session.scalars(select(Delegation)).unique().one()
        db.session.expunge_all()
        db.session.remove()
    return delegation


def new_tab(browser: Browser) -> tuple[BrowserContext, Page, list[str]]:
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = console_errors(page)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def sign_up_as_autre(page: Page, idp: LiveIdP) -> None:
    page.goto(idp.url + "/signup")
    page.get_by_role("link", name="Autre (collaborateur, étudiant, enseignant…)").click()
    page.get_by_label("Prénom").fill("Marie")
    page.get_by_label("Nom", exact=True).fill("Curie")
    page.get_by_label("Adresse email").fill(COLLABORATOR_EMAIL)
    page.get_by_label("Identifiant (définitif").fill(COLLABORATOR)
    page.locator("#password").fill(COLLABORATOR_PASSWORD)
    page.locator("#password_confirm").fill(COLLABORATOR_PASSWORD)
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre messagerie")
    idp.deliver_mail()
    page.goto(only_link(idp, COLLABORATOR_EMAIL, "/activate/"))
    page.get_by_label("Le mot de passe choisi à l'inscription").fill(COLLABORATOR_PASSWORD)
    page.get_by_role("button", name="Activer mon compte").click()
    expect(page).to_have_url(idp.url + "/login")
    log_in(page, COLLABORATOR, COLLABORATOR_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")


def request_delegation(page: Page, idp: LiveIdP) -> None:
    page.goto(idp.url + "/account/delegations")
    expect(page.get_by_role("heading", level=1)).to_have_text("Délégations")
    page.get_by_role("link", name="Demander une délégation").click()
    page.locator("#q").press_sequentially("Lefèv", delay=40)
    page.get_by_role("option").filter(has_text="Lefèvre").first.click()
    expect(page.get_by_text("Votre demande sera adressée à Jean-François Lefèvre")).to_be_visible()
    page.get_by_label(SITE_NAME).check()
    page.get_by_label("Message à l'expert-comptable").fill("Pour les dossiers du cabinet.")
    shot(page, "1-request")
    page.get_by_role("button", name="Envoyer la demande").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Demande à Jean-François Lefèvre")


def test_delegation_journey_request_approve_claim_revoke_refused(
    browser: Browser, live_idp: LiveIdP
) -> None:
    idp = live_idp
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    client = register_experts_site(idp, site)
    experts_site = partner("experts", idp, site, client, "client_secret_basic")
    collaborator_context, page, errors = new_tab(browser)
    grantor_context, grantor_page, grantor_errors = new_tab(browser)
    with serving(experts_site, port):
        # 1. The collaborator: « Autre » signup, activation, then a request on « Délégations ».
        sign_up_as_autre(page, idp)
        idp.inbox.clear()
        request_delegation(page, idp)

        # 2. Before any decision, the site refuses the collaborator.
        page.goto(site + "/")
        page.get_by_role("link", name="Se connecter avec Sésame").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Accès non autorisé")

        # 3. The expert-comptable approves from the email's link (logging in on the way).
        idp.deliver_mail()
        delegation = stored_delegation(idp)
        link = only_link(
            idp, "jf.lefevre@cabinet.example", f"/account/delegations/{delegation.public_id}"
        )
        grantor_page.goto(link)
        log_in(grantor_page, "jf.lefevre", TEST_PASSWORD)
        expect(grantor_page.get_by_role("heading", level=1)).to_have_text("Demande de Marie Curie")
        expect(grantor_page.get_by_text("Pour les dossiers du cabinet.")).to_be_visible()
        shot(grantor_page, "2-decision")
        grantor_page.get_by_role("button", name="Accorder").click()
        expect(grantor_page.get_by_role("heading", level=1)).to_have_text(
            "Délégation à Marie Curie"
        )
        expect(grantor_page.get_by_text("en cours")).to_be_visible()
        delegation = stored_delegation(idp)
        assert delegation.status == DelegationStatus.ACTIVE.value and delegation.ends_at

        # 4. The collaborator logs into the site and reads the delegation claim in words.
        page.goto(site + "/")
        page.get_by_role("link", name="Se connecter avec Sésame").click()
        page.get_by_role("button", name="Autoriser").click()  # a third-party site: consent
        expect(page).to_have_url(site + "/")
        expect(page.get_by_role("heading", name="Bonjour Marie Curie")).to_be_visible()
        claim = page.locator('[data-claim="delegation"]')
        expect(claim).to_have_count(1)
        ends = int(delegation.ends_at.timestamp())
        expect(claim).to_contain_text("Délégation de Jean-François Lefèvre")
        expect(claim).to_contain_text(f"sous le numéro {REGISTRATION_NUMBER} (Cabinet Lefèvre)")
        expect(claim).to_contain_text(f"Services couverts : {SITE_NAME} (ce site).")
        expect(claim).to_contain_text(f"Prend fin le {french_date(ends)}.")
        shot(page, "3-partner-claim")

        # 5. The expert-comptable ends it; the collaborator's next login is refused.
        grantor_page.get_by_role("button", name="Mettre fin").click()
        expect(grantor_page.get_by_text("La délégation a pris fin.")).to_be_visible()
        assert stored_delegation(idp).status == DelegationStatus.ENDED.value
        page.get_by_role("button", name="Se déconnecter").click()
        expect(page.get_by_text("Vous êtes déconnecté de ce site et de Sésame.")).to_be_visible()
        page.get_by_role("link", name="Se connecter avec Sésame").click()
        log_in(page, COLLABORATOR, COLLABORATOR_PASSWORD)
        expect(page.get_by_role("heading", level=1)).to_have_text("Accès non autorisé")
        expect(page.get_by_text(f"Le site « {SITE_NAME} » est réservé")).to_be_visible()
        shot(page, "4-refused-at-idp")
        page.get_by_role("button", name=f"Retourner sur {SITE_NAME}").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Connexion refusée")
        expect(page.get_by_text("Bonjour Marie Curie")).to_have_count(0)
        shot(page, "5-refused-at-site")

    with idp.app.app_context():
        marie = db.session.scalar(select(User).where(User.username == COLLABORATOR))
        assert marie is not None and marie.profile == Profile.AUTRE.value
        db.session.remove()
    collaborator_context.close()
    grantor_context.close()
    assert grantor_errors == []
    assert [e for e in errors if not _refusal_status(e)] == []  # CSP intact
    assert len(errors) == 3  # the IdP's two 403 pages, the site's 400 "Connexion refusée"


def _refusal_status(error: str) -> bool:
    """The browser logs the status of the refusal pages the journey expects: the IdP's
    « Accès non autorisé » (403 at /authorize) and the site's « Connexion refusée » (400 at
    /callback)."""
    return error.startswith("Failed to load resource: the server responded with a status of") and (
        "/authorize?" in error or "/callback?error=access_denied" in error
    )
