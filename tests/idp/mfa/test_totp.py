"""TOTP codes (idp/mfa/totp.py): one step of drift either side, single use, atomic under
concurrent use, secrets sealed at rest."""

from __future__ import annotations

from sqlalchemy import text

from idp.accounts.models import User
from idp.extensions import db
from idp.mfa import totp
from tests.factories import create_user
from tests.idp.mfa.support import code_at, enrol_totp, last_used_step, race


def test_totp_accepts_one_step_of_drift_either_side_and_no_more(app):
    user = create_user("camille.martin")
    secret = enrol_totp(user)
    now = 1_900_000_000.0
    assert totp.matching_step(secret, code_at(secret, -1, now=now), now=now) is not None
    assert totp.matching_step(secret, code_at(secret, 1, now=now), now=now) is not None
    assert totp.matching_step(secret, code_at(secret, -2, now=now), now=now) is None
    assert totp.matching_step(secret, code_at(secret, 2, now=now), now=now) is None
    assert totp.matching_step(secret, "12345", now=now) is None
    assert totp.matching_step(secret, "abcdef", now=now) is None


def test_totp_code_is_single_use_and_earlier_steps_are_refused_after_it(app):
    user = create_user("camille.martin")
    secret = enrol_totp(user)
    current = code_at(secret)
    assert totp.verify(db.session, user, current)
    db.session.commit()
    assert not totp.verify(db.session, user, current)  # replay within its window
    assert not totp.verify(db.session, user, code_at(secret, -1))  # an older step
    assert last_used_step(user) > 0


def test_totp_code_with_spaces_is_accepted(app):
    user = create_user("camille.martin")
    secret = enrol_totp(user)
    code = code_at(secret)
    assert totp.verify(db.session, user, f"{code[:3]} {code[3:]}")


def test_totp_unconfirmed_secret_does_not_verify(app):
    user = create_user("camille.martin")
    credential = totp.start_enrolment(db.session, user)
    db.session.commit()
    assert not totp.verify(db.session, user, code_at(credential.secret))
    wrong = f"{(int(code_at(credential.secret)) + 1) % 1_000_000:06d}"
    assert totp.confirm_enrolment(db.session, user, wrong) is None
    assert totp.confirm_enrolment(db.session, user, code_at(credential.secret)) is not None
    db.session.commit()
    assert totp.confirmed_credential(db.session, user) is not None


def test_totp_concurrent_uses_of_one_code_let_one_through(committed_app):
    """Threads need commits other connections see: an app on its own database."""
    with committed_app.app_context():
        user = create_user("camille.martin")
        secret = enrol_totp(user)
        user_id = user.id
        db.session.remove()
    code = code_at(secret)
    results = race(
        committed_app, lambda: totp.verify(db.session, db.session.get(User, user_id), code), 8
    )
    assert results.count(True) == 1


def test_totp_secret_is_sealed_at_rest(app):
    user = create_user("camille.martin")
    secret = enrol_totp(user)
    stored = db.session.execute(text("SELECT secret FROM mfa_totp_credentials")).scalar_one()
    assert secret not in stored and stored.startswith("sealed:")
