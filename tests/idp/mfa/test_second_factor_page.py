"""The second factor at login and on the second-factor page (idp/mfa/views.py, flow.py):
the login form's `otp` field, "toujours demander", step-up of a live session with session
rotation (docs/security.md 14), throttling, recovery codes announced by email."""

from __future__ import annotations

from idp.accounts.models import UserSession
from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.mfa.factors import otp_failures_per_account
from idp.oidc.acr import ACR_ADVANCED, ACR_BASIC
from tests.factories import create_user
from tests.helpers import csrf_token, login, outbox
from tests.idp.mfa.support import (
    code_at,
    enrol_totp,
    login_with_otp,
    recovery_codes,
    submit_second_factor,
)

WRONG = "Code incorrect, expiré ou déjà utilisé."


def _sessions() -> list[UserSession]:
    db.session.expire_all()
    return db.session.query(UserSession).filter(UserSession.revoked_at.is_(None)).all()


def test_login_with_otp_field_opens_an_mfa_session(client):
    user = create_user("camille.martin")
    secret = enrol_totp(user)
    response = login_with_otp(client, "camille.martin", code_at(secret))
    assert response.status_code == 302
    (session,) = _sessions()
    assert session.acr == ACR_ADVANCED and session.amr.split() == ["pwd", "otp", "mfa"]


def test_login_with_wrong_otp_opens_no_session(client):
    user = create_user("camille.martin")
    enrol_totp(user)
    response = login_with_otp(client, "camille.martin", "000000")
    assert response.status_code == 200
    assert WRONG in response.get_data(as_text=True)
    assert _sessions() == []


def test_login_without_always_ask_is_a_password_session(client):
    user = create_user("camille.martin")
    enrol_totp(user)
    assert login(client, "camille.martin").status_code == 302
    (session,) = _sessions()
    assert session.acr in ("", ACR_BASIC) and session.amr == "pwd"


def test_always_ask_holds_the_login_until_the_second_factor(client):
    user = create_user("camille.martin")
    secret = enrol_totp(user, always=True)
    response = login(client, "camille.martin")
    assert response.status_code == 302 and response.location.endswith("/login/verify")
    assert _sessions() == []  # no session before the second factor
    assert client.get("/account").status_code == 302
    page = client.get("/login/verify").get_data(as_text=True)
    assert "Vérification en deux étapes" in page
    response = submit_second_factor(client, code_at(secret))
    assert response.status_code == 302 and response.location.endswith("/account")
    (session,) = _sessions()
    assert session.acr == ACR_ADVANCED
    assert client.get("/account").status_code == 200


def test_always_ask_wrong_code_keeps_waiting_and_is_audited(client):
    user = create_user("camille.martin")
    enrol_totp(user, always=True)
    login(client, "camille.martin")
    response = submit_second_factor(client, "123456")
    assert response.status_code == 200 and WRONG in response.get_data(as_text=True)
    assert _sessions() == []
    assert db.session.query(AuditEvent).filter_by(event_type="second_factor_failed").count() == 1


def test_step_up_rotates_the_session_cookie_and_raises_acr(client):
    """docs/security.md 14: the session id changes at privilege change; the old cookie is
    useless afterwards."""
    user = create_user("camille.martin")
    secret = enrol_totp(user)
    login(client, "camille.martin")
    (before,) = _sessions()
    old_cookie = client.get_cookie("sesame_session").value
    old_hash = before.token_hash
    response = submit_second_factor(client, code_at(secret), "/login/verify?next=/account")
    assert response.status_code == 302 and response.location.endswith("/account")
    (after,) = _sessions()
    assert after.id == before.id and after.public_id == before.public_id
    assert after.token_hash != old_hash and after.acr == ACR_ADVANCED
    assert client.get_cookie("sesame_session").value != old_cookie
    client.set_cookie("sesame_session", old_cookie)
    assert client.get("/account").status_code == 302  # the old cookie designates nothing


def test_second_factor_page_needs_a_login(client):
    response = client.get("/login/verify")
    assert response.status_code == 302 and "/login" in response.location


def test_second_factor_page_without_factor_guides_to_enrolment(client):
    create_user("camille.martin")
    login(client, "camille.martin")
    page = client.get("/login/verify?next=/account").get_data(as_text=True)
    assert "Ajouter un second facteur" in page


def test_second_factor_guesses_are_throttled(client):
    user = create_user("camille.martin")
    enrol_totp(user)
    login(client, "camille.martin")
    statuses = [submit_second_factor(client, f"{n:06d}").status_code for n in range(1, 8)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    assert otp_failures_per_account.is_exhausted(str(user.id))


def test_recovery_code_passes_the_second_factor_once_and_emails_the_user(client):
    user = create_user("camille.martin")
    enrol_totp(user, always=True)
    code = recovery_codes(user)[3]
    login(client, "camille.martin")
    assert submit_second_factor(client, code).status_code == 302
    assert [m for m in outbox() if "code de secours" in m.body_text]
    assert db.session.query(AuditEvent).filter_by(event_type="recovery_code_used").count() == 1
    client.post("/logout", data={"csrf_token": csrf_token(client, "/logout")})
    login(client, "camille.martin")
    response = submit_second_factor(client, code)
    assert response.status_code == 200 and WRONG in response.get_data(as_text=True)


def test_pending_login_dies_with_a_password_change(client, app):
    user = create_user("camille.martin")
    secret = enrol_totp(user, always=True)
    login(client, "camille.martin")
    user.credential_epoch += 1  # a reset elsewhere
    db.session.commit()
    assert client.get("/login/verify").location.endswith("/login")
    response = client.post("/login/verify", data={"otp": code_at(secret)})
    assert response.status_code in (302, 400)
    assert _sessions() == []


def test_second_factor_page_lets_an_already_stepped_up_session_through(client):
    user = create_user("camille.martin")
    secret = enrol_totp(user)
    login_with_otp(client, "camille.martin", code_at(secret))
    response = client.get("/login/verify?next=/account/security")
    assert response.status_code == 302 and response.location.endswith("/account/security")
