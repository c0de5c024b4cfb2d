"""idp/oidc/keys.py: signing keys encrypted at rest, one signer per algorithm, JWKS of next +
current + previous, rotation (docs/security.md 33) and keys shared by several processes (56)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet, InvalidToken
from flask import Flask
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import event, func, select

from idp.audit.models import AuditEvent
from idp.database import utcnow
from idp.extensions import db
from idp.oidc import keys
from idp.oidc.models import KeyState, SigningKey
from tests.helpers import build_app


def _published_kids() -> list[str]:
    return [jwk["kid"] for jwk in keys.public_jwks()["keys"]]


def _states() -> dict[str, str]:
    return dict(db.session.execute(select(SigningKey.kid, SigningKey.state)).all())


def _sign(alg: str = "RS256") -> str:
    key = keys.current_signing_key(alg)
    return jwt.encode({"alg": alg, "kid": key.kid}, {"sub": "x"}, key)


def _verifies(token: str, key_set: KeySet) -> bool:
    try:
        jwt.decode(token, key_set, algorithms=list(keys.ALGORITHMS))
    except (BadSignatureError, InvalidKeyIdError):
        return False
    return True


def _later(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _rotate(**kwargs: object) -> keys.RotationOutcome:
    outcome = keys.rotate(db.session, **kwargs)  # type: ignore[arg-type]
    db.session.commit()
    return outcome


# --- keys and their storage -----------------------------------------------------------------


def test_keys_current_signing_key_is_rsa_2048_and_ec_p256_with_kids(app):
    rsa, ec = keys.current_signing_key(), keys.current_signing_key("ES256")
    assert isinstance(rsa, RSAKey) and rsa.raw_value.key_size == 2048
    assert isinstance(ec, ECKey) and ec.as_dict(private=False)["crv"] == "P-256"
    assert rsa.kid and ec.kid and rsa.kid != ec.kid
    assert rsa.kid == rsa.thumbprint()  # RFC 7638: unique per key
    with pytest.raises(ValueError, match="unsupported signing algorithm"):
        keys.current_signing_key("HS256")


def test_keys_first_use_creates_one_current_and_one_next_per_algorithm(app):
    assert db.session.scalar(select(func.count(SigningKey.id))) == 0
    keys.current_signing_key()
    rows = db.session.execute(select(SigningKey.alg, SigningKey.state)).all()
    assert sorted(rows) == [
        ("ES256", "current"),
        ("ES256", "next"),
        ("RS256", "current"),
        ("RS256", "next"),
    ]


def test_keys_private_parts_are_encrypted_at_rest(app):
    keys.current_signing_key()
    row = db.session.scalars(select(SigningKey).where(SigningKey.state == "current")).first()
    assert row is not None
    assert b"PRIVATE KEY" not in row.private_encrypted
    assert b"BEGIN" not in row.private_encrypted
    with pytest.raises(InvalidToken):  # a key derived from another secret cannot read it
        Fernet(Fernet.generate_key()).decrypt(row.private_encrypted)
    pem = keys.decrypt_private_pem(row.private_encrypted)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert "d" not in row.public_jwk


def test_keys_encryption_key_comes_from_oidc_key_encryption_key_when_set(app, configure):
    token_under_secret_key = keys.encrypt_private_pem(b"pem")
    configure(oidc__key_encryption_key="another-random-key-encryption-key-0123456789")
    token_under_kek = keys.encrypt_private_pem(b"pem")
    assert keys.decrypt_private_pem(token_under_kek) == b"pem"
    with pytest.raises(InvalidToken):  # SECRET_KEY's derived key no longer reads anything
        keys.decrypt_private_pem(token_under_secret_key)


def test_keys_public_jwks_has_no_private_parameter(app):
    jwks = keys.public_jwks()
    assert len(jwks["keys"]) == 4
    for jwk in jwks["keys"]:
        assert not keys.PRIVATE_JWK_PARAMETERS & jwk.keys(), jwk
        assert jwk["use"] == "sig" and jwk["alg"] in keys.ALGORITHMS
    with pytest.raises(AssertionError):  # the guard itself refuses a private JWK
        keys.public_jwk(_PrivateDict())


class _PrivateDict:
    def as_dict(self, private: bool = False) -> dict[str, str]:
        return {"kty": "EC", "d": "secret"}


def test_keys_tokens_signed_by_current_key_verify_with_the_published_set(app):
    for alg in keys.ALGORITHMS:
        token = _sign(alg)
        assert _verifies(token, keys.verification_key_set())
        assert _verifies(token, KeySet.import_key_set(keys.public_jwks()))
    foreign = RSAKey.generate_key(2048, parameters={"kid": keys.current_signing_key().kid})
    forged = jwt.encode({"alg": "RS256", "kid": foreign.kid}, {"sub": "x"}, foreign)
    assert not _verifies(forged, keys.verification_key_set())


# --- rotation (docs/security.md 33) ---------------------------------------------------------


def test_keys_rotation_publishes_next_before_it_signs_and_keeps_previous(app):
    before = keys.current_signing_key()
    next_kid = next(k for k, s in _states().items() if s == "next" and k != before.kid)
    next_rs256 = db.session.scalar(
        select(SigningKey.kid).where(SigningKey.alg == "RS256", SigningKey.state == "next")
    )
    assert next_rs256 in _published_kids() and next_kid in _published_kids()
    old_token = _sign()

    outcome = _rotate(now=utcnow() + keys.MIN_NEXT_AGE + _later(1))

    after = keys.current_signing_key()
    assert after.kid == next_rs256 == outcome.promoted["RS256"]  # the key clients already saw
    assert _states()[before.kid] == "previous"
    assert before.kid in _published_kids() and outcome.created["RS256"] in _published_kids()
    assert _verifies(old_token, keys.verification_key_set())  # tokens in flight still verify
    assert _verifies(_sign(), keys.verification_key_set())
    assert (
        db.session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.event_type == "oidc_signing_keys_rotated"
            )
        )
        == 1
    )


def test_keys_rotation_refuses_a_next_key_not_yet_seen_by_caches(app):
    keys.current_signing_key()
    db.session.commit()  # PostgreSQL tests: the first keys' savepoint sits inside db.session's
    before = _states()
    with pytest.raises(keys.KeyRotationRefused) as refused:
        keys.rotate(db.session)
    db.session.rollback()
    assert "--force" in refused.value.message and "JWKS" in refused.value.message
    assert _states() == before
    outcome = _rotate(force=True)  # a compromised key: rotate now
    assert _states()[outcome.promoted["RS256"]] == "current"


def test_keys_previous_key_retired_once_its_tokens_expired(app):
    first = keys.current_signing_key()
    old_token = _sign()
    start = utcnow() + keys.MIN_NEXT_AGE + _later(1)
    _rotate(now=start)
    # Too early: a second rotation keeps the first key published (its tokens may be alive).
    second = _rotate(now=start + keys.MIN_NEXT_AGE + _later(1))
    assert keys.retire_after() > keys.MIN_NEXT_AGE + _later(1)
    assert _states()[first.kid] == "previous" and first.kid not in second.retired
    assert _verifies(old_token, keys.verification_key_set())
    # After every token it signed has expired (the longest lifetime, the cache delay and the
    # verifiers' clock skew), the next rotation retires it and it leaves the JWKS.
    third = _rotate(now=start + keys.retire_after() + _later(1))
    assert first.kid in third.retired and _states()[first.kid] == "retired"
    assert first.kid not in _published_kids()
    assert not _verifies(old_token, keys.verification_key_set())


def test_keys_retire_after_covers_the_longest_signed_token(app, configure):
    configure(oidc__access_token_lifetime=300, oidc__id_token_lifetime=900)
    assert keys.retire_after() >= timedelta(seconds=900 + keys.CACHE_SECONDS)
    configure(oidc__access_token_lifetime=600, oidc__id_token_lifetime=60)
    assert keys.retire_after() >= timedelta(seconds=600 + keys.CACHE_SECONDS)


# --- the per-process cache ------------------------------------------------------------------


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def test_keys_cached_between_checks_no_database_query(app, statements):
    cache = keys.key_cache()
    cache.interval = 60.0
    try:
        keys.public_jwks()
        statements.clear()
        for _ in range(100):
            keys.public_jwks()
            keys.current_signing_key("ES256")
            keys.verification_key_set()
        assert statements == []
    finally:
        cache.interval = 0.0
        cache.invalidate()


# --- several processes on one database (docs/security.md 56) --------------------------------


@pytest.fixture
def two_apps(own_database_url: str) -> Iterator[tuple[Flask, Flask]]:
    """Two app instances (two processes' worth of caches) on one database."""
    first = build_app(own_database_url, schema=True)
    second = build_app(own_database_url)
    yield first, second
    for application in (first, second):
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def _in(application: Flask, action):
    with application.app_context():
        try:
            return action()
        finally:
            db.session.remove()


def test_keys_two_instances_sign_with_one_key_and_publish_each_others(two_apps):
    first, second = two_apps
    kid_first = _in(first, lambda: keys.current_signing_key().kid)
    kid_second = _in(second, lambda: keys.current_signing_key().kid)
    assert kid_first == kid_second
    token = _in(first, _sign)
    assert _in(second, lambda: _verifies(token, keys.verification_key_set()))
    assert _in(first, _published_kids) == _in(second, _published_kids)


def test_keys_rotation_in_one_instance_seen_by_the_other_within_the_cache_delay(two_apps):
    first, second = two_apps
    delay = 2.0
    for application in two_apps:
        _in(application, lambda: setattr(keys.key_cache(), "interval", delay))
    old_kid = _in(second, lambda: keys.current_signing_key().kid)
    checked = time.monotonic()  # the second instance read the key set just now
    outcome = _in(first, lambda: _rotate(now=utcnow() + keys.MIN_NEXT_AGE + _later(1)))
    assert _in(first, lambda: keys.current_signing_key().kid) == outcome.promoted["RS256"]
    # Within the delay the other instance may still sign with the old key: it is published.
    stale = _in(second, lambda: keys.current_signing_key().kid)
    if time.monotonic() - checked < delay:  # (a loaded machine may already be past it)
        assert stale == old_kid
    assert old_kid in _in(first, _published_kids)
    time.sleep(max(0.0, checked + delay - time.monotonic()) + 0.05)
    assert _in(second, lambda: keys.current_signing_key().kid) == outcome.promoted["RS256"]
    assert outcome.created["RS256"] in _in(second, _published_kids)


def test_keys_concurrent_first_creation_yields_one_current_key_per_algorithm(two_apps):
    """Eight threads over two app instances (two caches) ask for a key on an empty table at
    the same moment: one creator wins, everyone signs with its keys."""
    barrier = threading.Barrier(8)
    kids: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def worker(application: Flask) -> None:
        try:
            with application.app_context():
                barrier.wait()
                kids.append((keys.current_signing_key().kid, keys.current_signing_key("ES256").kid))
                db.session.remove()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(two_apps[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(set(kids)) == 1 and len(kids) == 8
    first = two_apps[0]
    with first.app_context():
        rows = db.session.execute(select(SigningKey.alg, SigningKey.state)).all()
        db.session.remove()
    assert sorted(rows) == [
        ("ES256", "current"),
        ("ES256", "next"),
        ("RS256", "current"),
        ("RS256", "next"),
    ]


def test_keys_concurrent_rotations_leave_one_current_and_one_next(two_apps):
    first = two_apps[0]
    _in(first, keys.current_signing_key)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(application: Flask) -> None:
        try:
            with application.app_context():
                barrier.wait()
                keys.rotate(db.session, force=True)
                db.session.commit()
                db.session.remove()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(app,)) for app in two_apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []

    def check() -> None:
        rows = db.session.execute(select(SigningKey.alg, SigningKey.state)).all()
        for alg in keys.ALGORITHMS:
            assert rows.count((alg, KeyState.CURRENT.value)) == 1
            assert rows.count((alg, KeyState.NEXT.value)) == 1
            assert rows.count((alg, KeyState.PREVIOUS.value)) == 2  # both rotations happened

    _in(first, check)
