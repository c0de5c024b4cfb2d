"""idp/audit/services.py: every event names its subject and who acted; "Mon compte" shows both."""

from __future__ import annotations

from idp.audit.models import AuditEvent
from idp.extensions import db
from tests.helpers import TEST_PASSWORD, login


def test_audit_cli_created_account_shows_the_administrator_on_mon_compte(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "users",
            "create",
            "jean.dupont",
            "--email",
            "j@cabinet.example",
            "--active",
            "--password-stdin",
        ],
        input=TEST_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    event = db.session.query(AuditEvent).filter_by(event_type="account_created_by_admin").one()
    assert event.actor_kind == "cli" and event.actor_id is None and event.subject_id
    login(client, "jean.dupont")
    page = client.get("/account").get_data(as_text=True)
    assert "Compte créé" in page and "un administrateur (serveur)" in page
    assert "vous" in page  # the login, by the account itself


def test_audit_cli_disable_names_the_cli_as_actor(app):
    from tests.factories import create_user

    user = create_user("jean.dupont")
    result = app.test_cli_runner().invoke(args=["users", "disable", "jean.dupont"])
    assert result.exit_code == 0, result.output
    event = db.session.query(AuditEvent).filter_by(event_type="account_disabled").one()
    assert (event.subject_id, event.actor_kind) == (user.id, "cli")
    ended = db.session.query(AuditEvent).filter_by(event_type="session_ended").all()
    assert all(e.actor_kind == "cli" for e in ended)


def test_audit_mail_retry_is_an_audited_service(app):
    from idp.mail.models import OutboxStatus
    from tests.factories import create_outbox_message

    message = create_outbox_message(status=OutboxStatus.FAILED)
    result = app.test_cli_runner().invoke(args=["mail", "retry", str(message.id)])
    assert result.exit_code == 0, result.output
    event = db.session.query(AuditEvent).filter_by(event_type="outbox_retried").one()
    assert event.actor_kind == "cli" and event.details["ids"] == [message.id]
