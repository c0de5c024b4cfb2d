"""Signup by profile in a real browser (issue 12): an expert-comptable finds themself with the
autocomplete (keyboard only), proves the birth date, chooses a username and password, activates
from the email sent to the registry address, and sees the registry link on "Mon compte"; the
same without JavaScript through the plain form; the outcomes that stop a signup; the président
d'AGC. At phone size (360 px) and desktop size, in French, without horizontal scrolling or
console errors; screenshots in test-results/screenshots/ for review."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from idp.accounts.models import User, UserStatus
from idp.extensions import db
from idp.profiles.catalog import Profile
from idp.profiles.models import AgcDirector
from idp.registry.catalog import RegistryStatus
from idp.registry.models import ProfileClaim
from tests.browser.test_account_lifecycle import VIEWPORTS, Visitor, open_visitor
from tests.factories import create_registry_entry
from tests.helpers import LiveIdP

pytestmark = pytest.mark.browser

PASSWORD = "boussole marée granit 61"


@pytest.fixture(params=sorted(VIEWPORTS))
def person(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Visitor]:
    context, visitor = open_visitor(browser, request.param)
    visitor.name = f"signup-{request.param}"
    visitor.page.set_default_timeout(10_000)
    yield visitor
    context.close()


@pytest.fixture
def registry(live_idp: LiveIdP) -> LiveIdP:
    """The demo-like registry the tests sign up with."""
    with live_idp.app.app_context():
        create_registry_entry(
            "Lefèvre",
            "Jean-François",
            registration_number="IDF-1001",
            email="jf.lefevre@cabinet-lefevre.example",
        )
        create_registry_entry("Lefebvre", "Anne", email="anne.lefebvre@example.org")
        create_registry_entry(
            "Sansmail", "Paul", email=None, council_code="NAQ", birth_date=date(1980, 1, 2)
        )
        create_registry_entry("Radié", "Marc", status=RegistryStatus.RADIE, email="m@x.example")
        create_registry_entry(
            "D'Arcy", "Anne", category=Profile.STAGIAIRE, email="anne.darcy@example.org"
        )
        db.session.remove()
    return live_idp


def stored(live: LiveIdP, username: str) -> tuple[User | None, list[ProfileClaim]]:
    with live.app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        claims = list(db.session.scalars(select(ProfileClaim)))
        db.session.expunge_all()
        db.session.remove()
    return user, claims


def heading(page: Page) -> str:
    return page.get_by_role("heading", level=1).inner_text()


def test_browser_signup_registry_autocomplete_to_account_page(
    registry: LiveIdP, person: Visitor
) -> None:
    page = person.page
    page.goto(registry.url + "/signup")
    expect(page.get_by_role("heading", level=1)).to_have_text("Créer votre compte")
    person.checkpoint("chooser")
    page.get_by_role("link", name="Expert-comptable", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Retrouver votre inscription")
    combobox = page.get_by_role("combobox", name="Votre nom")
    combobox.press_sequentially("lefe", delay=30)
    listbox = page.get_by_role("listbox")
    expect(listbox.get_by_role("option")).to_have_count(2)
    expect(combobox).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("status").last).to_contain_text("2 noms trouvés")
    person.checkpoint("autocomplete")
    combobox.press("ArrowDown")
    combobox.press("ArrowDown")
    second = listbox.get_by_role("option").nth(1)
    expect(second).to_have_attribute("aria-selected", "true")
    expect(combobox).to_have_attribute("aria-activedescendant", second.get_attribute("id") or "")
    expect(second).to_contain_text("LEFÈVRE Jean-François")
    expect(second).not_to_contain_text("1975")
    combobox.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Votre date de naissance")
    expect(page.get_by_text("LEFÈVRE Jean-François (conseil régional Paris")).to_be_visible()
    person.checkpoint("birth-date")
    page.get_by_label("Date de naissance").fill("12/04/1975")
    page.get_by_role("button", name="Vérifier").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Choisir votre identifiant et votre mot de passe"
    )
    expect(page.get_by_text("j***@c***.example")).to_be_visible()
    expect(page.get_by_text("ne pourra jamais être modifié").first).to_be_visible()
    person.checkpoint("account-form")
    username = f"jf.lefevre.{person.width}"
    page.get_by_label("Identifiant (définitif").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password_confirm").fill(PASSWORD)
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre messagerie")
    expect(page.get_by_text("j***@c***.example")).to_be_visible()
    person.checkpoint("done")
    user, claims = stored(registry, username)
    assert user is not None and user.profile == "expert-comptable"
    assert user.email == "jf.lefevre@cabinet-lefevre.example" and len(claims) == 1

    assert registry.deliver_mail().sent == 1
    [link] = list(registry.inbox.links("jf.lefevre@cabinet-lefevre.example"))
    page.goto(link)
    page.get_by_label("Le mot de passe choisi à l'inscription").fill(PASSWORD)
    page.get_by_role("button", name="Activer mon compte").click()
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")
    profile = page.locator("section", has=page.get_by_role("heading", name="Mon profil"))
    expect(profile).to_contain_text("IDF-1001")
    expect(profile).to_contain_text("Paris Île-de-France")
    expect(profile).to_contain_text("en vigueur")
    person.checkpoint("mon-compte")
    assert stored(registry, username)[0].status == UserStatus.ACTIVE  # type: ignore[union-attr]
    assert person.console_errors == []


@pytest.fixture
def no_js(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Visitor]:
    viewport = VIEWPORTS["phone"]
    context = browser.new_context(viewport=viewport, locale="fr-FR", java_script_enabled=False)  # type: ignore[arg-type]
    visitor = Visitor(context.new_page(), "signup-nojs", viewport["width"])
    visitor.page.set_default_timeout(10_000)
    yield visitor
    context.close()


def test_browser_signup_registry_without_javascript_and_outcomes(
    registry: LiveIdP, no_js: Visitor
) -> None:
    page = no_js.page
    page.goto(registry.url + "/signup/stagiaire/name")
    page.get_by_label("Votre nom").fill("d arcy")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.get_by_role("radio")).to_have_count(1)
    no_js.checkpoint("plain-list")
    page.get_by_role("button", name="C'est moi : continuer").click()
    page.get_by_label("Date de naissance").fill("01/01/1970")
    page.get_by_role("button", name="Vérifier").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Date de naissance non reconnue")
    expect(
        page.get_by_text("pas de lien entre votre nom et votre date de naissance")
    ).to_be_visible()
    expect(page.get_by_text("contact@oec-paris.fr")).to_be_visible()
    no_js.checkpoint("mismatch")

    page.goto(registry.url + "/signup/expert-comptable/name?q=sansmail")
    page.get_by_role("button", name="C'est moi : continuer").click()
    page.get_by_label("Date de naissance").fill("02/01/1980")
    page.get_by_role("button", name="Vérifier").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Aucune adresse email connue")
    expect(page.get_by_text("Nouvelle-Aquitaine").first).to_be_visible()
    no_js.checkpoint("no-email")

    page.goto(registry.url + "/signup/expert-comptable/name?q=radie")
    page.get_by_role("button", name="C'est moi : continuer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Inscription radiée")
    no_js.checkpoint("struck-off")

    page.goto(registry.url + "/signup/expert-comptable/name")
    page.get_by_text("Vous ne trouvez pas votre nom ?").click()
    page.get_by_label("Numéro d'inscription au tableau").fill("idf-1001")
    page.get_by_role("button", name="Continuer avec ce numéro").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Votre date de naissance")


def test_browser_signup_president_agc_also_expert_comptable(
    registry: LiveIdP, person: Visitor
) -> None:
    page = person.page
    page.goto(registry.url + "/signup")
    page.get_by_role("link", name="Président ou directeur d'AGC").click()
    page.get_by_label("Nom de l'AGC").fill("AGC des Artisans d'Île-de-France")
    page.get_by_label("SIREN de l'AGC").fill("732 829 320")
    page.get_by_label("Oui : je suis aussi expert-comptable").check()
    person.checkpoint("agc")
    page.get_by_role("button", name="Continuer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Retrouver votre inscription")
    page.get_by_role("combobox", name="Votre nom").press_sequentially("lefebvre", delay=20)
    page.get_by_role("option").first.click()
    page.get_by_label("Date de naissance").fill("12/04/1975")
    page.get_by_role("button", name="Vérifier").click()
    username = f"anne.agc.{person.width}"
    page.get_by_label("Identifiant (définitif").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password_confirm").fill(PASSWORD)
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vérifiez votre messagerie")
    user, claims = stored(registry, username)
    assert user is not None and user.profile == "president-agc"
    assert user.email == "anne.lefebvre@example.org" and len(claims) == 1
    with registry.app.app_context():
        agc = db.session.scalars(select(AgcDirector)).one()
        assert (agc.agc_name, agc.siren) == ("AGC des Artisans d'Île-de-France", "732829320")
        db.session.remove()
    assert person.console_errors == []
