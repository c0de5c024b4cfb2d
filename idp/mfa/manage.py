"""Changes to an account's second factors from « Sécurité avancée » (ADR 0022): adding and
removing the TOTP, regenerating recovery codes, "toujours demander", and proving one's
identity again before such a change. Each change is audited and announced by email; nothing
here commits (the views do).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from flask_babel import lazy_gettext as _l

from idp import throttling
from idp.accounts import services
from idp.accounts.models import User
from idp.audit.models import AuditEventType
from idp.audit.services import record
from idp.config import settings
from idp.database import DbSession, utcnow
from idp.mfa import factors, recovery, totp
from idp.mfa.errors import MfaError, NoSecondFactor
from idp.mfa.factors import Notice, otp_failures_per_account, otp_failures_per_ip
from idp.mfa.models import TotpCredential

# The audit, email and "Mon compte" history of factor changes and uses.
SECURITY_EVENTS = [
    AuditEventType.TOTP_ADDED,
    AuditEventType.TOTP_REMOVED,
    AuditEventType.RECOVERY_CODES_GENERATED,
    AuditEventType.RECOVERY_CODE_USED,
    AuditEventType.PASSKEY_ADDED,
    AuditEventType.PASSKEY_REMOVED,
    AuditEventType.PASSKEY_RENAMED,
    AuditEventType.PASSKEY_LOGIN,
    AuditEventType.SECOND_FACTOR_PASSED,
    AuditEventType.SECOND_FACTOR_FAILED,
    AuditEventType.SECOND_FACTOR_THROTTLED,
    AuditEventType.MFA_ALWAYS_CHANGED,
    AuditEventType.MFA_RESET,
]


class WrongEnrolmentCode(MfaError):
    default_message = _l(
        "Ce code ne correspond pas. Saisissez le code à 6 chiffres affiché maintenant par votre "
        "application pour le compte « Sésame » que vous venez d'ajouter. S'il est encore refusé, "
        "vérifiez que votre téléphone est à l'heure exacte (réglage automatique)."
    )


class TotpAlreadyEnrolled(MfaError):
    default_message = _l(
        "Votre compte a déjà une application d'authentification. Retirez-la avant d'en ajouter "
        "une autre."
    )


class FactorNeeded(NoSecondFactor):
    default_message = _l(
        "Ajoutez d'abord un second facteur (une application d'authentification ou une clé d'accès)."
    )


class NothingToConfirm(MfaError):
    default_message = _l("Saisissez votre mot de passe, ou un code de votre second facteur.")


# --- TOTP ---------------------------------------------------------------------------------


def totp_enrolment(session: DbSession, user: User) -> TotpCredential:
    """The secret to show on the enrolment page: the pending one while it is recent (a reload
    or a language switch must not invalidate what the person already scanned), else a new
    one. Raises TotpAlreadyEnrolled when a confirmed TOTP exists."""
    if totp.confirmed_credential(session, user) is not None:
        raise TotpAlreadyEnrolled()
    pending = totp.pending_enrolment(session, user)
    fresh_since = utcnow() - timedelta(seconds=settings().mfa.recent_auth)
    if pending is not None and pending.created_at >= fresh_since:
        return pending
    return totp.start_enrolment(session, user)


def confirm_totp(session: DbSession, user: User, code: str, *, ip: str) -> list[str]:
    """Confirm the pending TOTP with its first code, throttled like `factors.verify_code`;
    audited and emailed. Returns the recovery codes made for an account that had none left
    (to show once), else []. Raises WrongEnrolmentCode or TooManyAttempts."""
    try:
        with (
            otp_failures_per_ip.attempt(ip) as ip_slot,
            otp_failures_per_account.attempt(str(user.id)) as slot,
        ):
            if totp.confirm_enrolment(session, user, code) is None:
                record(
                    session, AuditEventType.SECOND_FACTOR_FAILED, subject=user, during="enrolment"
                )
                raise WrongEnrolmentCode()
            slot.refund()
            ip_slot.refund()
    except throttling.TooManyAttempts:
        record(session, AuditEventType.SECOND_FACTOR_THROTTLED, subject=user, during="enrolment")
        raise
    record(session, AuditEventType.TOTP_ADDED, subject=user)
    factors.notify(session, user, Notice.TOTP_ADDED)
    if recovery.remaining(session, user):
        return []
    codes = recovery.generate(session, user)
    record(session, AuditEventType.RECOVERY_CODES_GENERATED, subject=user, count=len(codes))
    return codes


def remove_totp(session: DbSession, user: User) -> bool:
    """Remove the TOTP (confirmed or pending); False when there was none. With no factor
    left, the recovery codes and "toujours demander" go too."""
    had_confirmed = totp.confirmed_credential(session, user) is not None
    if not totp.remove(session, user) or not had_confirmed:
        return False
    record(session, AuditEventType.TOTP_REMOVED, subject=user)
    factors.notify(session, user, Notice.TOTP_REMOVED)
    factors.forget_factors_if_none_left(session, user)
    return True


# --- recovery codes and "toujours demander" -------------------------------------------------


def regenerate_recovery_codes(session: DbSession, user: User) -> list[str]:
    """A new batch replacing the old one (audited, emailed); only for an account with a
    factor (the codes stand in for it). Raises FactorNeeded."""
    if not factors.has_second_factor(session, user):
        raise FactorNeeded()
    codes = recovery.generate(session, user)
    record(session, AuditEventType.RECOVERY_CODES_GENERATED, subject=user, count=len(codes))
    factors.notify(session, user, Notice.RECOVERY_CODES_GENERATED)
    return codes


def set_always_ask(session: DbSession, user: User, always: bool) -> bool:
    """ "Toujours demander mon second facteur" on or off; False when unchanged. Turning it on
    needs a factor (FactorNeeded); turning it off never does."""
    if always and not factors.has_second_factor(session, user):
        raise FactorNeeded()
    if user.mfa_always == always:
        return False
    user.mfa_always = always
    record(session, AuditEventType.MFA_ALWAYS_CHANGED, subject=user, enabled=always)
    factors.notify(session, user, Notice.MFA_ALWAYS_ON if always else Notice.MFA_ALWAYS_OFF)
    return True


# --- « Confirmez votre identité » -----------------------------------------------------------


def prove_identity(
    session: DbSession, user: User, *, password: str = "", code: str = "", ip: str
) -> Literal["pwd", "otp"]:
    """The password (under the login throttles: a wrong one counts as a failed login) or a
    TOTP / recovery code (`factors.verify_code`: throttled, single use). Returns the method.
    Raises NothingToConfirm, InvalidCredentials, InvalidSecondFactor or TooManyAttempts."""
    if password:
        services.verify_current_password(session, user, password, ip=ip)
        return "pwd"
    if code:
        factors.verify_code(session, user, code, ip=ip)
        return "otp"
    raise NothingToConfirm()
