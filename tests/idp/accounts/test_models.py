"""idp/accounts/models.py, SECURITY.md 6: no path can change a username (or a subject) once
written: the ORM refuses the assignment, the database's triggers refuse any UPDATE, and the
forms ignore a posted username. (No admin command renames: tests/idp/test_cli.py.)"""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from idp.accounts.errors import UsernameImmutable
from idp.accounts.models import User
from idp.extensions import db
from tests.factories import create_user
from tests.helpers import TEST_PASSWORD, change_password, login


def _stored_username(user_id: int) -> str:
    return db.session.execute(
        text("SELECT username FROM users WHERE id = :id"), {"id": user_id}
    ).scalar_one()


def test_immutability_orm_assignment_is_refused(app):
    user = create_user("jean.dupont")
    with pytest.raises(UsernameImmutable):
        user.username = "pirate"
    db.session.rollback()
    assert _stored_username(user.id) == "jean.dupont"


def test_immutability_subject_orm_assignment_is_refused(app):
    user = create_user("jean.dupont")
    subject = user.subject
    with pytest.raises(UsernameImmutable):
        user.subject = "another-subject"
    db.session.rollback()
    assert db.session.get(User, user.id).subject == subject


@pytest.mark.parametrize("column", ["username", "subject"])
def test_immutability_raw_sql_update_is_refused_by_the_database(app, column):
    user = create_user("jean.dupont")
    before = db.session.execute(
        text(f"SELECT {column} FROM users WHERE id = :id"), {"id": user.id}
    ).scalar_one()
    with pytest.raises(DatabaseError, match="immutable"), db.session.begin_nested():
        db.session.execute(
            text(f"UPDATE users SET {column} = 'pirate' WHERE id = :id"), {"id": user.id}
        )
    after = db.session.execute(
        text(f"SELECT {column} FROM users WHERE id = :id"), {"id": user.id}
    ).scalar_one()
    assert after == before


def test_immutability_bulk_orm_update_is_refused_by_the_database(app):
    user = create_user("jean.dupont")
    with pytest.raises(DatabaseError), db.session.begin_nested():
        db.session.query(User).filter_by(id=user.id).update({"username": "pirate"})
    assert _stored_username(user.id) == "jean.dupont"


def test_immutability_other_columns_still_update(app):
    user = create_user("jean.dupont")
    user.given_name = "Jeanne"
    db.session.commit()
    assert db.session.get(User, user.id).given_name == "Jeanne"


def test_immutability_forms_ignore_a_posted_username(client):
    user = create_user("jean.dupont")
    login(client, "jean.dupont")
    change_password(client, TEST_PASSWORD, "une toute autre phrase secrète", username="pirate")
    assert _stored_username(user.id) == "jean.dupont"
