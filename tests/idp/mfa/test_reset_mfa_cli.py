"""`idp users reset-mfa USERNAME` (idp/mfa/cli.py): the Order's procedure for a user who lost
every factor: everything removed, audited with the CLI as actor, the user emailed."""

from __future__ import annotations

from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.mfa import factors, recovery
from idp.mfa.models import Passkey
from tests.factories import create_user
from tests.helpers import login
from tests.idp.mfa.security_support import security_emails
from tests.idp.mfa.support import enrol_totp, recovery_codes


def _user_with_every_factor():
    user = create_user("camille.martin")
    enrol_totp(user, always=True)
    recovery_codes(user)
    db.session.add(Passkey(user_id=user.id, credential_id=b"k1", public_key=b"pk", name="Clé"))
    db.session.commit()
    return user


def _reset(app, *args: str, **kwargs):
    return app.test_cli_runner().invoke(args=["users", "reset-mfa", *args], **kwargs)


def test_reset_mfa_removes_every_factor_audits_and_emails(app, client):
    user = _user_with_every_factor()
    result = _reset(app, "Camille.Martin", "--yes")
    assert result.exit_code == 0, result.output
    assert (
        result.stdout.count("\n") == 1
        and "camille.martin : seconds facteurs retirés" in result.stdout
    )
    db.session.expire_all()
    assert not factors.has_second_factor(db.session, user) and not user.mfa_always
    assert recovery.remaining(db.session, user) == 0
    (event,) = db.session.query(AuditEvent).filter_by(event_type="mfa_reset").all()
    assert event.actor_kind == "cli" and event.subject_id == user.id
    (email,) = security_emails(user)
    assert "administrateurs de l'Ordre ont retiré tous les seconds facteurs" in email.body_text
    assert login(client, "camille.martin").location.endswith("/account")  # the password alone


def test_reset_mfa_unknown_user_exits_1_with_a_french_message(app):
    result = _reset(app, "personne", "--yes")
    assert result.exit_code == 1
    assert "Aucun compte avec l'identifiant « personne »" in result.stderr
    assert result.stdout == ""


def test_reset_mfa_asks_for_confirmation_and_a_no_changes_nothing(app):
    user = _user_with_every_factor()
    result = _reset(app, "camille.martin", input="n\n")
    assert result.exit_code == 1 and "vérifiée" in result.output
    db.session.expire_all()
    assert factors.has_second_factor(db.session, user) and user.mfa_always
    assert security_emails(user) == []
    result = _reset(app, "camille.martin", input="y\n")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert not factors.has_second_factor(db.session, user)


def test_reset_mfa_of_an_account_without_factor_does_nothing(app):
    user = create_user("camille.martin")
    result = _reset(app, "camille.martin", "--yes")
    assert result.exit_code == 0 and "rien à retirer" in result.output
    assert db.session.query(AuditEvent).filter_by(event_type="mfa_reset").count() == 0
    assert security_emails(user) == []
