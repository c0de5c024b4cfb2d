"""idp/database.py: constraint violations are named on SQLite and PostgreSQL alike, so each
uniqueness rule maps to its own domain error and use cases compose (ADR 0007)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from idp.accounts import services
from idp.accounts.errors import UsernameTaken
from idp.accounts.models import User
from idp.database import flush_or_raise, violated_constraint
from idp.extensions import db
from tests.factories import create_user


def test_database_violation_names_the_constraint_on_every_backend(app):
    create_user("jean.dupont")
    db.session.add(
        User(username="jean.dupont", email="x@y.example", given_name="J", family_name="D")
    )
    with pytest.raises(IntegrityError) as caught:
        db.session.flush()
    db.session.rollback()
    assert violated_constraint(caught.value, db.metadata) == "uq_users_username"


def test_database_flush_or_raise_maps_the_violation_and_rolls_back_the_use_case(app):
    """A use case writes an account and then a second row whose rule breaks: nothing of it
    remains, and the caller gets the rule's own error."""
    first = create_user("jean.dupont")
    account = services.NewAccount(
        "marie.curie", "m@c.example", "Marie", "Curie", "radium polonium nobel 1903"
    )
    services.register_user(db.session, account)  # flushed, not committed
    db.session.add(
        User(username="jean.dupont", email="x@y.example", given_name="J", family_name="D")
    )
    with pytest.raises(UsernameTaken):
        flush_or_raise(db.session)
    assert db.session.query(User).filter_by(username="marie.curie").count() == 0
    assert db.session.query(User).count() == 1 and db.session.get(User, first.id) is not None


def test_database_unmapped_violation_is_raised_as_is(app):
    user = create_user("jean.dupont")
    db.session.add(
        User(
            subject=user.subject,
            username="autre",
            email="a@b.example",
            given_name="A",
            family_name="B",
        )
    )
    with pytest.raises(IntegrityError):
        flush_or_raise(db.session)
