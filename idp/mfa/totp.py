"""TOTP (RFC 6238, pyotp): enrolment, confirmation, and single-use verification.

A code is accepted for the current 30-second step and one step either side (clock drift), and
only for a step later than the last one accepted: one conditional UPDATE of
`last_used_step` decides, so a replay (or two concurrent uses of one code) is refused.
"""

from __future__ import annotations

import hmac
import re
import time

import pyotp
from sqlalchemy import delete, select, update

from idp.accounts.models import User
from idp.config import settings
from idp.database import DbSession, utcnow
from idp.mfa.models import TotpCredential

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1  # one step either side
CODE_PATTERN = re.compile(r"^\d{6}$")


def clean_code(code: str) -> str:
    """What a person types: spaces and dashes dropped (`123 456`)."""
    return re.sub(r"[\s\-]", "", code or "")


def looks_like_totp(code: str) -> bool:
    return bool(CODE_PATTERN.match(clean_code(code)))


def confirmed_credential(session: DbSession, user: User) -> TotpCredential | None:
    return session.scalar(
        select(TotpCredential).where(
            TotpCredential.user_id == user.id, TotpCredential.confirmed_at.is_not(None)
        )
    )


def start_enrolment(session: DbSession, user: User) -> TotpCredential:
    """A new unconfirmed secret (replacing an unconfirmed one); a confirmed TOTP stays until
    the new one is confirmed (`confirm_enrolment` replaces it)."""
    session.execute(
        delete(TotpCredential).where(
            TotpCredential.user_id == user.id, TotpCredential.confirmed_at.is_(None)
        )
    )
    if confirmed_credential(session, user) is not None:
        raise ValueError("remove the confirmed TOTP before enrolling another one")
    credential = TotpCredential(user_id=user.id, secret=pyotp.random_base32(32))
    session.add(credential)
    session.flush()
    return credential


def pending_enrolment(session: DbSession, user: User) -> TotpCredential | None:
    return session.scalar(
        select(TotpCredential).where(
            TotpCredential.user_id == user.id, TotpCredential.confirmed_at.is_(None)
        )
    )


def provisioning_uri(credential: TotpCredential, user: User) -> str:
    """The `otpauth://` URI of the QR code (issuer and account name shown by the app)."""
    return pyotp.TOTP(credential.secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.username, issuer_name=settings().mfa.totp_issuer
    )


def matching_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step whose code is `code` (current step ± DRIFT_STEPS), compared in constant
    time; None when none matches."""
    code = clean_code(code)
    if not CODE_PATTERN.match(code) or not secret:
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            found = step
    return found


def _consume_step(session: DbSession, credential: TotpCredential, step: int) -> bool:
    """Record `step` as used unless it (or a later one) already was: one atomic UPDATE."""
    result = session.execute(
        update(TotpCredential)
        .where(TotpCredential.id == credential.id, TotpCredential.last_used_step < step)
        .values(last_used_step=step, last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def confirm_enrolment(
    session: DbSession, user: User, code: str, *, now: float | None = None
) -> TotpCredential | None:
    """Confirm the pending secret with a first code; None when the code does not match."""
    credential = pending_enrolment(session, user)
    if credential is None:
        return None
    step = matching_step(credential.secret, code, now=now)
    if step is None or not _consume_step(session, credential, step):
        return None
    session.refresh(credential)
    credential.confirmed_at = utcnow()
    return credential


def verify(session: DbSession, user: User, code: str, *, now: float | None = None) -> bool:
    """Whether `code` is a valid, not yet used code of the user's confirmed TOTP."""
    credential = confirmed_credential(session, user)
    if credential is None:
        return False
    step = matching_step(credential.secret, code, now=now)
    return step is not None and _consume_step(session, credential, step)


def remove(session: DbSession, user: User) -> bool:
    result = session.execute(delete(TotpCredential).where(TotpCredential.user_id == user.id))
    return bool(result.rowcount)  # type: ignore[attr-defined]
