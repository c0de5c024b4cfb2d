"""TOTP enrolment and removal on « Sécurité avancée » (idp/mfa/security_views.py, manage.py):
QR code and secret, the first code confirms (wrong, replayed, throttled), the session steps
up with a new cookie (docs/security.md 14), recovery codes shown once, removal of the last
factor."""

from __future__ import annotations

import threading
from urllib.parse import quote

from idp.accounts.models import User, UserSession
from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.mfa import manage, recovery, totp
from idp.mfa.models import Passkey, RecoveryCode, TotpCredential
from idp.oidc.acr import ACR_ADVANCED
from tests.factories import create_user
from tests.helpers import csrf_token, login
from tests.idp.mfa.security_support import (
    enrolment_secret,
    logged_in,
    post,
    security_emails,
    shown_codes,
)
from tests.idp.mfa.support import code_at, enrol_totp, recovery_codes, submit_second_factor

ENROL = "/account/security/totp"
WRONG = "Ce code ne correspond pas."


def _events(event_type: str) -> list[AuditEvent]:
    db.session.expire_all()
    return db.session.query(AuditEvent).filter_by(event_type=event_type).all()


def _credential(user) -> TotpCredential | None:
    db.session.expire_all()
    return db.session.query(TotpCredential).filter_by(user_id=user.id).one_or_none()


def _live_session() -> UserSession:
    db.session.expire_all()
    return db.session.query(UserSession).filter(UserSession.revoked_at.is_(None)).one()


def test_enrolment_page_shows_a_qr_code_and_the_secret_kept_across_reloads(client):
    user = logged_in(client)
    page = client.get(ENROL).get_data(as_text=True)
    secret = enrolment_secret(page)
    assert (
        '<svg role="img"' in page and "<script>" not in page.split("<svg", 1)[1].split("</svg>")[0]
    )
    assert "Code à 6 chiffres" in page
    credential = _credential(user)
    assert credential is not None and credential.secret == secret and not credential.is_confirmed
    # A reload (or a language switch) must not change what the person already scanned.
    assert enrolment_secret(client.get(ENROL).get_data(as_text=True)) == secret


def test_enrolment_with_the_first_code_adds_totp_and_shows_ten_recovery_codes_once(client):
    user = logged_in(client)
    secret = enrolment_secret(client.get(ENROL).get_data(as_text=True))
    response = post(client, ENROL, ENROL, otp=code_at(secret))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert "Imprimez-les ou copiez-les" in page
    codes = shown_codes(page)
    assert len(codes) == 10 == len(set(codes))
    assert _credential(user).is_confirmed
    stored = [row.code_digest for row in db.session.query(RecoveryCode).filter_by(user_id=user.id)]
    assert len(stored) == 10
    assert not any(
        code in digest or code.replace("-", "") in digest for code in codes for digest in stored
    )
    assert recovery.use(db.session, user, codes[0])  # they work
    assert len(_events("totp_added")) == 1 and len(_events("recovery_codes_generated")) == 1
    (email,) = security_emails(user)
    assert "application d'authentification a été ajoutée" in email.body_text
    # The codes are never shown again.
    assert not shown_codes(client.get("/account/security").get_data(as_text=True))


def test_enrolment_steps_the_session_up_and_rotates_its_cookie(client):
    logged_in(client)
    before = _live_session()
    old_hash, old_cookie = before.token_hash, client.get_cookie("sesame_session").value
    secret = enrolment_secret(client.get(ENROL).get_data(as_text=True))
    post(client, ENROL, ENROL, otp=code_at(secret))
    after = _live_session()
    assert after.id == before.id and after.token_hash != old_hash
    assert after.acr == ACR_ADVANCED and after.amr.split() == ["pwd", "otp", "mfa"]
    client.set_cookie("sesame_session", old_cookie)
    assert client.get("/account").status_code == 302  # the old cookie designates nothing


def test_enrolment_code_cannot_be_used_again(client):
    user = logged_in(client)
    secret = enrolment_secret(client.get(ENROL).get_data(as_text=True))
    code = code_at(secret)
    post(client, ENROL, ENROL, otp=code)
    # Posting it again: the TOTP exists, nothing is replaced.
    page = post(client, ENROL, ENROL, otp=code).get_data(as_text=True)
    assert "déjà une application d'authentification" in page
    assert _credential(user).secret == secret
    # At the second-factor page of a new password login, the enrolment's code is spent.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/logout")})
    login(client, user.username)
    response = submit_second_factor(client, code, "/login/verify?next=/account")
    assert response.status_code == 200
    assert "Code incorrect, expiré ou déjà utilisé." in response.get_data(as_text=True)


def test_concurrent_confirmations_of_one_code_enrol_once(committed_app):
    """Threads need commits other connections see: an app on its own database."""
    with committed_app.app_context():
        user = create_user("camille.martin")
        secret = totp.start_enrolment(db.session, user).secret
        db.session.commit()
        user_id = user.id
        db.session.remove()
    code = code_at(secret)
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        with committed_app.test_request_context():
            barrier.wait()
            try:
                account = db.session.get(User, user_id)
                manage.confirm_totp(db.session, account, code, ip="192.0.2.1")
                db.session.commit()
                results.append(True)
            except manage.WrongEnrolmentCode:
                db.session.rollback()
                results.append(False)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    with committed_app.app_context():
        assert len(_events("totp_added")) == 1
        assert db.session.query(RecoveryCode).filter_by(user_id=user_id).count() == 10
        db.session.remove()


def test_enrolment_with_a_wrong_code_is_refused_precisely_and_audited(client):
    user = logged_in(client)
    secret = enrolment_secret(client.get(ENROL).get_data(as_text=True))
    wrong = f"{(int(code_at(secret)) + 1) % 1_000_000:06d}"
    response = post(client, ENROL, ENROL, otp=wrong)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert WRONG in page and 'aria-invalid="true"' in page
    assert enrolment_secret(page) == secret  # the same secret, to try again
    assert not _credential(user).is_confirmed
    assert [e.details for e in _events("second_factor_failed")] == [{"during": "enrolment"}]
    assert _events("totp_added") == [] and security_emails(user) == []


def test_enrolment_code_with_letters_is_refused_by_the_form(client):
    user = logged_in(client)
    client.get(ENROL)
    page = post(client, ENROL, ENROL, otp="12a456").get_data(as_text=True)
    assert "Saisissez les 6 chiffres affichés par votre application" in page
    assert not _credential(user).is_confirmed and _events("second_factor_failed") == []


def test_enrolment_guesses_are_throttled_per_account(client, configure):
    configure(throttles__otp_failures_per_account="3 per 15 minutes")
    user = logged_in(client)
    secret = enrolment_secret(client.get(ENROL).get_data(as_text=True))
    right = code_at(secret)
    wrong = [f"{(int(right) + n) % 1_000_000:06d}" for n in range(100_000, 500_000, 100_000)]
    statuses = [post(client, ENROL, ENROL, otp=code).status_code for code in wrong]
    assert statuses == [200, 200, 200, 429]
    response = post(client, ENROL, ENROL, otp=right)  # even the right code waits
    assert response.status_code == 429 and "Trop de tentatives" in response.get_data(as_text=True)
    assert not _credential(user).is_confirmed
    assert len(_events("second_factor_throttled")) == 2


def test_enrolment_page_with_a_totp_says_remove_it_first(client):
    user = logged_in(client)
    secret = enrol_totp(user)
    page = client.get(ENROL).get_data(as_text=True)
    assert "retirez-la d'abord" in page and "<svg" not in page
    assert _credential(user).secret == secret


def test_enrolment_keeps_existing_recovery_codes(client):
    user = logged_in(client)
    old = recovery_codes(user)
    secret = enrolment_secret(client.get(ENROL).get_data(as_text=True))
    response = post(client, ENROL, ENROL, otp=code_at(secret))
    assert response.status_code == 302 and response.location.endswith("/account/security")
    assert recovery.use(db.session, user, old[0])
    assert _events("recovery_codes_generated") == []


def test_enrolment_keeps_the_way_back_and_skips_the_spent_second_factor_page(client):
    logged_in(client)
    authorize = "/authorize?client_id=abc&acr_values=urn%3Asesame%3Aacr%3Amfa"
    verify = f"/login/verify?next={quote(authorize, safe='')}"
    security = client.get(f"/account/security?next={quote(verify, safe='')}").get_data(as_text=True)
    assert "ajoutez ci-dessous un second facteur" in security.lower()
    enrol = f"{ENROL}?next={quote(verify, safe='')}"
    assert 'href="/account/security/totp?next=' in security  # the way back is kept
    secret = enrolment_secret(client.get(enrol).get_data(as_text=True))
    page = post(client, enrol, enrol, otp=code_at(secret)).get_data(as_text=True)
    # The session is stepped up by the enrolment code: « Continuer » goes straight back.
    assert f'href="{authorize.replace("&", "&amp;")}"' in page and "Continuer" in page


def test_enrolment_next_must_be_local(client):
    logged_in(client)
    enrol = f"{ENROL}?next=//evil.example"
    secret = enrolment_secret(client.get(enrol).get_data(as_text=True))
    page = post(client, enrol, enrol, otp=code_at(secret)).get_data(as_text=True)
    assert 'href="/account/security">Continuer' in page.replace('"\n', '"')
    assert 'href="//evil.example' not in page


def test_removing_the_last_factor_drops_recovery_codes_and_always_ask(client):
    user = logged_in(client)
    enrol_totp(user, always=True)
    recovery_codes(user)
    response = post(client, "/account/security", "/account/security/totp/remove")
    assert response.status_code == 302 and response.location.endswith("/account/security")
    db.session.expire_all()
    assert _credential(user) is None and not user.mfa_always
    assert db.session.query(RecoveryCode).filter_by(user_id=user.id).count() == 0
    assert len(_events("totp_removed")) == 1
    (email,) = security_emails(user)
    assert "retirée de votre compte" in email.body_text
    page = client.get("/account/security").get_data(as_text=True)
    assert "L'application d'authentification est retirée" in page.replace("&#39;", "'")
    assert "Ajouter une application d'authentification" in page.replace("&#39;", "'")


def test_removing_totp_keeps_recovery_codes_while_a_passkey_remains(client):
    user = logged_in(client)
    enrol_totp(user, always=True)
    recovery_codes(user)
    db.session.add(Passkey(user_id=user.id, credential_id=b"k1", public_key=b"pk", name="Clé"))
    db.session.commit()
    post(client, "/account/security", "/account/security/totp/remove")
    db.session.expire_all()
    assert _credential(user) is None and user.mfa_always
    assert db.session.query(RecoveryCode).filter_by(user_id=user.id).count() == 10


def test_removing_totp_without_one_changes_nothing(client):
    user = logged_in(client)
    response = post(client, "/account/security", "/account/security/totp/remove")
    assert response.status_code == 302
    assert _events("totp_removed") == [] and security_emails(user) == []
