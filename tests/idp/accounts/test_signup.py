"""Signup, a use case of idp/accounts/services.py: `check_new_account`, `sign_up`,
`register_user` and `count_rejected_signup`, through the "Autre" signup page as a new user
meets it (issue 11, what a new user tripped on), and concurrent signups for one username
(SECURITY.md 7). The activation email it queues: test_activation.py.
"""

from __future__ import annotations

import re
import threading

from sqlalchemy import func, select

from idp.accounts import services
from idp.accounts.errors import UsernameTaken
from idp.accounts.models import User
from idp.extensions import db
from idp.mail.delivery import deliver_pending
from idp.mail.models import OutboxMessage
from tests.factories import create_user
from tests.helpers import SIGNUP_PASSWORD, signup


def _value_of(page: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    assert match, name
    value = re.search(r'value="([^"]*)"', match.group(0))
    return value.group(1) if value else None


def test_signup_shows_every_error_in_one_round_with_a_summary(client):
    response = signup(
        client, username="ad", email="pas-une-adresse", password="court", given_name="Marie"
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="error-summary"' in page
    assert "entre 3 et 30 caractères" in page  # username
    assert "Adresse email invalide." in page  # email
    assert "au moins 12 caractères" in page or "ne correspondent pas" in page  # password
    assert db.session.query(User).count() == 0


def test_signup_keeps_the_passwords_when_another_field_is_refused(client):
    create_user("marie.curie", email="autre@cabinet.example")
    page = signup(client).get_data(as_text=True)  # username taken
    assert "déjà pris" in page
    assert _value_of(page, "password") == SIGNUP_PASSWORD
    assert _value_of(page, "password_confirm") == SIGNUP_PASSWORD


def test_signup_blanks_the_passwords_when_the_password_is_refused(client):
    page = signup(client, password="motdepasse123").get_data(as_text=True)
    assert _value_of(page, "password") in (None, "")
    assert _value_of(page, "password_confirm") in (None, "")


def test_signup_honest_mistakes_do_not_lock_a_person_out(client, configure):
    """Rejected submissions are throttled apart (and gently): twelve mistakes in a row, then
    a correct signup goes through."""
    configure(throttles__signups_per_ip="10 per hour")
    for n in range(12):
        assert signup(client, username=f"x{n}!", email=f"m{n}@c.example").status_code == 200
    assert signup(client).status_code == 302
    assert db.session.query(User).filter_by(username="marie.curie").count() == 1


def test_signup_accepted_signups_are_limited_per_ip(client, configure):
    configure(throttles__signups_per_ip="2 per hour")
    for n in range(2):
        assert signup(client, username=f"marie{n}", email=f"m{n}@c.example").status_code == 302
    refused = signup(client, username="marie9", email="m9@c.example")
    assert refused.status_code == 429
    assert "Trop de tentatives" in refused.get_data(as_text=True)


def test_signup_rejected_forms_are_throttled_too(client, configure):
    configure(throttles__rejected_forms_per_ip="3 per 15 minutes")
    statuses = [signup(client, username="!!").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_signup_sends_activation_mail_over_smtp(client, smtp):
    response = signup(client)
    assert response.status_code == 302
    assert deliver_pending(db.session).sent == 1
    assert smtp.links("marie@cabinet.example")[0].startswith("http://idp.test/activate/")


# --- SECURITY.md 7: concurrent signups for one username create exactly one account ---------


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
