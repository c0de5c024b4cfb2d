"""SECURITY.md 7: concurrent signups for one username create exactly one account."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from idp import create_app
from idp.accounts import services
from idp.accounts.errors import UsernameTaken
from idp.accounts.models import User
from idp.extensions import db
from idp.mail.models import OutboxMessage
from tests.conftest import (
    WORKER,
    base_config,
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)


@pytest.fixture
def committed_app(tmp_path) -> Iterator[Flask]:
    """An app on its own database, where commits are real (threads see each other's)."""
    name = f"sesame_concurrency_{WORKER}"
    url = (
        create_postgres_database(name) if postgres_admin_url() else f"sqlite:///{tmp_path}/c.sqlite"
    )
    app = create_app(base_config(url))
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()
    if postgres_admin_url():
        drop_postgres_database(name)


def test_signup_concurrent_same_username_creates_exactly_one_account(committed_app):
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    outcomes: list[str] = []

    def signup(n: int) -> None:
        with committed_app.test_request_context():
            barrier.wait()
            try:
                services.register_user(
                    db.session,
                    username="Jean.Dupont" if n % 2 else "jean.dupont",
                    email=f"jean{n}@cabinet.example",
                    given_name="Jean",
                    family_name="Dupont",
                    password="cheval agrafe batterie correcte",
                )
                db.session.commit()
                outcomes.append("created")
            except UsernameTaken:
                outcomes.append("taken")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=signup, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["created"] + ["taken"] * (threads_count - 1)
    with committed_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
        user = db.session.scalars(select(User)).one()
        # the losers left nothing behind: one activation email, for the winner
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        assert db.session.scalars(select(OutboxMessage)).one().user_id == user.id
