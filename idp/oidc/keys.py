"""Signing keys of the OpenID provider: stored in `oidc_signing_keys`, private parts encrypted
at rest, one `current` key per algorithm that signs, published as next + current + previous.

- **Encryption at rest**: the private key's PEM is a Fernet token under a key derived with
  HKDF-SHA256 from `OIDC_KEY_ENCRYPTION_KEY` (required in production, distinct from
  SECRET_KEY), or from SECRET_KEY where it is unset (development, tests).
- **One signer** per algorithm (RS256: RSA 2048; ES256: P-256): `current_signing_key(alg)`
  returns that one key object, never a key of a set (OIDC_NOTES pitfall 1: joserfc would pick
  one at random). The first keys (a current and a next per algorithm) are created on first use;
  the partial unique indexes `uq_oidc_signing_keys_one_current/next` make two processes doing
  it at once end with one of each: the loser's insert fails, it re-reads the winner's keys.
- **Rotation** (`rotate`, `idp keys rotate`): next -> current, current -> previous, a new next;
  a previous key is retired once every token it may have signed has expired. The next key is
  published before it signs: rotation refuses to promote a next key published for less than
  `MIN_NEXT_AGE` (the JWKS cache lifetime plus this module's cache delay) unless forced.
- **Several processes** (docs/security.md 56): the database is the only truth. Each process
  keeps the imported keys of its app and re-reads the published set's (kid, state) pairs at most
  every `CACHE_SECONDS` (every call under TESTING, where each test has its own database); a
  changed set is reloaded. Between two checks nothing touches the database: JWKS and signing
  cost a clock read.

See docs/adr/0021-oidc-provider.md.
"""

from __future__ import annotations

import base64
import functools
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app
from flask_babel import gettext as _
from joserfc.jwk import ECKey, KeyParameters, KeySet, RSAKey
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.audit.models import AuditEventType
from idp.audit.services import SYSTEM, Actor, record
from idp.config import ConfigurationError, settings
from idp.database import DbSession, utcnow
from idp.errors import DomainError
from idp.extensions import db
from idp.oidc.models import KeyState, SigningKey

ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
DEFAULT_ALGORITHM = "RS256"
PUBLISHED_STATES: tuple[str, ...] = (KeyState.NEXT, KeyState.CURRENT, KeyState.PREVIOUS)
PRIVATE_JWK_PARAMETERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

CACHE_SECONDS = 5.0  # how stale a process's view of the key set may be
JWKS_MAX_AGE = 300  # Cache-Control max-age of /jwks (idp/oidc/discovery.py)
# A next key signs only once every JWKS cache (clients', and ours) has had time to see it.
MIN_NEXT_AGE = timedelta(seconds=JWKS_MAX_AGE + CACHE_SECONDS)
# Clock skew allowed to verifiers, on top of the token lifetime, before a previous key goes.
RETIRE_MARGIN = timedelta(seconds=60)

PrivateKey = RSAKey | ECKey  # what signs (a joserfc.jwk.PrivateKey)

_HKDF_INFO = b"sesame oidc signing keys v1"
_CACHE_EXTENSION = "sesame.oidc.keys"


class KeyRotationRefused(DomainError):
    """The next key has not been published long enough to sign (docs/security.md 33)."""


# --- encryption at rest ---------------------------------------------------------------------


def _encryption_material() -> str:
    config = settings()
    if config.oidc.key_encryption_key:
        return config.oidc.key_encryption_key
    if config.is_production:  # check_production refuses this too; never fall back silently
        raise ConfigurationError("OIDC_KEY_ENCRYPTION_KEY must be set in production")
    return config.secret_key


@functools.lru_cache(maxsize=4)
def _fernet_for(material: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        material.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _fernet() -> Fernet:
    return _fernet_for(_encryption_material())


def encrypt_private_pem(pem: bytes) -> bytes:
    return _fernet().encrypt(pem)


def decrypt_private_pem(token: bytes) -> bytes:
    return _fernet().decrypt(token)


# --- keys -----------------------------------------------------------------------------------


def _parameters(kid: str, alg: str) -> KeyParameters:
    return {"kid": kid, "alg": alg, "use": "sig"}


def generate_key(alg: str) -> PrivateKey:
    """A new private key for `alg`, its `kid` the RFC 7638 thumbprint (unique per key)."""
    key: PrivateKey
    if alg == "RS256":
        key = RSAKey.generate_key(2048, auto_kid=False)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256", auto_kid=False)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    return _import_private(key.as_pem(private=True), key.thumbprint(), alg)


def _import_private(pem: bytes, kid: str, alg: str) -> PrivateKey:
    cls = RSAKey if alg == "RS256" else ECKey
    key: PrivateKey = cls.import_key(pem, parameters=_parameters(kid, alg))
    return key


def public_jwk(key: PrivateKey) -> dict[str, Any]:
    jwk = dict(key.as_dict(private=False))
    leaked = PRIVATE_JWK_PARAMETERS & jwk.keys()
    if leaked:  # never publish a private part, whatever joserfc's version does
        raise AssertionError(f"private parameters in a public JWK: {sorted(leaked)}")
    return jwk


def _new_row(alg: str, state: KeyState, now: datetime) -> SigningKey:
    key = generate_key(alg)
    return SigningKey(
        kid=key.kid,
        alg=alg,
        public_jwk=public_jwk(key),
        private_encrypted=encrypt_private_pem(key.as_pem(private=True)),
        state=state.value,
        created_at=now,
        activated_at=now if state == KeyState.CURRENT else None,
    )


# --- the per-process view of the key set ----------------------------------------------------


Fingerprint = tuple[tuple[str, str], ...]  # (kid, state) of every published key, by id


@dataclass(frozen=True)
class LoadedKeys:
    fingerprint: Fingerprint
    signers: dict[str, PrivateKey]  # alg -> the current private key
    jwks: dict[str, Any]  # {"keys": [public JWKs]}
    verification: KeySet


@dataclass
class KeyCache:
    """One app's imported keys. `interval`: seconds between two checks of the database."""

    interval: float
    loaded: LoadedKeys | None = None
    checked_at: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)

    def invalidate(self) -> None:
        self.checked_at = float("-inf")


def key_cache(app: Flask | None = None) -> KeyCache:
    application = app or current_app
    cache: KeyCache | None = application.extensions.get(_CACHE_EXTENSION)
    if cache is None:
        interval = 0.0 if application.testing else CACHE_SECONDS
        cache = application.extensions.setdefault(_CACHE_EXTENSION, KeyCache(interval))
    return cache


def _fingerprint(session: DbSession) -> Fingerprint:
    rows = session.execute(
        select(SigningKey.kid, SigningKey.state)
        .where(SigningKey.state.in_(PUBLISHED_STATES))
        .order_by(SigningKey.id)
    ).all()
    return tuple((kid, state) for kid, state in rows)


def _has_every_signer(fingerprint: Fingerprint) -> bool:
    current = {kid for kid, state in fingerprint if state == KeyState.CURRENT}
    nexts = {kid for kid, state in fingerprint if state == KeyState.NEXT}
    return len(current) == len(ALGORITHMS) and len(nexts) == len(ALGORITHMS)


def _load(session: DbSession, fingerprint: Fingerprint) -> LoadedKeys:
    rows = list(
        session.scalars(
            select(SigningKey)
            .where(SigningKey.state.in_(PUBLISHED_STATES))
            .order_by(SigningKey.alg, SigningKey.id)
        )
    )
    signers = {
        row.alg: _import_private(decrypt_private_pem(row.private_encrypted), row.kid, row.alg)
        for row in rows
        if row.state == KeyState.CURRENT
    }
    published = [dict(row.public_jwk) for row in rows]
    for jwk in published:
        if PRIVATE_JWK_PARAMETERS & jwk.keys():
            raise AssertionError(f"private parameters stored as public: {jwk.get('kid')}")
    return LoadedKeys(
        fingerprint=fingerprint,
        signers=signers,
        jwks={"keys": published},
        verification=KeySet.import_key_set({"keys": published}),
    )


def loaded_keys() -> LoadedKeys:
    """This process's view of the key set, at most `interval` seconds old; creates the first
    keys when the table has none."""
    cache = key_cache()
    loaded = cache.loaded
    if loaded is not None and time.monotonic() - cache.checked_at < cache.interval:
        return loaded
    with cache.lock:
        loaded = cache.loaded
        if loaded is not None and time.monotonic() - cache.checked_at < cache.interval:
            return loaded
        session = db.session
        fingerprint = _fingerprint(session)
        if not _has_every_signer(fingerprint):
            _create_missing_keys()
            fingerprint = _fingerprint(session)
        if loaded is None or loaded.fingerprint != fingerprint:
            loaded = _load(session, fingerprint)
            cache.loaded = loaded
        cache.checked_at = time.monotonic()
        return loaded


def ensure_keys() -> None:
    """Create the first keys now if there are none (cheap when the cache is fresh). Call it
    before writing in a transaction that will sign: on SQLite the creation, in its own
    transaction, would otherwise wait for the caller's write lock."""
    loaded_keys()


def _own_session() -> Session:
    """A session of its own for the first keys, so that they are committed whatever the
    caller's transaction does. Bound like `db.session` (the engine; in PostgreSQL tests, the
    test's connection, where a commit releases a savepoint)."""
    return Session(
        bind=db.session.get_bind(), join_transaction_mode="create_savepoint", autoflush=False
    )


def _create_missing_keys(attempts: int = 3) -> None:
    """A current and a next key for each algorithm that lacks them. Concurrent creators race
    on the partial unique indexes: the loser rolls back and re-reads (then finds them)."""
    for _attempt in range(attempts):
        with _own_session() as session:
            try:
                rows = session.execute(
                    select(SigningKey.alg, SigningKey.state).where(
                        SigningKey.state.in_((KeyState.CURRENT, KeyState.NEXT))
                    )
                ).all()
                present = {(alg, state) for alg, state in rows}
                now = utcnow()
                for alg in ALGORITHMS:
                    for state in (KeyState.CURRENT, KeyState.NEXT):
                        if (alg, state.value) not in present:
                            session.add(_new_row(alg, state, now))
                            session.flush()
                session.commit()
                return
            except IntegrityError:
                session.rollback()
    raise RuntimeError("could not create the first signing keys")


# --- what the rest of the provider calls ----------------------------------------------------


def current_signing_key(alg: str = DEFAULT_ALGORITHM) -> PrivateKey:
    """The one private key that signs `alg` tokens now (with its `kid`)."""
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    return loaded_keys().signers[alg]


def public_jwks() -> dict[str, Any]:
    """{"keys": [...]}: next, current and previous keys of every algorithm, public parts only.
    The same dict object until the key set changes: callers must not modify it."""
    return loaded_keys().jwks


def verification_key_set() -> KeySet:
    """Every published key (public parts): to verify our own tokens (id_token_hint, access
    tokens at userinfo and introspection)."""
    return loaded_keys().verification


# --- rotation -------------------------------------------------------------------------------


@dataclass
class RotationOutcome:
    promoted: dict[str, str] = field(default_factory=dict)  # alg -> kid now current
    created: dict[str, str] = field(default_factory=dict)  # alg -> kid of the new next key
    deactivated: list[str] = field(default_factory=list)  # kids now previous
    retired: list[str] = field(default_factory=list)  # kids no longer published


def retire_after() -> timedelta:
    """How long a previous key stays published: the longest lifetime of a token it may have
    signed (access and ID tokens; refresh tokens are opaque), plus the delay during which
    other processes may still sign with it, plus the verifiers' clock skew. Logout tokens are
    shorter-lived than ID tokens."""
    oidc = settings().oidc
    longest = max(oidc.access_token_lifetime, oidc.id_token_lifetime)
    return timedelta(seconds=longest + CACHE_SECONDS) + RETIRE_MARGIN


def _lock_key_set(session: DbSession) -> None:
    """Serialise rotations: row locks on the next and current keys (PostgreSQL), the write
    lock (SQLite, whose writers queue). Taken first, before reading the set."""
    session.execute(
        update(SigningKey)
        .where(SigningKey.state.in_((KeyState.NEXT, KeyState.CURRENT)))
        .values(state=SigningKey.state)
        .execution_options(synchronize_session=False)
    )


def rotate(
    session: DbSession,
    *,
    actor: Actor = SYSTEM,
    force: bool = False,
    now: datetime | None = None,
) -> RotationOutcome:
    """next -> current, current -> previous, a new next key, for every algorithm; previous
    keys older than `retire_after()` are retired. The caller commits.

    Refused (KeyRotationRefused) while a next key has been published for less than
    MIN_NEXT_AGE, unless `force` (a compromised key: tokens it signed stop verifying, and
    clients with a cached JWKS must fetch it again)."""
    now = now or utcnow()
    _lock_key_set(session)
    rows = list(
        session.scalars(
            select(SigningKey).where(SigningKey.state.in_(PUBLISHED_STATES)).order_by(SigningKey.id)
        )
    )
    by_state: dict[tuple[str, str], list[SigningKey]] = {}
    for row in rows:
        by_state.setdefault((row.alg, row.state), []).append(row)
    if not force:
        for alg in ALGORITHMS:
            for row in by_state.get((alg, KeyState.NEXT), []):
                if row.created_at > now - MIN_NEXT_AGE:
                    raise KeyRotationRefused(_too_early_message(row, now))
    outcome = RotationOutcome()
    for alg in ALGORITHMS:
        current = by_state.get((alg, KeyState.CURRENT), [])
        nexts = by_state.get((alg, KeyState.NEXT), [])
        for row in current:  # first, so that the one-current index holds at every statement
            row.state = KeyState.PREVIOUS.value
            row.deactivated_at = now
            outcome.deactivated.append(row.kid)
        session.flush()
        if nexts:
            promoted = nexts[0]
            promoted.state = KeyState.CURRENT.value
            promoted.activated_at = now
        else:  # no next key (none yet): the new current is published as it starts signing
            promoted = _new_row(alg, KeyState.CURRENT, now)
            session.add(promoted)
        session.flush()
        outcome.promoted[alg] = promoted.kid
        fresh = _new_row(alg, KeyState.NEXT, now)
        session.add(fresh)
        session.flush()
        outcome.created[alg] = fresh.kid
    outcome.retired = _retire_expired(session, rows, now)
    session.flush()
    record(
        session,
        AuditEventType.OIDC_SIGNING_KEYS_ROTATED,
        subject=None,
        actor=actor,
        promoted=outcome.promoted,
        created=outcome.created,
        deactivated=outcome.deactivated,
        retired=outcome.retired,
        forced=force,
    )
    key_cache().invalidate()
    return outcome


def _retire_expired(session: DbSession, rows: Iterable[SigningKey], now: datetime) -> list[str]:
    limit = now - retire_after()
    retired = []
    for row in rows:
        if row.state != KeyState.PREVIOUS:
            continue
        if row.deactivated_at is None or row.deactivated_at <= limit:
            row.state = KeyState.RETIRED.value
            retired.append(row.kid)
    return retired


def _too_early_message(row: SigningKey, now: datetime) -> str:
    wait = int((row.created_at + MIN_NEXT_AGE - now).total_seconds()) + 1
    return _(
        "La prochaine clé %(alg)s n'est publiée que depuis %(age)s s : elle ne pourra signer "
        "que dans %(wait)s s (les clients doivent d'abord la voir dans le JWKS). "
        "--force pour passer outre (clé compromise).",
        alg=row.alg,
        age=max(int((now - row.created_at).total_seconds()), 0),
        wait=wait,
    )


def listed_keys(session: DbSession, *, include_retired: bool = False) -> Sequence[SigningKey]:
    """Every key, newest first (`idp keys list`)."""
    query = select(SigningKey).order_by(SigningKey.alg, SigningKey.id.desc())
    if not include_retired:
        query = query.where(SigningKey.state != KeyState.RETIRED)
    return list(session.scalars(query))
