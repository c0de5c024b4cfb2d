"""« Confirmez votre identité » (idp/mfa/security_views.py `confirm_identity`) and the recent
authentication every factor change needs (`flow.recent_auth_required`, ADR 0022): the
password (throttled and audited like a login), a TOTP code or a recovery code."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote, unquote

import pytest

from idp.accounts.models import UserSession
from idp.audit.models import AuditEvent
from idp.database import utcnow
from idp.extensions import db
from idp.mfa import recovery
from idp.mfa.models import TotpCredential
from tests.helpers import HOSTILE_NEXT_TARGETS, TEST_PASSWORD, login
from tests.idp.mfa.security_support import (
    authenticated_long_ago,
    logged_in,
    post,
    security_emails,
)
from tests.idp.mfa.support import code_at, enrol_totp, recovery_codes

CONFIRM = "/account/confirm"


def _events(event_type: str) -> list[AuditEvent]:
    db.session.expire_all()
    return db.session.query(AuditEvent).filter_by(event_type=event_type).all()


def _auth_time():
    db.session.expire_all()
    return db.session.query(UserSession).filter(UserSession.revoked_at.is_(None)).one().auth_time


def _confirm(client, next_url: str = "/account/security", **data):
    url = f"{CONFIRM}?next={quote(next_url, safe='')}"
    return post(client, url, url, **data)


def test_enrolment_with_an_old_authentication_asks_to_confirm_first(client):
    user = logged_in(client)
    authenticated_long_ago()
    response = client.get("/account/security/totp?next=/account")
    assert response.status_code == 302
    assert response.location.startswith("/account/confirm?next=")
    assert unquote(response.location.split("next=", 1)[1]) == "/account/security/totp?next=/account"
    assert db.session.query(TotpCredential).filter_by(user_id=user.id).count() == 0


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("/account/security/totp/remove", {}),
        ("/account/security/recovery-codes", {}),
        ("/account/security/always", {"always": ""}),
        ("/account/security/totp", {"otp": "123456"}),
    ],
)
def test_factor_changes_with_an_old_authentication_change_nothing(client, action, data):
    user = logged_in(client)
    enrol_totp(user, always=True)
    codes = recovery_codes(user)
    authenticated_long_ago()
    response = post(client, "/account/security", action, **data)
    assert response.status_code == 302
    assert response.location.startswith("/account/confirm?next=")
    db.session.expire_all()
    assert user.mfa_always and recovery.use(db.session, user, codes[0])
    assert db.session.query(TotpCredential).filter_by(user_id=user.id).count() == 1
    assert security_emails(user) == []


def test_authentication_just_within_the_limit_is_recent(client):
    user = logged_in(client)
    enrol_totp(user)
    authenticated_long_ago(seconds=9 * 60)
    response = post(client, "/account/security", "/account/security/always", always="y")
    assert response.location.endswith("/account/security")
    db.session.expire_all()
    assert user.mfa_always


def test_confirm_with_password_renews_the_authentication_and_goes_on(client):
    logged_in(client)
    authenticated_long_ago()
    old = _auth_time()
    page = client.get(f"{CONFIRM}?next=/account/security/totp").get_data(as_text=True)
    assert "Confirmez votre identité" in page and 'name="otp"' not in page  # no code to offer
    response = _confirm(client, "/account/security/totp", password=TEST_PASSWORD)
    assert response.status_code == 302 and response.location == "/account/security/totp"
    assert _auth_time() > old + timedelta(minutes=50)
    assert [e.details["method"] for e in _events("reauthenticated")] == ["pwd"]
    assert client.get("/account/security/totp").status_code == 200  # no longer sent back


def test_confirm_with_a_wrong_password_is_refused_audited_and_counted_as_a_login_failure(
    app, client, configure
):
    configure(throttles__login_failures_per_account="3 per 15 minutes")
    logged_in(client)
    authenticated_long_ago()
    old = _auth_time()
    response = _confirm(client, password="pas le bon mot de passe")
    assert response.status_code == 200
    assert "Le mot de passe est incorrect." in response.get_data(as_text=True)
    assert _auth_time() == old and _events("reauthenticated") == []
    assert len(_events("login_failed")) == 1
    statuses = [_confirm(client, password=f"faux {n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]
    # The same counter as the login page: the right password waits too, here and there.
    assert _confirm(client, password=TEST_PASSWORD).status_code == 429
    other = app.test_client()
    assert login(other, "camille.martin").status_code == 429
    assert _events("login_throttled")


def test_confirm_with_a_totp_code_and_its_replay_refused(client):
    user = logged_in(client)
    secret = enrol_totp(user)
    authenticated_long_ago()
    code = code_at(secret)
    assert 'name="otp"' in client.get(CONFIRM).get_data(as_text=True)
    response = _confirm(client, otp=code)
    assert response.status_code == 302 and response.location == "/account/security"
    assert [e.details["method"] for e in _events("reauthenticated")] == ["otp"]
    authenticated_long_ago()
    replay = _confirm(client, otp=code)
    assert replay.status_code == 200
    assert "Code incorrect, expiré ou déjà utilisé." in replay.get_data(as_text=True)
    assert len(_events("reauthenticated")) == 1 and len(_events("second_factor_failed")) == 1


def test_confirm_with_a_recovery_code_spends_it_and_emails_the_user(client):
    user = logged_in(client)
    enrol_totp(user)
    codes = recovery_codes(user)
    authenticated_long_ago()
    assert _confirm(client, otp=codes[2].upper()).status_code == 302
    assert recovery.remaining(db.session, user) == 9
    (email,) = security_emails(user)
    assert "Un code de secours a été utilisé" in email.body_text


def test_confirm_with_nothing_says_what_to_type(client):
    logged_in(client)
    response = _confirm(client)
    assert response.status_code == 200
    assert "Saisissez votre mot de passe, ou un code" in response.get_data(as_text=True)
    assert _events("reauthenticated") == [] and _events("login_failed") == []


def test_confirm_needs_a_login(client):
    response = client.get(CONFIRM)
    assert response.status_code == 302 and "/login" in response.location


@pytest.mark.parametrize("target", HOSTILE_NEXT_TARGETS)
def test_confirm_never_goes_to_another_site(client, target):
    logged_in(client)
    response = _confirm(client, target, password=TEST_PASSWORD)
    assert response.status_code == 302 and response.location == "/account/security"


def test_confirmed_identity_lasts_the_recent_authentication_window_only(client):
    user = logged_in(client)
    enrol_totp(user)
    authenticated_long_ago()
    _confirm(client, password=TEST_PASSWORD)
    db.session.execute(
        UserSession.__table__.update().values(auth_time=utcnow() - timedelta(minutes=11))
    )
    db.session.commit()
    response = post(client, "/account/security", "/account/security/always", always="y")
    assert response.location.startswith("/account/confirm")
