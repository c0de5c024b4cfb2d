"""idp/cli.py: the admin commands idp users create / list / disable (and none renames)."""

from idp.accounts.models import User, UserSession, UserStatus
from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.mail.models import OutboxMessage
from tests.factories import create_user
from tests.helpers import login


def test_cli_users_create_active_non_interactive(app, client):
    result = app.test_cli_runner().invoke(
        args=[
            "users",
            "create",
            "Jean.Dupont",
            "--email",
            "jean@cabinet.example",
            "--given-name",
            "Jean",
            "--family-name",
            "Dupont",
            "--password-stdin",
            "--active",
        ],
        input="cheval agrafe batterie correcte\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.query(User).filter_by(username="jean.dupont").one()
    assert result.output.startswith("jean.dupont\t")
    assert user.subject in result.output and user.status == UserStatus.ACTIVE
    assert db.session.query(OutboxMessage).count() == 0
    assert (
        db.session.query(AuditEvent).filter_by(event_type="account_created_by_admin").count() == 1
    )
    assert login(client, "jean.dupont").status_code == 302


def test_cli_users_create_pending_queues_activation(app):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "marie", "--email", "m@cabinet.example", "--password-stdin"],
        input="radium polonium nobel 1903\n",
    )
    assert result.exit_code == 0, result.output
    message = db.session.query(OutboxMessage).one()
    assert "http://idp.test/activate/" in message.body_text


def test_cli_users_create_refuses_bad_input_with_exit_code_and_french_message(app):
    runner = app.test_cli_runner()
    weak = runner.invoke(
        args=["users", "create", "marie", "--email", "m@cabinet.example", "--password-stdin"],
        input="court\n",
    )
    assert weak.exit_code == 1 and "au moins 12 caractères" in weak.output
    reserved = runner.invoke(
        args=["users", "create", "admin", "--email", "m@cabinet.example", "--password-stdin"],
        input="radium polonium nobel 1903\n",
    )
    assert reserved.exit_code == 1 and "réservé" in reserved.output
    create_user("marie")
    taken = runner.invoke(
        args=["users", "create", "MARIE", "--email", "m@cabinet.example", "--password-stdin"],
        input="radium polonium nobel 1903\n",
    )
    assert taken.exit_code == 1 and "déjà pris" in taken.output
    missing_email = runner.invoke(args=["users", "create", "paul", "--password-stdin"], input="x\n")
    assert missing_email.exit_code == 2
    assert db.session.query(User).count() == 1


def test_cli_users_list_and_disable(app, client):
    create_user("jean.dupont")
    create_user("marie", status=UserStatus.PENDING)
    login(client, "jean.dupont")
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["users", "list"])
    assert listing.exit_code == 0
    assert [line.split("\t")[0] for line in listing.output.splitlines()] == ["jean.dupont", "marie"]
    assert runner.invoke(args=["users", "list", "--status", "pending"]).output.startswith("marie\t")
    disabled = runner.invoke(args=["users", "disable", "Jean.Dupont"])
    assert disabled.exit_code == 0
    assert (
        db.session.query(User).filter_by(username="jean.dupont").one().status == UserStatus.DISABLED
    )
    assert db.session.query(UserSession).filter(UserSession.revoked_at.is_(None)).count() == 0
    assert client.get("/account").status_code == 302
    unknown = runner.invoke(args=["users", "disable", "personne"])
    assert unknown.exit_code == 1 and "Aucun compte" in unknown.output


def test_cli_users_purge_pending_names_the_deleted_accounts(app, configure):
    create_user("marie", status=UserStatus.PENDING)
    create_user("jean.dupont")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "purge-pending"]).stdout == ""  # not expired yet
    configure(activation_token_max_age=0)

    result = runner.invoke(args=["users", "purge-pending"])

    assert result.exit_code == 0
    assert result.stdout == "marie\n"
    assert "1 compte(s) en attente supprimé(s)." in result.stderr
    assert [u.username for u in db.session.query(User)] == ["jean.dupont"]


def test_immutability_no_admin_command_renames(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "--help"])
    assert result.exit_code == 0
    assert "rename" not in result.output.lower()
    for name in ("rename", "set-username", "update"):
        assert runner.invoke(args=["users", name, "jean.dupont", "pirate"]).exit_code != 0
