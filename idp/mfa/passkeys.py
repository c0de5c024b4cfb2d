"""Passkeys (WebAuthn, py_webauthn): registration, and assertions as a second factor, as a
passwordless first factor, or to confirm one's identity. ADR 0022. Nothing here commits.

- Credentials are discoverable (resident key required), attestation `none`, user handle = the
  account's opaque `sub`. ES256, RS256 and EdDSA keys are accepted.
- Every ceremony's challenge is a `WebauthnChallenge` row (purpose, account, two minutes):
  the answer's challenge is taken from its clientDataJSON and consumed by one
  `DELETE … WHERE challenge = … AND expires_at > now` whose row count decides (single use,
  two concurrent answers: one wins), before anything else is checked.
- Sign counters: py_webauthn refuses a counter that does not increase (when the authenticator
  keeps one); the new counter is written by one conditional UPDATE on the counter read, so two
  concurrent assertions carrying the same counter (a cloned authenticator): one wins.
- Passwordless logins require user verification (PIN, biometrics); as a second factor or to
  confirm one's identity it is preferred. Assertions are throttled like codes (per IP, and per
  account when the account is known).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import webauthn
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from webauthn.helpers import (
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp import throttling
from idp.accounts.models import User
from idp.audit.models import AuditEventType
from idp.audit.services import record
from idp.config import settings
from idp.database import DbSession, flush_or_raise, on_violation, utcnow
from idp.mfa.errors import MfaError, PasskeyRefused
from idp.mfa.models import Passkey, WebauthnChallenge
from idp.text import has_forbidden_characters

RP_NAME = "Sésame"
CHALLENGE_SECONDS = 120
CHALLENGE_BYTES = 32
NAME_MAX = 60
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
]
# What a malformed or hostile answer can raise while it is parsed or checked: every one of
# them is a refusal, never a 500.
_MALFORMED = (WebAuthnException, ValueError, TypeError, KeyError, IndexError, AttributeError)


class Purpose(enum.StrEnum):
    REGISTER = "register"
    LOGIN = "login"  # passwordless
    SECOND_FACTOR = "second_factor"
    CONFIRM = "confirm"  # « Confirmez votre identité »


class InvalidPasskeyName(MfaError):
    status = 400
    default_message = _l("Donnez un nom à votre clé d'accès (60 caractères au plus).")


class PasskeyNameHasForbiddenCharacters(InvalidPasskeyName):
    default_message = _l(
        "Le nom de la clé d'accès contient des caractères non autorisés (caractères de "
        "contrôle, retours à la ligne ou caractères invisibles)."
    )


class PasskeyAlreadyRegistered(MfaError):
    status = 400
    default_message = _l("Cette clé d'accès est déjà enregistrée.")


class PasskeyChallengeExpired(PasskeyRefused):
    default_message = _l(
        "La demande a expiré ou a déjà servi. Recommencez l'opération avec votre clé d'accès."
    )


on_violation("uq_mfa_passkeys_credential_id", PasskeyAlreadyRegistered)


def clean_name(raw: str | None) -> str:
    """A passkey's name as its owner typed it: trimmed, 1 to 60 characters, no control or
    invisible characters (they would reach the security emails)."""
    name = (raw or "").strip()
    if has_forbidden_characters(name):
        raise PasskeyNameHasForbiddenCharacters()
    if not name or len(name) > NAME_MAX:
        raise InvalidPasskeyName()
    return name


def passkeys_of(session: DbSession, user: User) -> list[Passkey]:
    return list(
        session.scalars(
            select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at)
        )
    )


def passkey_of(session: DbSession, user: User, passkey_id: int) -> Passkey | None:
    return session.scalar(
        select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user.id)
    )


# --- challenges -----------------------------------------------------------------------------


def _new_challenge(session: DbSession, purpose: Purpose, user: User | None) -> bytes:
    """A fresh random challenge kept server-side for CHALLENGE_SECONDS; expired ones of every
    ceremony are purged on the way."""
    now = utcnow()
    session.execute(
        delete(WebauthnChallenge)
        .where(WebauthnChallenge.expires_at <= now)
        .execution_options(synchronize_session=False)
    )
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    session.add(
        WebauthnChallenge(
            challenge=bytes_to_base64url(challenge),
            purpose=purpose.value,
            user_id=user.id if user is not None else None,
            created_at=now,
            expires_at=now + timedelta(seconds=CHALLENGE_SECONDS),
        )
    )
    session.flush()
    return challenge


def _consume_challenge(
    session: DbSession, challenge: bytes, purpose: Purpose, user: User | None
) -> None:
    """Spend the challenge an answer carries: one DELETE, whose row count says whether it was
    ours, for this ceremony and account, unexpired and unused. Raises PasskeyChallengeExpired."""
    statement = delete(WebauthnChallenge).where(
        WebauthnChallenge.challenge == bytes_to_base64url(challenge),
        WebauthnChallenge.purpose == purpose.value,
        WebauthnChallenge.expires_at > utcnow(),
    )
    if user is None:
        statement = statement.where(WebauthnChallenge.user_id.is_(None))
    else:
        statement = statement.where(WebauthnChallenge.user_id == user.id)
    result = session.execute(statement.execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise PasskeyChallengeExpired()


def _challenge_of(client_data_json: bytes) -> bytes:
    try:
        challenge = parse_client_data_json(client_data_json).challenge
    except _MALFORMED as error:
        raise PasskeyRefused() from error
    if not isinstance(challenge, bytes) or not challenge:
        raise PasskeyRefused()
    return challenge


def _descriptors(passkeys: list[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    descriptors = []
    for passkey in passkeys:
        transports = []
        for value in passkey.transports or []:
            try:
                transports.append(AuthenticatorTransport(value))
            except ValueError:
                continue  # a transport this version of py_webauthn does not know
        descriptors.append(
            PublicKeyCredentialDescriptor(id=passkey.credential_id, transports=transports or None)
        )
    return descriptors


# --- registration ---------------------------------------------------------------------------


def registration_options(session: DbSession, user: User) -> str:
    """The options of navigator.credentials.create() for a new passkey of `user`, as JSON."""
    options = webauthn.generate_registration_options(
        rp_id=settings().webauthn_rp_id,
        rp_name=RP_NAME,
        user_id=user.subject.encode(),
        user_name=user.username,
        user_display_name=user.display_name or user.username,
        challenge=_new_challenge(session, Purpose.REGISTER, user),
        timeout=CHALLENGE_SECONDS * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(passkeys_of(session, user)),
        supported_pub_key_algs=ALGORITHMS,
    )
    return webauthn.options_to_json(options)


def register(session: DbSession, user: User, credential: Any, name: str | None) -> Passkey:
    """Verify the answer to `registration_options` and keep the new passkey under `name`;
    audited. Raises InvalidPasskeyName, PasskeyRefused (a bad, expired or reused answer) or
    PasskeyAlreadyRegistered. The caller announces it (`factors.notify`)."""
    name = clean_name(name)
    try:
        parsed: RegistrationCredential = parse_registration_credential_json(credential)
    except _MALFORMED as error:
        raise PasskeyRefused() from error
    challenge = _challenge_of(parsed.response.client_data_json)
    _consume_challenge(session, challenge, Purpose.REGISTER, user)
    try:
        verified = webauthn.verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=settings().webauthn_rp_id,
            expected_origin=settings().issuer_origin,
            supported_pub_key_algs=ALGORITHMS,
        )
    except _MALFORMED as error:
        raise PasskeyRefused() from error
    taken = session.scalar(
        select(Passkey.id).where(Passkey.credential_id == verified.credential_id)
    )
    if taken is not None:
        raise PasskeyAlreadyRegistered()
    transports = [t.value for t in (parsed.response.transports or [])]
    passkey = Passkey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=transports,
        name=name,
        aaguid=verified.aaguid,
        backed_up=verified.credential_backed_up,
        created_at=utcnow(),
    )
    session.add(passkey)
    flush_or_raise(session)  # the unique credential id: a concurrent twin is refused here
    record(
        session,
        AuditEventType.PASSKEY_ADDED,
        subject=user,
        passkey=passkey.id,
        name=name,
        backed_up=passkey.backed_up,
    )
    return passkey


def rename(session: DbSession, user: User, passkey: Passkey, name: str | None) -> None:
    new_name = clean_name(name)
    if new_name == passkey.name:
        return
    record(
        session,
        AuditEventType.PASSKEY_RENAMED,
        subject=user,
        passkey=passkey.id,
        old_name=passkey.name,
        name=new_name,
    )
    passkey.name = new_name


def remove(session: DbSession, user: User, passkey: Passkey) -> None:
    """Delete one passkey; audited. The caller announces it and forgets the other factors when
    none is left (`factors.forget_factors_if_none_left`)."""
    record(
        session, AuditEventType.PASSKEY_REMOVED, subject=user, passkey=passkey.id, name=passkey.name
    )
    session.delete(passkey)
    session.flush()


# --- authentication -------------------------------------------------------------------------


def authentication_options(session: DbSession, purpose: Purpose, user: User | None = None) -> str:
    """The options of navigator.credentials.get(), as JSON.

    Passwordless (`Purpose.LOGIN`, no account yet): any discoverable passkey of this site, user
    verification required. Otherwise `user`'s passkeys, user verification preferred.
    """
    if purpose == Purpose.LOGIN:
        allowed: list[PublicKeyCredentialDescriptor] = []
        verification = UserVerificationRequirement.REQUIRED
        user = None
    else:
        if user is None or purpose == Purpose.REGISTER:
            raise ValueError(f"{purpose} needs an account and is an assertion")
        allowed = _descriptors(passkeys_of(session, user))
        verification = UserVerificationRequirement.PREFERRED
    options = webauthn.generate_authentication_options(
        rp_id=settings().webauthn_rp_id,
        challenge=_new_challenge(session, purpose, user),
        timeout=CHALLENGE_SECONDS * 1000,
        allow_credentials=allowed,
        user_verification=verification,
    )
    return webauthn.options_to_json(options)


@dataclass(frozen=True)
class PasskeyUse:
    """A verified assertion: the passkey (its counter updated), its owner, and the amr method
    it proves (`hwk` or `swk`)."""

    passkey: Passkey
    user: User

    @property
    def method(self) -> str:
        return self.passkey.amr


def authenticate(
    session: DbSession,
    credential: Any,
    purpose: Purpose,
    *,
    ip: str,
    user: User | None = None,
) -> PasskeyUse:
    """Verify an answer to `authentication_options(purpose, user)`.

    `user` is who must own the passkey (second factor, confirmation); None for a passwordless
    login, where the passkey names its owner (its user handle must be the owner's `sub`) and the
    owner must be active. Throttled per IP, and per account when known; a failure is audited.
    Raises PasskeyRefused (same message whatever failed) or TooManyAttempts.
    """
    from idp.mfa import factors

    if purpose == Purpose.REGISTER:
        raise ValueError("registration answers go to register()")
    try:
        with factors.otp_failures_per_ip.attempt(ip) as ip_slot:
            if user is not None:
                with factors.otp_failures_per_account.attempt(str(user.id)) as slot:
                    use = _verify_assertion(session, credential, purpose, user)
                    slot.refund()
            else:
                use = _verify_assertion(session, credential, purpose, None)
            ip_slot.refund()
    except throttling.TooManyAttempts:
        if user is not None:
            record(session, AuditEventType.SECOND_FACTOR_THROTTLED, subject=user)
        raise
    return use


def _refused(session: DbSession, purpose: Purpose, owner: User | None, reason: str) -> None:
    if owner is None:
        return
    if purpose == Purpose.LOGIN:
        record(session, AuditEventType.LOGIN_FAILED, subject=owner, reason=reason)
    else:
        record(
            session,
            AuditEventType.SECOND_FACTOR_FAILED,
            subject=owner,
            method="passkey",
            why=reason,
        )


def _verify_assertion(
    session: DbSession, credential: Any, purpose: Purpose, user: User | None
) -> PasskeyUse:
    try:
        parsed: AuthenticationCredential = parse_authentication_credential_json(credential)
    except _MALFORMED as error:
        _refused(session, purpose, user, "malformed")
        raise PasskeyRefused() from error
    challenge = _challenge_of(parsed.response.client_data_json)
    try:
        _consume_challenge(session, challenge, purpose, user)
    except PasskeyRefused:
        _refused(session, purpose, user, "challenge")
        raise
    passkey = session.scalar(select(Passkey).where(Passkey.credential_id == parsed.raw_id))
    if passkey is None or (user is not None and passkey.user_id != user.id):
        _refused(session, purpose, user, "unknown passkey")
        raise PasskeyRefused()
    owner = session.get(User, passkey.user_id)
    assert owner is not None
    if purpose == Purpose.LOGIN:
        handle = parsed.response.user_handle
        if handle is None or not secrets.compare_digest(handle, owner.subject.encode()):
            _refused(session, purpose, owner, "user handle")
            raise PasskeyRefused()
    known_count = passkey.sign_count
    try:
        verified = webauthn.verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=settings().webauthn_rp_id,
            expected_origin=settings().issuer_origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=known_count,
            require_user_verification=purpose == Purpose.LOGIN,
        )
    except _MALFORMED as error:
        _refused(session, purpose, owner, "assertion")
        raise PasskeyRefused() from error
    if not owner.is_active:
        _refused(session, purpose, owner, "account not active")
        raise PasskeyRefused()
    # Compare-and-set on the counter read: of two assertions checked against one counter, the
    # second finds it changed and is refused.
    result = session.execute(
        update(Passkey)
        .where(Passkey.id == passkey.id, Passkey.sign_count == known_count)
        .values(
            sign_count=verified.new_sign_count,
            last_used_at=utcnow(),
            backed_up=verified.credential_backed_up,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        _refused(session, purpose, owner, "counter")
        raise PasskeyRefused()
    session.refresh(passkey)
    return PasskeyUse(passkey=passkey, user=owner)


def passwordless_login(session: DbSession, use: PasskeyUse) -> list[str]:
    """A passwordless login passed: audited (`passkey_login`, `login_succeeded`) and announced
    by email (every passkey login is, ADR 0022); returns the session's amr."""
    from idp.mfa import factors

    amr = factors.combine_amr([use.method, "user"])
    use.user.last_login_at = utcnow()
    record(
        session,
        AuditEventType.PASSKEY_LOGIN,
        subject=use.user,
        passkey=use.passkey.id,
        name=use.passkey.name,
    )
    record(session, AuditEventType.LOGIN_SUCCEEDED, subject=use.user, method="passkey", amr=amr)
    factors.notify(session, use.user, factors.Notice.PASSKEY_LOGIN, name=use.passkey.name)
    return amr
