"""« Sécurité avancée » (idp/mfa/security_views.py) and its card on « Mon compte »: what the
page shows, recovery codes regenerated, "toujours demander", the security emails (escaped),
CSRF, and a password reset that never removes a factor (ADR 0022)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.mfa import recovery
from idp.mfa.factors import Notice, notify
from idp.mfa.models import Passkey, RecoveryCode
from idp.mfa.qr import qr_svg
from tests.factories import create_user
from tests.helpers import HOSTILE_NEXT_TARGETS, login
from tests.idp.accounts.test_password_reset import (
    NEW_PASSWORD,
    _ask_reset,
    _reset_path,
    _set_password,
)
from tests.idp.mfa.security_support import (
    authenticated_long_ago,
    logged_in,
    post,
    security_emails,
    shown_codes,
)
from tests.idp.mfa.support import code_at, enrol_totp, recovery_codes, submit_second_factor

SECURITY = "/account/security"
REGENERATE = "/account/security/recovery-codes"
ALWAYS = "/account/security/always"


def _events(event_type: str) -> list[AuditEvent]:
    db.session.expire_all()
    return db.session.query(AuditEvent).filter_by(event_type=event_type).all()


def _always_checked(page: str) -> bool:
    match = re.search(r'<input[^>]*name="always"[^>]*>', page)
    assert match, "no always-ask checkbox"
    return " checked" in match.group(0)


def _page(client, url: str = SECURITY) -> str:
    return client.get(url).get_data(as_text=True).replace("&#39;", "'")


# --- the page --------------------------------------------------------------------------------


def test_security_page_needs_a_login(client):
    response = client.get(SECURITY)
    assert response.status_code == 302 and "/login?next=/account/security" in response.location


def test_security_page_without_factor_explains_and_offers_to_add_one(client):
    logged_in(client)
    page = _page(client)
    assert "Deux niveaux de sécurité" in page
    assert "Ajouter une application d'authentification" in page
    assert "Clés d'accès" in page
    assert "Ils sont créés avec votre premier second facteur." in page
    assert "Générer de nouveaux codes" not in page
    assert 'name="always"' not in page  # "toujours demander" needs a factor


def test_security_page_with_totp_shows_codes_left_and_always_ask(client):
    user = logged_in(client)
    enrol_totp(user)
    codes = recovery_codes(user)
    recovery.use(db.session, user, codes[0])
    db.session.commit()
    page = _page(client)
    assert "activée" in page and "Retirer l'application d'authentification" in page
    assert "Il vous reste 9 codes de secours." in page
    assert "Générer de nouveaux codes" in page
    assert not _always_checked(page)


def test_security_page_is_shown_without_recent_authentication(client):
    user = logged_in(client)
    enrol_totp(user)
    authenticated_long_ago()
    assert client.get(SECURITY).status_code == 200


def test_security_page_lists_security_events_only(client):
    user = logged_in(client)
    secret = enrol_totp(user)
    login(client, "camille.martin", "pas le bon mot de passe")
    submit_second_factor(client, code_at(secret), "/login/verify?next=/account")
    page = _page(client)
    table = page.split("Événements de sécurité récents")[1]
    assert "Second facteur vérifié" in table
    assert "Connexion échouée" not in table and "Connexion réussie" not in table


@pytest.mark.parametrize("target", HOSTILE_NEXT_TARGETS)
def test_security_page_never_continues_to_another_site(client, target):
    user = logged_in(client)
    enrol_totp(user)
    page = _page(client, f"{SECURITY}?next={quote(target, safe='')}")
    assert "Continuer" not in page


def test_security_page_continues_to_a_local_next(client):
    user = logged_in(client)
    enrol_totp(user)
    page = _page(client, f"{SECURITY}?next=/account")
    assert 'href="/account">Continuer' in page


def test_account_page_summarises_advanced_security(client):
    user = logged_in(client)
    page = _page(client, "/account")
    assert "Sécurité avancée" in page and "non configurée" in page
    assert 'href="/account/security"' in page and "Gérer la sécurité avancée" in page
    enrol_totp(user, always=True)
    recovery_codes(user)
    db.session.add(Passkey(user_id=user.id, credential_id=b"k1", public_key=b"pk", name="Clé"))
    db.session.add(Passkey(user_id=user.id, credential_id=b"k2", public_key=b"pk", name="Clé 2"))
    db.session.commit()
    card = _page(client, "/account").split('id="mfa-title"')[1].split("</section>")[0]
    assert "activée" in card and "2 clés d'accès" in card
    assert "<dd>10</dd>" in card and "<dd>oui</dd>" in card


def test_qr_code_is_an_inline_svg_without_script_or_style():
    svg = str(qr_svg("otpauth://totp/S%C3%A9same:camille?secret=ABCD", title="<script>x</script>"))
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert "<script" not in svg and "style=" not in svg and "&lt;script&gt;" in svg


# --- recovery codes ---------------------------------------------------------------------------


def test_regenerating_recovery_codes_invalidates_the_old_ones(client):
    user = logged_in(client)
    enrol_totp(user)
    old = recovery_codes(user)
    response = post(client, SECURITY, REGENERATE)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    new = shown_codes(response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert not recovery.use(db.session, user, old[0])
    assert recovery.use(db.session, user, new[0])
    digests = [r.code_digest for r in db.session.query(RecoveryCode).filter_by(user_id=user.id)]
    assert len(digests) == 10 and not any(c in d for c in new for d in digests)
    assert len(_events("recovery_codes_generated")) == 1
    (email,) = security_emails(user)
    assert "les anciens ne fonctionnent plus" in email.body_text


def test_regenerating_recovery_codes_needs_a_factor(client):
    user = logged_in(client)
    response = post(client, SECURITY, REGENERATE)
    assert response.status_code == 302
    assert "Ajoutez d'abord un second facteur" in _page(client)
    assert db.session.query(RecoveryCode).filter_by(user_id=user.id).count() == 0
    assert security_emails(user) == []


# --- "toujours demander" --------------------------------------------------------------------


def test_always_ask_toggle_is_audited_emailed_and_asks_at_next_login(app, client):
    user = logged_in(client)
    enrol_totp(user)
    response = post(client, SECURITY, ALWAYS, always="y")
    assert response.status_code == 302
    db.session.expire_all()
    assert user.mfa_always
    page = _page(client)
    assert "demandé à chaque connexion" in page and _always_checked(page)
    other = app.test_client()
    assert login(other, "camille.martin").location.endswith("/login/verify")
    post(client, SECURITY, ALWAYS)  # unchecked
    db.session.expire_all()
    assert not user.mfa_always
    assert [e.details["enabled"] for e in _events("mfa_always_changed")] == [True, False]
    on, off = security_emails(user)
    assert "demandé à chaque connexion" in on.body_text
    assert "ne sera plus demandé" in off.body_text


def test_always_ask_unchanged_is_not_audited(client):
    user = logged_in(client)
    enrol_totp(user)
    post(client, SECURITY, ALWAYS)
    assert _events("mfa_always_changed") == [] and security_emails(user) == []


def test_always_ask_is_refused_without_a_factor(client):
    user = logged_in(client)
    response = post(client, SECURITY, ALWAYS, always="y")
    assert response.status_code == 302
    db.session.expire_all()
    assert not user.mfa_always and _events("mfa_always_changed") == []
    assert "Ajoutez d'abord un second facteur" in _page(client)


# --- emails, CSRF, password reset -----------------------------------------------------------


def test_security_emails_escape_a_hostile_name(client):
    user = logged_in(client, given_name="<script>alert(1)</script>")
    enrol_totp(user)
    post(client, SECURITY, ALWAYS, always="y")
    notify(db.session, user, Notice.PASSKEY_ADDED, name='<img src=x onerror="alert(2)">')
    db.session.commit()
    emails = security_emails(user)
    assert len(emails) == 2
    for email in emails:
        assert "<script>" not in email.body_html and "&lt;script&gt;" in email.body_html
        assert "<img" not in email.body_html
    assert "&lt;img src=x" in emails[1].body_html


@pytest.mark.parametrize(
    "action",
    [
        REGENERATE,
        ALWAYS,
        "/account/security/totp/remove",
        "/account/security/totp",
        "/account/confirm",
    ],
)
def test_factor_changes_without_csrf_token_are_refused(client, action):
    user = logged_in(client)
    enrol_totp(user, always=False)
    codes = recovery_codes(user)
    response = client.post(action, data={"always": "y", "otp": "123456", "password": "x"})
    assert response.status_code == 400
    db.session.expire_all()
    assert not user.mfa_always
    assert recovery.remaining(db.session, user) == len(codes)
    assert _events("totp_removed") == [] and _events("reauthenticated") == []


def test_password_reset_never_removes_a_factor(client):
    user = create_user("camille.martin")
    secret = enrol_totp(user, always=True)
    recovery_codes(user)
    _ask_reset(client, "camille.martin")
    assert _set_password(client, _reset_path(user.id)).status_code == 302
    db.session.expire_all()
    assert user.mfa_always and recovery.remaining(db.session, user) == 10
    response = login(client, "camille.martin", NEW_PASSWORD)
    assert response.location.endswith("/login/verify")  # the second factor is still asked
    assert submit_second_factor(client, code_at(secret)).status_code == 302
    assert client.get("/account").status_code == 200
