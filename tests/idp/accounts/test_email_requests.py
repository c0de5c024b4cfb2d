"""idp/accounts/email_requests.py: anonymous email requests answer the same whether an account
exists or not, in content *and in work done* (issue 11, defect 5), and are processed once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from idp.accounts import email_requests
from idp.accounts.models import User, UserStatus
from idp.extensions import db
from idp.mail.models import OutboxMessage
from tests.factories import create_user
from tests.helpers import csrf_token, signup, without_tokens


class StatementLog:
    """The SQL statements the app runs while the block runs (what its answer's time depends on).

    Savepoints are left out: on PostgreSQL they are the test's own transaction plumbing (a
    commit in a test is a savepoint, see tests/conftest.py), which production does not run.
    """

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __enter__(self) -> StatementLog:
        event.listen(db.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.remove(db.engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "SAVEPOINT" not in statement.upper():
            self.statements.append(" ".join(statement.split())[:60])


@pytest.mark.parametrize(
    ("path", "existing", "unknown"),
    [
        ("/password/forgot", "jean.dupont", "personne.inconnue"),
        ("/activate/resend", "jean.dupont", "personne.inconnue"),
        ("/username/forgot", "jean.dupont@cabinet.example", "personne@nulle-part.example"),
    ],
)
def test_email_request_answer_does_the_same_work_whether_the_account_exists(
    app, client, path, existing, unknown
):
    create_user("jean.dupont", status=UserStatus.PENDING)
    answers, works = [], []
    for identifier in (existing, unknown):
        token = csrf_token(client, path)
        with StatementLog() as log:
            response = client.post(
                path, data={"csrf_token": token, "identifier": identifier}, buffered=False
            )
        answers.append(without_tokens(response.get_data(as_text=True)))
        works.append(log.statements)
        response.close()  # now the request is processed, after the answer
    assert answers[0] == answers[1]
    assert works[0] == works[1]


def test_email_request_reset_is_processed_after_the_answer_and_once(app, client):
    user = create_user("jean.dupont")
    token = csrf_token(client, "/password/forgot")
    response = client.post(
        "/password/forgot",
        data={"csrf_token": token, "identifier": "jean.dupont"},
        buffered=False,
    )
    assert db.session.query(OutboxMessage).filter_by(template="password_reset").count() == 0
    response.close()
    db.session.expire_all()
    messages = db.session.query(OutboxMessage).filter_by(template="password_reset").all()
    assert [m.recipient for m in messages] == [user.email]
    with app.app_context():
        assert email_requests.process_pending(db.session) == 0  # nothing left twice


def test_email_request_left_unprocessed_is_sent_by_the_worker(app):
    """The process died after answering: `idp mail deliver` processes the request."""
    create_user("jean.dupont")
    with app.test_request_context():
        email_requests.queue_request(
            db.session, email_requests.EmailRequestKind.PASSWORD_RESET, "jean.dupont"
        )
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["mail", "deliver"])
    assert result.exit_code in (0, 1), result.output
    db.session.expire_all()
    assert db.session.query(OutboxMessage).filter_by(template="password_reset").count() == 1


def test_email_request_signup_with_an_email_that_has_an_account_tells_its_owner(client):
    """No second account; the owner gets their usernames by email; the page says what it says
    to anyone (it reveals nothing)."""
    create_user("jean.dupont", email="jean@cabinet.example")
    taken = signup(client, email="jean@cabinet.example", username="jean.bis")
    fresh = signup(client, email="nouveau@cabinet.example", username="nouveau.venu")
    assert taken.status_code == fresh.status_code == 302
    assert taken.headers["Location"] == fresh.headers["Location"]
    assert db.session.query(User).filter_by(email="jean@cabinet.example").count() == 1
    notice = db.session.query(OutboxMessage).filter_by(template="signup_email_taken").one()
    assert notice.recipient == "jean@cabinet.example"
    assert "jean.dupont" in notice.body_text and "jean.bis" not in notice.body_text


def test_email_request_forgotten_username_lists_every_account_of_the_address(client):
    create_user("jean.dupont", email="cabinet@dupont.example")
    create_user("jean.dupont2", email="cabinet@dupont.example")
    token = csrf_token(client, "/username/forgot")
    response = client.post(
        "/username/forgot", data={"csrf_token": token, "identifier": "Cabinet@Dupont.example"}
    )
    assert response.status_code == 200
    (message,) = db.session.query(OutboxMessage).filter_by(template="username_reminder").all()
    assert message.recipient == "cabinet@dupont.example"
    assert "jean.dupont" in message.body_text and "jean.dupont2" in message.body_text
