"""Recovery codes (idp/mfa/recovery.py): ten, hashed, single use, replaced on regeneration."""

from __future__ import annotations

from sqlalchemy import text

from idp.accounts.models import User
from idp.extensions import db
from idp.mfa import recovery
from tests.factories import create_user
from tests.idp.mfa.support import race, recovery_codes


def test_recovery_codes_are_ten_distinct_and_stored_hashed(app):
    user = create_user("camille.martin")
    codes = recovery_codes(user)
    assert len(set(codes)) == 10
    stored = db.session.execute(text("SELECT code_digest FROM mfa_recovery_codes")).scalars().all()
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert all(code.replace("-", "") not in " ".join(stored) for code in codes)


def test_recovery_code_is_single_use(app):
    user = create_user("camille.martin")
    code = recovery_codes(user)[0]
    assert recovery.use(db.session, user, code.upper().replace("-", " "))
    db.session.commit()
    assert not recovery.use(db.session, user, code)
    assert recovery.remaining(db.session, user) == 9


def test_recovery_code_of_another_account_is_refused(app):
    alice, bob = create_user("alice.martin"), create_user("bob.durand")
    code = recovery_codes(alice)[0]
    assert not recovery.use(db.session, bob, code)


def test_regenerating_recovery_codes_invalidates_the_old_ones(app):
    user = create_user("camille.martin")
    old = recovery_codes(user)
    recovery_codes(user)
    assert not recovery.use(db.session, user, old[1])
    assert recovery.remaining(db.session, user) == 10


def test_recovery_code_concurrent_uses_let_one_through(committed_app):
    """Threads need commits other connections see: an app on its own database."""
    with committed_app.app_context():
        user = create_user("camille.martin")
        code = recovery_codes(user)[0]
        user_id = user.id
        db.session.remove()
    results = race(
        committed_app, lambda: recovery.use(db.session, db.session.get(User, user_id), code), 6
    )
    assert results.count(True) == 1
