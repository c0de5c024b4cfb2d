"""SECURITY.md 7: concurrent signups for one username create exactly one account."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from idp.accounts import services
from idp.accounts.errors import UsernameTaken
from idp.accounts.models import User
from idp.extensions import db
from idp.mail.models import OutboxMessage


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
                    services.NewAccount(
                        "Jean.Dupont" if n % 2 else "jean.dupont",
                        f"jean{n}@cabinet.example",
                        "Jean",
                        "Dupont",
                        "cheval agrafe batterie correcte",
                    ),
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
