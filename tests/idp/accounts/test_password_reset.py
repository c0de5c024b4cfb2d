"""Password reset and change, use cases of idp/accounts/services.py:
`queue_password_reset_email`, `user_for_reset_token`, `reset_password` and `change_password`
(with the notice `_queue_password_changed_email`), through the "forgotten password", reset
and "Mon compte" pages. SECURITY.md 9: password reset.
"""

import pytest

from idp.accounts import services, sessions
from idp.accounts.errors import InvalidCredentials
from idp.accounts.models import UserSession, UserStatus
from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.mail.models import OutboxMessage
from idp.throttling import TooManyAttempts
from tests.factories import create_session, create_user
from tests.helpers import TEST_PASSWORD, change_password, csrf_token, login, without_tokens

NEW_PASSWORD = "une nouvelle phrase bien longue"


def _ask_reset(client, identifier):
    token = csrf_token(client, "/password/forgot")
    return client.post("/password/forgot", data={"csrf_token": token, "identifier": identifier})


def _reset_path(user_id):
    message = (
        db.session.query(OutboxMessage)
        .filter_by(user_id=user_id, template="password_reset")
        .order_by(OutboxMessage.id.desc())
        .first()
    )
    link = next(
        w for w in message.body_text.split() if w.startswith("http://idp.test/password/reset/")
    )
    return link.removeprefix("http://idp.test")


def _set_password(client, path, password=NEW_PASSWORD):
    token = csrf_token(client, path)
    return client.post(
        path, data={"csrf_token": token, "password": password, "password_confirm": password}
    )


def test_password_reset_same_answer_whether_account_exists_or_not(client):
    create_user("jean.dupont", email="jean@cabinet.example")
    pages = [
        _ask_reset(client, i)
        for i in ("jean@cabinet.example", "nobody@nowhere.example", "jean.dupont", "inconnu")
    ]
    assert {p.status_code for p in pages} == {200}
    assert len({without_tokens(p.get_data(as_text=True)) for p in pages}) == 1
    assert db.session.query(OutboxMessage).filter_by(template="password_reset").count() == 2


def test_password_reset_email_reminds_the_username(client):
    create_user("jean.dupont", email="jean@cabinet.example")
    _ask_reset(client, "JEAN@cabinet.example ")
    message = db.session.query(OutboxMessage).filter_by(template="password_reset").one()
    assert "jean.dupont" in message.body_text and message.recipient == "jean@cabinet.example"


def test_password_reset_sets_password_and_ends_every_session(app, client):
    user = create_user("jean.dupont")
    other_browser = app.test_client()
    login(other_browser, "jean.dupont")
    assert other_browser.get("/account").status_code == 200
    _ask_reset(client, "jean.dupont")
    response = _set_password(client, _reset_path(user.id))
    assert response.status_code == 302
    assert other_browser.get("/account").status_code == 302  # back to login
    assert db.session.query(UserSession).filter(UserSession.revoked_at.is_(None)).count() == 0
    assert login(client, "jean.dupont", TEST_PASSWORD).status_code == 200
    assert login(client, "jean.dupont", NEW_PASSWORD).status_code == 302


def test_password_reset_token_is_single_use(client):
    user = create_user("jean.dupont")
    _ask_reset(client, "jean.dupont")
    path = _reset_path(user.id)
    assert _set_password(client, path).status_code == 302
    again = client.get(path)
    assert again.status_code == 400
    assert "déjà été utilisé" in again.get_data(as_text=True)
    assert _set_password(client, path, "encore une autre phrase longue").status_code == 400
    assert login(client, "jean.dupont", NEW_PASSWORD).status_code == 302


def test_password_reset_token_dies_when_password_changes_otherwise(client):
    user = create_user("jean.dupont")
    _ask_reset(client, "jean.dupont")
    path = _reset_path(user.id)
    _ask_reset(client, "jean.dupont")
    newer = _reset_path(user.id)
    assert _set_password(client, newer).status_code == 302
    assert client.get(path).status_code == 400


def test_password_reset_token_expires_after_an_hour(app, client, monkeypatch, configure):
    user = create_user("jean.dupont")
    assert app.extensions["sesame.settings"].reset_token_max_age == 3600
    _ask_reset(client, "jean.dupont")
    configure(reset_token_max_age=-1)
    response = client.get(_reset_path(user.id))
    assert response.status_code == 400 and "expiré" in response.get_data(as_text=True)


def test_password_reset_activates_a_pending_account(client):
    user = create_user("jean.dupont", status=UserStatus.PENDING)
    _ask_reset(client, "jean.dupont")
    assert _set_password(client, _reset_path(user.id)).status_code == 302
    db.session.expire_all()
    assert user.status == UserStatus.ACTIVE and user.email_verified_at is not None
    assert login(client, "jean.dupont", NEW_PASSWORD).status_code == 302


def test_password_reset_refuses_weak_password_and_keeps_token_usable(client):
    user = create_user("jean.dupont")
    _ask_reset(client, "jean.dupont")
    path = _reset_path(user.id)
    page = _set_password(client, path, "motdepasse1234").get_data(as_text=True)
    assert "les plus courants" in page
    assert _set_password(client, path).status_code == 302


def test_password_reset_not_sent_to_disabled_accounts(client):
    create_user("jean.dupont", status=UserStatus.DISABLED)
    assert _ask_reset(client, "jean.dupont").status_code == 200
    assert db.session.query(OutboxMessage).filter_by(template="password_reset").count() == 0


def test_password_reset_clears_the_login_lock(client):
    user = create_user("jean.dupont")
    for _ in range(5):
        login(client, "jean.dupont", "mauvais mot de passe")
    assert login(client, "jean.dupont").status_code == 429
    _ask_reset(client, "jean.dupont")
    _set_password(client, _reset_path(user.id))
    assert login(client, "jean.dupont", NEW_PASSWORD).status_code == 302


def test_password_change_from_account_keeps_this_session_only(app, client):
    user = create_user("jean.dupont")
    other = app.test_client()
    login(other, "jean.dupont")
    login(client, "jean.dupont")
    wrong = change_password(client, "pas le bon", NEW_PASSWORD)
    assert "Le mot de passe actuel est incorrect." in wrong.get_data(as_text=True)
    response = change_password(client, TEST_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    assert other.get("/account").status_code == 302
    assert services.password_hasher().verify(user.password_hash, NEW_PASSWORD)


def test_password_change_wrong_current_password_is_throttled(client):
    create_user("jean.dupont")
    login(client, "jean.dupont")
    for _ in range(5):
        assert change_password(client, "pas le bon", NEW_PASSWORD).status_code == 200
    locked = change_password(client, TEST_PASSWORD, NEW_PASSWORD)
    assert locked.status_code == 429
    assert "Trop de tentatives" in locked.get_data(as_text=True)


# --- services.change_password, without HTTP ---------------------------------------------------


def test_password_change_wrong_current_password_raises_and_counts_as_a_failure(app, configure):
    configure(throttles__login_failures_per_account="1 per 15 minutes")
    user = create_user("jean.dupont")
    kept, _ = create_session(user)
    epoch, password_hash = user.credential_epoch, user.password_hash
    with pytest.raises(InvalidCredentials, match="Le mot de passe actuel est incorrect"):
        services.change_password(
            db.session, user, "pas le bon", NEW_PASSWORD, keep=kept, ip="192.0.2.1"
        )
    db.session.commit()
    assert (user.credential_epoch, user.password_hash) == (epoch, password_hash)
    failed = db.session.query(AuditEvent).filter_by(event_type="login_failed", subject_id=user.id)
    assert failed.count() == 1
    with pytest.raises(TooManyAttempts):  # the failure took the account's only slot
        services.change_password(
            db.session, user, TEST_PASSWORD, NEW_PASSWORD, keep=kept, ip="192.0.2.1"
        )


def test_password_change_bumps_the_credential_epoch_and_keeps_the_given_session(app):
    user = create_user("jean.dupont")
    kept, kept_token = create_session(user)
    _, other_token = create_session(user)
    epoch = user.credential_epoch

    services.change_password(
        db.session, user, TEST_PASSWORD, NEW_PASSWORD, keep=kept, ip="192.0.2.1"
    )
    db.session.commit()

    assert user.credential_epoch == epoch + 1 == kept.credential_epoch
    assert services.password_hasher().verify(user.password_hash, NEW_PASSWORD)
    assert sessions.find_session(db.session, kept_token).live is kept
    assert sessions.find_session(db.session, other_token) == sessions.Lookup()  # ended
    assert [s.id for s in sessions.live_sessions_of(db.session, user)] == [kept.id]
    (notice,) = db.session.query(OutboxMessage).filter_by(template="password_changed").all()
    assert notice.recipient == user.email


# --- issue 11: races, notices ------------------------------------------------------------------


def test_password_reset_two_concurrent_posts_of_one_link_succeed_once(committed_app):
    """The token is spent atomically: two simultaneous uses, one new password."""
    import threading

    with committed_app.app_context():
        user = create_user("jean.dupont")
        fingerprint = services.reset_fingerprint(user)
        with committed_app.test_request_context():
            token = services.reset_tokens().dumps({"sub": user.subject, "fp": fingerprint})
        db.session.remove()
    results: list[str] = []
    barrier = threading.Barrier(2)

    def use(password: str) -> None:
        with committed_app.test_request_context():
            barrier.wait()
            try:
                services.reset_password(db.session, token, password)
                db.session.commit()
                results.append("reset")
            except services.DomainError:
                db.session.rollback()
                results.append("refused")
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=use, args=(p,))
        for p in ("première phrase de passe solide", "seconde phrase de passe solide")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["refused", "reset"]
    with committed_app.app_context():
        resets = db.session.query(AuditEvent).filter_by(event_type="password_reset").count()
        assert resets == 1
        db.session.remove()


def test_password_reset_and_change_are_announced_by_email(client):
    user = create_user("jean.dupont")
    _ask_reset(client, "jean.dupont")
    assert _set_password(client, _reset_path(user.id)).status_code == 302
    login(client, "jean.dupont", NEW_PASSWORD)
    change_password(client, NEW_PASSWORD, "encore une autre phrase solide")
    notices = (
        db.session.query(OutboxMessage)
        .filter_by(template="password_changed")
        .order_by(OutboxMessage.id)
        .all()
    )
    assert [n.recipient for n in notices] == [user.email, user.email]
    assert "réinitialisé" in notices[0].body_text and "Mon compte" in notices[1].body_text
    assert (
        "Mot de passe oublié" not in notices[0].body_text
        or "/password/forgot" in notices[0].body_text
    )


def test_password_reset_prefills_the_username_on_the_login_page(client):
    user = create_user("jean.dupont")
    _ask_reset(client, "jean.dupont")
    response = _set_password(client, _reset_path(user.id))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="jean.dupont"' in page


def test_password_outbox_bodies_are_sealed_at_rest(app, client):
    """A waiting reset email's live link is not readable in the database (issue 11, defect 10)."""
    from sqlalchemy import text

    user = create_user("jean.dupont")
    _ask_reset(client, "jean.dupont")
    raw = db.session.execute(
        text("SELECT body_text, body_html FROM mail_outbox WHERE template = 'password_reset'")
    ).one()
    assert all(body.startswith("sealed:") for body in raw)
    assert not any("/password/reset/" in body for body in raw)
    assert "/password/reset/" in _reset_path(user.id)  # the app still reads it
