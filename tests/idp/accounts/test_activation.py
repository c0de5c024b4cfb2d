"""Activation, a use case of idp/accounts/services.py: `queue_activation_email`,
`user_for_activation_token`, `activate` and the expiry of pending accounts
(`_free_expired_pending_username`), through the signup, activation and "resend" pages.
SECURITY.md 8: activation tokens are signed, purpose-bound, expiring and single use (the
tokens themselves: test_tokens.py).
"""

import threading
from datetime import timedelta

import pytest

from idp.accounts import services
from idp.accounts.models import User, UserStatus
from idp.audit.models import AuditEvent
from idp.database import utcnow
from idp.extensions import db
from idp.mail.models import OutboxMessage
from tests.factories import create_user
from tests.helpers import (
    SIGNUP_PASSWORD,
    activate,
    csrf_token,
    login,
    signup,
    without_tokens,
)


def _activation_path(user_id: int) -> str:
    message = (
        db.session.query(OutboxMessage)
        .filter_by(user_id=user_id, template="activation")
        .order_by(OutboxMessage.id.desc())
        .first()
    )
    assert message is not None
    link = next(w for w in message.body_text.split() if w.startswith("http://idp.test/activate/"))
    return link.removeprefix("http://idp.test")


def test_activation_signup_creates_pending_account_and_queues_email(client):
    response = signup(client)
    assert response.status_code == 302
    user = db.session.query(User).filter_by(username="marie.curie").one()
    assert user.status == UserStatus.PENDING
    message = db.session.query(OutboxMessage).filter_by(user_id=user.id).one()
    assert message.recipient == "marie@cabinet.example"
    assert "Activez votre compte" in message.subject
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "marie@cabinet.example" in page and "Je n'ai pas reçu l'email" in page


def test_activation_link_activates_once(client):
    signup(client)
    user = db.session.query(User).filter_by(username="marie.curie").one()
    path = _activation_path(user.id)
    first = activate(client, path)
    assert first.status_code == 302
    db.session.expire_all()
    assert user.status == UserStatus.ACTIVE and user.email_verified_at is not None
    second = client.get(path)
    assert second.status_code == 400
    assert "déjà été utilisé" in second.get_data(as_text=True)
    assert login(client, "marie.curie", SIGNUP_PASSWORD).status_code == 302


def test_activation_token_expires(app, client, monkeypatch, configure):
    signup(client)
    user = db.session.query(User).filter_by(username="marie.curie").one()
    path = _activation_path(user.id)
    configure(activation_token_max_age=-1)
    response = client.get(path)
    assert response.status_code == 400
    assert "expiré" in response.get_data(as_text=True)
    db.session.expire_all()
    assert user.status == UserStatus.PENDING


def test_activation_token_is_not_a_reset_token_and_vice_versa(app, client):
    signup(client)
    user = db.session.query(User).filter_by(username="marie.curie").one()
    activation_token = _activation_path(user.id).rsplit("/", 1)[1]
    assert client.get(f"/password/reset/{activation_token}").status_code == 400
    with app.test_request_context():
        reset_token = services.reset_tokens().dumps({"sub": user.subject, "fp": "x"})
    assert client.get(f"/activate/{reset_token}").status_code == 400
    db.session.expire_all()
    assert user.status == UserStatus.PENDING


@pytest.mark.parametrize("token", ["", "abc", "a" * 2000, "eyJzdWIiOiJ4In0.tampered.sig"])
def test_activation_forged_tokens_are_refused(client, token):
    response = client.get(f"/activate/{token}")
    assert response.status_code in (400, 404)
    if response.status_code == 400:
        assert "pas valide" in response.get_data(as_text=True)


def test_activation_tampered_subject_is_refused(app, client):
    signup(client)
    user = db.session.query(User).filter_by(username="marie.curie").one()
    with app.test_request_context():
        forged = services.TokenService("another-secret", "activation", 3600).dumps(
            {"sub": user.subject}
        )
    assert client.get(f"/activate/{forged}").status_code == 400


def test_activation_resend_answers_the_same_and_queues_only_for_pending(client):
    create_user("actif.deja")
    signup(client)
    before = db.session.query(OutboxMessage).count()
    pages = []
    for identifier in ("marie.curie", "actif.deja", "personne", "personne@nulle.part"):
        token = csrf_token(client, "/activate/resend")
        pages.append(
            client.post("/activate/resend", data={"csrf_token": token, "identifier": identifier})
        )
    assert {p.status_code for p in pages} == {200}
    assert len({without_tokens(p.get_data(as_text=True)) for p in pages}) == 1
    assert db.session.query(OutboxMessage).count() == before + 1


def test_activation_resend_is_throttled_per_account(client):
    signup(client)  # the signup email is not counted: the throttle is on resends
    for _ in range(5):
        token = csrf_token(client, "/activate/resend")
        client.post("/activate/resend", data={"csrf_token": token, "identifier": "marie.curie"})
    sent = db.session.query(OutboxMessage).filter_by(template="activation").count()
    assert sent == 1 + 3  # signup + 3 per hour per account


def test_activation_resend_is_throttled_per_ip(app, client, monkeypatch, configure):
    configure(throttles__email_sends_per_ip="2 per hour")
    for n in range(2):
        token = csrf_token(client, "/activate/resend")
        assert (
            client.post(
                "/activate/resend", data={"csrf_token": token, "identifier": f"x{n}"}
            ).status_code
            == 200
        )
    token = csrf_token(client, "/activate/resend")
    response = client.post("/activate/resend", data={"csrf_token": token, "identifier": "x3"})
    assert response.status_code == 429
    assert "Trop de tentatives" in response.get_data(as_text=True)


def test_activation_old_link_dies_when_email_changes(app, client):
    signup(client)
    user = db.session.query(User).filter_by(username="marie.curie").one()
    path = _activation_path(user.id)
    user.email = "autre@cabinet.example"
    db.session.commit()
    assert client.get(path).status_code == 400


# --- pre-account hijacking (issue 11, defect 2) -------------------------------------------------


def test_activation_get_by_a_mail_scanner_changes_nothing(client):
    """A link scanner (or anyone) opening the link only sees the confirmation page."""
    signup(client)
    user = db.session.query(User).filter_by(username="marie.curie").one()
    page = client.get(_activation_path(user.id))
    assert page.status_code == 200
    assert 'name="password"' in page.get_data(as_text=True)
    db.session.expire_all()
    assert user.status == UserStatus.PENDING and user.email_verified_at is None


def test_activation_needs_the_password_chosen_at_signup(client):
    """Someone who signed up with another person's email cannot have that person activate an
    account whose password they know: activation proves both the mailbox and the password."""
    signup(client)
    user = db.session.query(User).filter_by(username="marie.curie").one()
    path = _activation_path(user.id)
    refused = activate(client, path, password="le mot de passe du pirate")
    assert refused.status_code == 200
    assert "pas le mot de passe choisi" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert user.status == UserStatus.PENDING
    failures = db.session.query(AuditEvent).filter_by(event_type="login_failed").count()
    assert failures == 1  # counted against the login throttle like any guess
    assert activate(client, path).status_code == 302


def test_activation_pending_account_expires_and_frees_its_username(app, client, configure):
    signup(client)
    configure(activation_token_max_age=0)
    assert signup(client, email="vraie.marie@cabinet.example").status_code == 302
    users = db.session.query(User).filter_by(username="marie.curie").all()
    assert [u.email for u in users] == ["vraie.marie@cabinet.example"]
    expired = db.session.query(AuditEvent).filter_by(event_type="pending_account_expired")
    assert expired.count() == 1


def test_activation_purge_deletes_only_pending_accounts_past_their_link(app):
    """`services.purge_expired_pending`: what `idp users purge-pending` runs."""
    old_pending = create_user("marie.curie", status=UserStatus.PENDING)
    old_active = create_user("jean.dupont")
    create_user("paul.neuf", status=UserStatus.PENDING)
    for user in (old_pending, old_active):
        user.created_at = utcnow() - timedelta(hours=49)
    db.session.commit()

    assert services.purge_expired_pending(db.session) == ["marie.curie"]
    db.session.commit()

    assert sorted(u.username for u in db.session.query(User)) == ["jean.dupont", "paul.neuf"]
    (event,) = db.session.query(AuditEvent).filter_by(event_type="pending_account_expired")
    assert event.details["username"] == "marie.curie" and event.actor_kind == "system"
    assert services.purge_expired_pending(db.session) == []


def test_activation_two_concurrent_confirmations_activate_once(committed_app):
    """Two POSTs of one link at once: one activation, one audit row."""
    from idp.extensions import db as database

    with committed_app.app_context():
        user = create_user("marie.curie", status=UserStatus.PENDING)
        token = _activation_path(user.id).rsplit("/", 1)[1]
    results: list[str] = []
    barrier = threading.Barrier(2)

    def confirm() -> None:
        with committed_app.test_request_context():
            barrier.wait()
            try:
                services.activate(
                    database.session, token, "cheval agrafe batterie correcte", ip="1"
                )
                database.session.commit()
                results.append("activated")
            except services.DomainError:
                database.session.rollback()
                results.append("refused")
            finally:
                database.session.remove()

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["activated", "refused"]
    with committed_app.app_context():
        count = database.session.query(AuditEvent).filter_by(event_type="activation").count()
        assert count == 1
