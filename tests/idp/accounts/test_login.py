"""Login, a use case of idp/accounts/services.py: `authenticate` (and its `_verify_password`
under the login throttles), with `init_password_hasher`'s dummy hash, through the login page
and `idp.accounts.auth.login_user`. SECURITY.md 1 and 2: no account enumeration, throttled
guessing. The session a login starts: test_sessions.py.
"""

import time

import pytest

from idp.accounts import services
from idp.accounts.errors import AccountDisabled, AccountNotActive, InvalidCredentials
from idp.accounts.models import UserSession, UserStatus
from idp.audit.models import AuditEvent
from idp.config import Argon2Parameters
from idp.extensions import db
from idp.throttling import TooManyAttempts
from tests.factories import create_user
from tests.helpers import TEST_PASSWORD, csrf_token, login, without_tokens

GENERIC = "Identifiant ou mot de passe incorrect."


def test_login_unknown_username_and_wrong_password_look_the_same(client):
    create_user("jean.dupont")
    unknown = login(client, "personne.inconnue", "n'importe quoi du tout")
    wrong = login(client, "jean.dupont", "n'importe quoi du tout")
    assert unknown.status_code == wrong.status_code == 200
    unknown_page = without_tokens(unknown.get_data(as_text=True))
    wrong_page = without_tokens(wrong.get_data(as_text=True))
    assert GENERIC in unknown_page and GENERIC in wrong_page
    strip = lambda page: page.replace("personne.inconnue", "X").replace("jean.dupont", "X")  # noqa: E731
    assert strip(unknown_page) == strip(wrong_page)
    assert db.session.query(UserSession).count() == 0


def test_login_unknown_username_costs_one_argon2_verification(app, client, monkeypatch):
    """The work is the same: one argon2 verification, against a dummy hash for unknown users."""
    from argon2 import PasswordHasher as Argon2Hasher

    create_user("jean.dupont")
    verified: list[str] = []
    real_verify = Argon2Hasher.verify

    def spy(self, hash_, password):
        verified.append(hash_)
        return real_verify(self, hash_, password)

    monkeypatch.setattr(Argon2Hasher, "verify", spy)
    login(client, "inconnu", "mauvais mot de passe")
    login(client, "jean.dupont", "mauvais mot de passe")
    assert len(verified) == 2
    assert all(h.startswith("$argon2id$") for h in verified)


def test_login_dummy_hash_is_ready_when_the_app_starts(app):
    """The first unknown-user login of a worker costs what every other one costs."""
    hasher = app.extensions["sesame.password_hasher"]
    assert "dummy_hash" in vars(hasher)


def test_login_unknown_and_known_usernames_take_the_same_time(app, client, configure):
    """Timing within noise, with a real (small) argon2 cost; minimums of interleaved samples."""
    configure(argon2=Argon2Parameters(2, 8192, 1), ratelimit_enabled=False)
    if True:
        create_user("jean.dupont")
        token = csrf_token(client, "/login")

        def timed(username: str) -> float:
            start = time.perf_counter()
            client.post(
                "/login",
                data={"csrf_token": token, "username": username, "password": "mauvais"},
            )
            return time.perf_counter() - start

        timed("jean.dupont")  # warm-up: the dummy hash is computed once
        timed("inconnu")
        known, unknown = [], []
        for _ in range(9):
            known.append(timed("jean.dupont"))
            unknown.append(timed("inconnu"))
        assert 0.5 < min(unknown) / min(known) < 2.0, (known, unknown)


def test_login_then_account_page_shows_username(client):
    create_user("jean.dupont")
    response = login(client, "Jean.Dupont")
    assert response.status_code == 302
    page = client.get("/account").get_data(as_text=True)
    assert "jean.dupont" in page


def test_login_success_rotates_into_a_server_side_session(client):
    user = create_user("jean.dupont")
    response = login(client, "jean.dupont")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    session = db.session.query(UserSession).filter_by(user_id=user.id).one()
    assert session.revoked_at is None and session.amr == "pwd"
    assert (
        db.session.query(AuditEvent)
        .filter_by(event_type="login_succeeded", subject_id=user.id)
        .count()
        == 1
    )
    assert user.last_login_at is not None


def test_login_pending_account_is_told_to_activate_only_with_the_right_password(client):
    create_user("jean.dupont", status=UserStatus.PENDING)
    assert GENERIC in login(client, "jean.dupont", "mauvais mot de passe").get_data(as_text=True)
    page = login(client, "jean.dupont").get_data(as_text=True)
    assert "pas encore activé" in page
    assert db.session.query(UserSession).count() == 0


def test_login_disabled_account_cannot_log_in(client):
    create_user("jean.dupont", status=UserStatus.DISABLED)
    page = login(client, "jean.dupont").get_data(as_text=True)
    assert "désactivé" in page
    assert db.session.query(UserSession).count() == 0


def test_login_throttled_per_account_after_five_failures_even_with_right_password(client):
    create_user("jean.dupont")
    for _ in range(5):
        assert login(client, "jean.dupont", "mauvais mot de passe").status_code == 200
    locked = login(client, "jean.dupont")
    assert locked.status_code == 429
    assert "Trop de tentatives. Réessayez dans" in locked.get_data(as_text=True)
    assert db.session.query(UserSession).count() == 0


def test_login_throttle_does_not_reveal_whether_the_account_exists(client):
    create_user("jean.dupont")
    for username in ("jean.dupont", "personne.inconnue"):
        for _ in range(5):
            login(client, username, "mauvais mot de passe")
    known = login(client, "jean.dupont", "mauvais mot de passe")
    unknown = login(client, "personne.inconnue", "mauvais mot de passe")
    assert known.status_code == unknown.status_code == 429
    assert without_tokens(known.get_data(as_text=True)).replace("jean.dupont", "X") == (
        without_tokens(unknown.get_data(as_text=True)).replace("personne.inconnue", "X")
    )


def test_login_throttle_counts_canonical_usernames(client):
    create_user("jean.dupont")
    for variant in (
        "Jean.Dupont",
        "JEAN.DUPONT",
        "ｊｅａｎ.ｄｕｐｏｎｔ",
        "jean.dupont",
        "Jean.dupont",
    ):
        login(client, variant, "mauvais mot de passe")
    assert login(client, "jean.dupont").status_code == 429


def test_login_throttled_per_ip_across_accounts(app, client, monkeypatch, configure):
    configure(throttles__login_failures_per_ip="3 per 15 minutes")
    create_user("jean.dupont")
    for n in range(3):
        login(client, f"inconnu{n}", "mauvais mot de passe")
    assert login(client, "jean.dupont").status_code == 429
    other_ip = app.test_client()
    token = csrf_token(other_ip, "/login")
    response = other_ip.post(
        "/login",
        data={"csrf_token": token, "username": "jean.dupont", "password": TEST_PASSWORD},
        environ_base={"REMOTE_ADDR": "192.0.2.44"},
    )
    assert response.status_code == 302


def test_login_failures_are_audited_without_revealing_existence(client):
    user = create_user("jean.dupont")
    login(client, "jean.dupont", "mauvais mot de passe")
    login(client, "inconnu", "mauvais mot de passe")
    failures = db.session.query(AuditEvent).filter_by(event_type="login_failed").all()
    assert sorted((e.subject_id or 0) for e in failures) == [0, user.id]


# --- services.authenticate, without HTTP --------------------------------------------------------


def test_login_authenticate_unknown_user_and_wrong_password_raise_the_same_error(app):
    create_user("jean.dupont")
    errors = []
    for username in ("personne.inconnue", "jean.dupont"):
        with pytest.raises(InvalidCredentials) as caught:
            services.authenticate(db.session, username, "mauvais mot de passe", ip="192.0.2.1")
        errors.append(caught.value)
    assert type(errors[0]) is type(errors[1]) and errors[0].message == errors[1].message
    assert errors[0].message == GENERIC


@pytest.mark.parametrize(
    ("status", "error"),
    [(UserStatus.PENDING, AccountNotActive), (UserStatus.DISABLED, AccountDisabled)],
)
def test_login_authenticate_tells_an_inactive_account_only_after_the_right_password(
    app, status, error
):
    create_user("jean.dupont", status=status)
    with pytest.raises(InvalidCredentials):
        services.authenticate(db.session, "jean.dupont", "mauvais mot de passe", ip="192.0.2.1")
    with pytest.raises(error):
        services.authenticate(db.session, "jean.dupont", TEST_PASSWORD, ip="192.0.2.1")


def test_login_authenticate_returns_the_verified_credential_and_audits(app):
    user = create_user("jean.dupont")
    verified = services.authenticate(db.session, "Jean.Dupont", TEST_PASSWORD, ip="192.0.2.1")
    db.session.commit()
    assert verified.user is user and verified.credential_epoch == user.credential_epoch
    assert user.last_login_at is not None
    events = db.session.query(AuditEvent).filter_by(subject_id=user.id).all()
    assert [e.event_type for e in events if e.event_type.startswith("login")] == ["login_succeeded"]


def test_login_authenticate_counts_failures_but_not_successes(app, configure):
    configure(throttles__login_failures_per_account="2 per 15 minutes")
    create_user("jean.dupont")
    for _ in range(3):  # successes give their slot back
        services.authenticate(db.session, "jean.dupont", TEST_PASSWORD, ip="192.0.2.1")
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            services.authenticate(db.session, "jean.dupont", "mauvais", ip="192.0.2.1")
    with pytest.raises(TooManyAttempts):
        services.authenticate(db.session, "jean.dupont", TEST_PASSWORD, ip="192.0.2.1")
    db.session.commit()
    throttled = db.session.query(AuditEvent).filter_by(event_type="login_throttled")
    assert throttled.count() == 1


@pytest.mark.redis
def test_login_throttle_is_shared_between_processes_through_redis(app, database_url):
    """Two app instances (as two gunicorn workers) see the same failure counts in Redis."""
    import os

    from idp import create_app
    from tests.helpers import base_config

    if not os.environ.get("REDIS_URL"):
        from tests.helpers import service_missing

        service_missing("REDIS_URL not set: Redis-shared throttling not tested")
    create_user("jean.dupont")
    other = create_app(base_config(database_url))
    first, second = app.test_client(), other.test_client()
    for client in (first, second, first, second, first):
        login(client, "jean.dupont", "mauvais mot de passe")
    with other.app_context():
        assert login(second, "jean.dupont").status_code == 429
