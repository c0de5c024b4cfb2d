"""English as the second language (ADR 0001): French msgids, a complete English catalog, and a
language chosen by the header switch, else the browser, else French.

The catalog test extracts the msgids from the source the way `make translations-update` does,
so a French string added without its English translation fails here, by name.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.accounts.models import User, UserSession, UserStatus
from idp.audit.models import AuditEvent, AuditEventType
from idp.extensions import db
from idp.mail.models import OutboxMessage
from tests.factories import create_user
from tests.helpers import TEST_PASSWORD, activate, csrf_token, login
from tests.helpers import signup as fill_signup

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = ROOT / "idp"
PO_FILE = SOURCE_DIR / "translations" / "en" / "LC_MESSAGES" / "messages.po"
MO_FILE = PO_FILE.with_suffix(".mo")
# The keywords of `make translations-update`: babel's defaults plus Flask-Babel's lazy ones.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]")

ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}
FRENCH_PASSWORD = "radium polonium nobel 1903"


pytestmark = pytest.mark.usefixtures("english_catalog")


def read_english_catalog() -> Catalog:
    with PO_FILE.open("rb") as po:
        return read_po(po, locale="en")


@pytest.fixture(scope="session")
def english_catalog(app: Flask) -> Catalog:
    """The English catalog, compiled to .mo when missing or older than the .po, so `pytest`
    works without `make translations`. Flask-Babel caches catalogs per process: empty the cache
    so a request made before the compilation does not leave English untranslated."""
    catalog = read_english_catalog()
    if not MO_FILE.exists() or MO_FILE.stat().st_mtime < PO_FILE.stat().st_mtime:
        partial = MO_FILE.with_name(f"messages.mo.{os.getpid()}")  # xdist workers race
        with partial.open("wb") as mo:
            write_mo(mo, catalog)
        os.replace(partial, MO_FILE)
    app.extensions["babel"].instance.domain_instance.cache.clear()
    return catalog


def extracted_msgids() -> dict[str | tuple[str, ...], list[str]]:
    """Every msgid of the source, with where it is, extracted like `pybabel extract`."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str | tuple[str, ...], list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(SOURCE_DIR), method_map, options_map, keywords=KEYWORDS
    ):
        found.setdefault(message, []).append(f"idp/{filename}:{lineno}")
    return found


def as_strings(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    if value is None:
        return [""]
    return [value] if isinstance(value, str) else [s or "" for s in value]


def translation_problem(msgid: str | tuple[str, ...], entry: Message | None) -> str | None:
    if entry is None:
        return "missing from messages.po (run `make translations-update`)"
    if entry.fuzzy:
        return "fuzzy"
    strings = as_strings(entry.string)
    if not all(s.strip() for s in strings):
        return "not translated"
    # Each form (singular, plural) carries the same set of placeholders as the source.
    expected = sorted(set(PLACEHOLDER.findall(" ".join(as_strings(msgid)))))
    for string in strings:
        found = sorted(set(PLACEHOLDER.findall(string)))
        if found != expected:
            return f"placeholders differ: {expected} vs {found}"
    return None


def visible_text(page: str) -> str:
    """The text a reader sees (and the labels a screen reader reads), without markup."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    labels = " ".join(re.findall(r'(?:aria-label|title|placeholder)="([^"]*)"', page))
    return html.unescape(re.sub(r"<[^>]+>", " ", page) + " " + labels)


# Words and letters that only French text has. "Sésame" is the product's name and "Français"
# the language switch: both stay as they are in English.
FRENCH_MARKERS = re.compile(
    r"[éèêàùçôîœ]|\b(le|la|les|des|du|une|votre|vous|mot de passe|compte|connexion)\b",
    re.IGNORECASE,
)


def french_left(page: str) -> list[str]:
    text = visible_text(page).replace("Sésame", "").replace("Français", "")
    text = text.replace("Passer en français", "")  # aria-label of the switch back to French
    return sorted({m.group(0) for m in FRENCH_MARKERS.finditer(text)})


def signup(client: FlaskClient, password: str = FRENCH_PASSWORD, **headers: str) -> str:
    response = fill_signup(client, password=password, headers=headers)
    return response.get_data(as_text=True) if response.status_code == 200 else ""


def switch_language(client: FlaskClient, code: str, page: str = "/login") -> str:
    """Press the header's language button on `page`, as a person would."""
    body = client.get(page).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', body)
    next_url = re.search(r'name="next" value="([^"]*)"', body)
    assert token and next_url, f"no language switch on {page}"
    response = client.post(
        f"/language/{code}",
        data={"csrf_token": token.group(1), "next": html.unescape(next_url.group(1))},
    )
    assert response.status_code == 302
    return response.headers["Location"]


# --- the catalog ----------------------------------------------------------------------------


def test_i18n_catalog_translates_every_source_string() -> None:
    source = extracted_msgids()
    assert len(source) > 100, "extraction found almost nothing: is babel.cfg still right?"
    catalog = read_english_catalog()
    problems = []
    for msgid, places in source.items():
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        problem = translation_problem(msgid, catalog.get(key))
        if problem:
            problems.append(f"{places[0]}: {msgid!r}: {problem}")
    assert not problems, "English catalog incomplete:\n" + "\n".join(problems)


def test_i18n_catalog_check_names_an_untranslated_string() -> None:
    catalog = Catalog(locale="en")
    catalog.add("Bonjour %(name)s,", "Hello %(name)s,")
    catalog.add("Nouvelle chaîne", "")
    catalog.add("Chaîne floue", "Fuzzy string", flags=["fuzzy"])
    catalog.add("Dans %(minutes)d minutes", "In %(min)d minutes")
    assert translation_problem("Bonjour %(name)s,", catalog.get("Bonjour %(name)s,")) is None
    assert translation_problem("Nouvelle chaîne", catalog.get("Nouvelle chaîne")) == (
        "not translated"
    )
    assert translation_problem("Chaîne floue", catalog.get("Chaîne floue")) == "fuzzy"
    assert "placeholders differ" in str(
        translation_problem("Dans %(minutes)d minutes", catalog.get("Dans %(minutes)d minutes"))
    )
    assert "missing" in str(translation_problem("Absente", catalog.get("Absente")))


def test_i18n_compiled_catalog_has_every_translation(english_catalog: Catalog) -> None:
    from babel.support import Translations

    with MO_FILE.open("rb") as mo:
        compiled = Translations(mo)
    assert compiled.gettext("Mot de passe oublié ?") == "Forgot your password?"
    untranslated = [
        m.id
        for m in english_catalog
        if m.id and isinstance(m.id, str) and compiled.gettext(m.id) != m.string
    ]
    assert not untranslated, f"stale {MO_FILE.name}: run `make translations`: {untranslated}"


# --- choosing the language ------------------------------------------------------------------


def test_i18n_default_language_is_french(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert "<h1>Connexion</h1>" in page and "Mot de passe oublié ?" in page
    assert ">English</button>" in page


def test_i18n_unsupported_browser_language_falls_back_to_french(client: FlaskClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(
        as_text=True
    )
    assert '<html lang="fr">' in page and "<h1>Connexion</h1>" in page


def test_i18n_accept_language_english_gives_english_login_page(client: FlaskClient) -> None:
    page = client.get("/login", headers=ENGLISH).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "<h1>Log in</h1>" in page
    assert ">Username</label>" in page and ">Password</label>" in page
    assert "Forgot your password?" in page and "Create an account" in page
    assert ">Français</button>" in page
    assert french_left(page) == []


def test_i18n_wrong_password_error_is_english(client: FlaskClient) -> None:
    user = create_user("jean.dupont")
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"csrf_token": token, "username": "jean.dupont", "password": "not the password"},
        headers=ENGLISH,
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The form has 1 error" in page  # the error summary, English plural form
    assert "Incorrect username or password." in page
    assert french_left(page) == []
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0
    failures = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditEventType.LOGIN_FAILED)
    ).all()
    assert [e.subject_id for e in failures] == [user.id]


def test_i18n_signup_password_policy_error_is_english(client: FlaskClient) -> None:
    page = signup(client, password="court", **ENGLISH)
    assert '<html lang="en">' in page
    assert "The password must be at least" in page and "characters long." in page
    assert "Le mot de passe doit compter" not in page
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_i18n_signup_guessable_password_error_is_english(client: FlaskClient) -> None:
    page = signup(client, password="azertyuiopqsdf", **ENGLISH)
    assert "too easy to guess" in page or "one of the most common passwords" in page
    assert french_left(page) == []
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_i18n_language_switch_persists_across_requests(client: FlaskClient) -> None:
    assert switch_language(client, "en", "/signup") == "/signup"
    for path in ("/signup", "/login", "/password/forgot"):
        page = client.get(path).get_data(as_text=True)  # no Accept-Language: the session decides
        assert '<html lang="en">' in page, path
        assert french_left(page) == [], path
    assert "<h1>Log in</h1>" in client.get("/login").get_data(as_text=True)
    switch_language(client, "fr")
    assert "<h1>Connexion</h1>" in client.get("/login", headers=ENGLISH).get_data(as_text=True)


def test_i18n_language_switch_requires_csrf_token(client: FlaskClient) -> None:
    response = client.post("/language/en", data={"next": "/login"})
    assert response.status_code == 400
    assert '<html lang="fr">' in client.get("/login").get_data(as_text=True)
    with client.session_transaction() as cookie_session:
        assert "locale" not in cookie_session


def test_i18n_language_switch_ignores_unknown_language(client: FlaskClient) -> None:
    body = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', body)
    assert token
    client.post("/language/de", data={"csrf_token": token.group(1), "next": "/login"})
    with client.session_transaction() as cookie_session:
        assert "locale" not in cookie_session
    assert '<html lang="fr">' in client.get("/login").get_data(as_text=True)


def test_i18n_language_switch_does_not_redirect_off_site(client: FlaskClient) -> None:
    body = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', body)
    assert token
    response = client.post(
        "/language/en", data={"csrf_token": token.group(1), "next": "//evil.example/"}
    )
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]


def test_i18n_language_survives_login_and_logout(client: FlaskClient) -> None:
    user = create_user("jean.dupont")
    switch_language(client, "en")
    response = login(client, "jean.dupont", TEST_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    page = client.get("/account").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "<h1>My account</h1>" in page and "Log out" in page and "Username" in page
    assert french_left(page) == []
    sessions = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)).all()
    assert len(sessions) == 1 and sessions[0].revoked_at is None
    logout_token = csrf_token(client, "/account")
    response = client.post("/logout", data={"csrf_token": logout_token})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You are logged out." in page and '<html lang="en">' in page


def test_i18n_activation_email_from_english_session_is_english(client: FlaskClient) -> None:
    switch_language(client, "en", "/signup")
    assert signup(client) == ""  # redirected: the account is created
    user = db.session.scalars(select(User).where(User.username == "marie.curie")).one()
    assert user.status == UserStatus.PENDING
    message = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.user_id == user.id)
    ).one()
    assert message.template == "activation"
    assert message.subject == "Activate your Sésame account"
    assert "Hello Marie," in message.body_text
    assert "To activate it, open this link:" in message.body_text
    assert "Activate my account" in message.body_html
    for body in (message.body_text, message.body_html):
        assert french_left(body) == [], body
    done = client.get("/signup/done").get_data(as_text=True)
    assert (
        "We have sent an email to marie@cabinet.example. Follow its instructions to activate"
        " your account." in done
    )
    assert french_left(done) == []


def test_i18n_activation_email_without_choice_is_french(client: FlaskClient) -> None:
    signup(client)
    message = db.session.scalars(select(OutboxMessage)).one()
    assert message.subject == "Activez votre compte Sésame"
    assert "Bonjour Marie," in message.body_text


def test_i18n_password_reset_email_from_english_browser_is_english(
    client: FlaskClient,
) -> None:
    user = create_user("jean.dupont", given_name="Jean")
    token = csrf_token(client, "/password/forgot")
    response = client.post(
        "/password/forgot",
        data={"csrf_token": token, "identifier": "jean.dupont"},
        headers=ENGLISH,
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Check your inbox" in page
    assert french_left(page) == []
    message = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.user_id == user.id)
    ).one()
    assert message.subject == "Choose a new Sésame password"
    assert "Hello Jean," in message.body_text and "jean.dupont" in message.body_text
    assert french_left(message.body_text) == [] and french_left(message.body_html) == []


def test_i18n_activation_confirmation_is_english(client: FlaskClient) -> None:
    switch_language(client, "en", "/signup")
    signup(client)
    message = db.session.scalars(select(OutboxMessage)).one()
    link = next(w for w in message.body_text.split() if "/activate/" in w)
    path = link.removeprefix("http://idp.test")
    page = client.get(path).get_data(as_text=True)
    assert "<h1>Activate my account</h1>" in page
    assert "enter the password you chose when signing up" in page
    assert french_left(page) == []
    refused = activate(client, path, password="not the signup password")
    page = refused.get_data(as_text=True)
    assert "This is not the password you chose when signing up." in page
    assert french_left(page) == []
    user = db.session.scalars(select(User).where(User.username == "marie.curie")).one()
    assert user.status == UserStatus.PENDING
    response = activate(client, path, password=FRENCH_PASSWORD)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your account is activated. You can now log in." in page
    db.session.refresh(user)
    assert user.status == UserStatus.ACTIVE


# French proper nouns the accessibility statement keeps in English (with an explanation).
PROPER_NOUNS = ("Défenseur des droits", "Libre réponse")


@pytest.mark.parametrize(
    ("path", "title", "sample"),
    [
        ("/help", "Help", "Forgotten username"),
        ("/legal", "Legal notice", "hours after you log in."),
        ("/accessibility", "Accessibility statement", "zoomed up to 200%."),
    ],
)
def test_i18n_information_pages_are_english(
    client: FlaskClient, path: str, title: str, sample: str
) -> None:
    page = client.get(path, headers=ENGLISH).get_data(as_text=True)
    assert '<html lang="en">' in page and f"<h1>{title}</h1>" in page
    assert sample in " ".join(page.split())
    for noun in PROPER_NOUNS:
        page = page.replace(noun, "")
    assert french_left(page) == []


def test_i18n_second_factor_pages_are_english(client: FlaskClient) -> None:
    """« Sécurité avancée », TOTP enrolment, the second-factor page and the login page with
    its passkey section, in English (ADR 0022)."""
    from tests.idp.mfa.support import enrol_totp

    user = create_user("jean.dupont")
    switch_language(client, "en")
    assert french_left(client.get("/login").get_data(as_text=True)) == []
    login(client, "jean.dupont")
    for path in ("/account/security", "/account/security/totp", "/login/verify?next=/account"):
        page = client.get(path).get_data(as_text=True)
        assert french_left(page) == [], path
    enrol_totp(db.session.merge(user))
    page = client.get("/login/verify?next=/account").get_data(as_text=True)
    assert "Two-step verification" in page and french_left(page) == []
    assert french_left(client.get("/account/security").get_data(as_text=True)) == []
