"""The second factors of an account as a whole: what it has, verifying a code, stepping a
session up, the security emails, and the Order's reset. Nothing here commits.

`amr` values (RFC 8176) a session carries: `pwd` (password), `otp` (TOTP or recovery code),
`hwk` / `swk` (a device-bound / synced passkey), and `mfa` whenever two factors were used or a
passkey verified its user (ADR 0022). `acr` is `urn:sesame:acr:mfa` exactly when `mfa` is.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from idp import throttling
from idp.accounts.models import User, UserSession
from idp.accounts.services import email_user
from idp.audit.models import AuditEventType
from idp.audit.services import Actor, record
from idp.config import settings
from idp.database import DbSession, utcnow
from idp.mfa import recovery, totp
from idp.mfa.errors import InvalidSecondFactor
from idp.mfa.models import Passkey, TotpCredential
from idp.oidc.acr import ACR_ADVANCED, ACR_BASIC
from idp.urls import external_url

AMR_ORDER = ("pwd", "hwk", "swk", "otp", "user", "mfa")
SECOND_FACTOR_METHODS = frozenset({"otp", "hwk", "swk"})

otp_failures_per_account = throttling.Throttle("otp-fail-account", "otp_failures_per_account")
otp_failures_per_ip = throttling.Throttle("otp-fail-ip", "otp_failures_per_ip")


def combine_amr(*groups: Iterable[str]) -> list[str]:
    """The methods of a session, in a stable order, with `mfa` when a second factor joined the
    password, or a passkey verified its user (`user`: a passwordless login)."""
    methods = {m for group in groups for m in group if m}
    methods.discard("mfa")
    if methods & SECOND_FACTOR_METHODS and methods & {"pwd", "user"}:
        methods.add("mfa")
    return [m for m in AMR_ORDER if m in methods] + sorted(methods - set(AMR_ORDER))


def acr_for(amr: Iterable[str]) -> str:
    return ACR_ADVANCED if "mfa" in set(amr) else ACR_BASIC


def session_methods(user_session: UserSession) -> list[str]:
    return [m for m in (user_session.amr or "").replace(",", " ").split() if m]


def is_stepped_up(user_session: UserSession) -> bool:
    return user_session.acr == ACR_ADVANCED


@dataclass(frozen=True)
class Factors:
    """What an account has, for the pages."""

    totp: TotpCredential | None
    passkeys: list[Passkey] = field(default_factory=list)
    recovery_codes_left: int = 0

    @property
    def has_second_factor(self) -> bool:
        return self.totp is not None or bool(self.passkeys)


def factors_of(session: DbSession, user: User) -> Factors:
    passkeys = list(
        session.scalars(
            select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at)
        )
    )
    return Factors(
        totp=totp.confirmed_credential(session, user),
        passkeys=passkeys,
        recovery_codes_left=recovery.remaining(session, user),
    )


def has_second_factor(session: DbSession, user: User) -> bool:
    return (
        session.scalar(
            select(TotpCredential.id).where(
                TotpCredential.user_id == user.id, TotpCredential.confirmed_at.is_not(None)
            )
        )
        is not None
        or session.scalar(select(Passkey.id).where(Passkey.user_id == user.id).limit(1)) is not None
    )


def login_needs_second_factor(session: DbSession, user: User) -> bool:
    """ "Toujours demander mon second facteur": every login of this account asks for it."""
    return user.mfa_always and has_second_factor(session, user)


def verify_code(session: DbSession, user: User, code: str, *, ip: str) -> list[str]:
    """Check a TOTP code or a recovery code of `user`; returns the amr methods it proves.

    Throttled per account and per IP like passwords (a failure stays counted); a recovery code
    used is audited and announced by email. Raises InvalidSecondFactor or TooManyAttempts.
    """
    try:
        with (
            otp_failures_per_ip.attempt(ip) as ip_slot,
            otp_failures_per_account.attempt(str(user.id)) as slot,
        ):
            if totp.looks_like_totp(code):
                ok = totp.verify(session, user, code)
                used_recovery = False
            else:
                ok = used_recovery = recovery.use(session, user, code)
            if not ok:
                record(session, AuditEventType.SECOND_FACTOR_FAILED, subject=user)
                raise InvalidSecondFactor()
            slot.refund()
            ip_slot.refund()
    except throttling.TooManyAttempts:
        record(session, AuditEventType.SECOND_FACTOR_THROTTLED, subject=user)
        raise
    if used_recovery:
        left = recovery.remaining(session, user)
        record(session, AuditEventType.RECOVERY_CODE_USED, subject=user, left=left)
        notify(session, user, Notice.RECOVERY_CODE_USED, left=left)
    return ["otp"]


def step_up(session: DbSession, user_session: UserSession, methods: Iterable[str]) -> None:
    """A second factor passed on a live session: `acr`/`amr` raised and `auth_time` renewed
    (the user just authenticated). The caller rotates the cookie token (docs/security.md 14:
    `idp.accounts.auth.rotate_session`)."""
    amr = combine_amr(session_methods(user_session), methods)
    user_session.amr = " ".join(amr)
    user_session.acr = acr_for(amr)
    user_session.auth_time = utcnow()
    record(
        session,
        AuditEventType.SECOND_FACTOR_PASSED,
        subject=user_session.user,
        sid=user_session.public_id,
        amr=amr,
    )


# --- security emails ------------------------------------------------------------------------


class Notice(enum.StrEnum):
    TOTP_ADDED = "totp_added"
    TOTP_REMOVED = "totp_removed"
    RECOVERY_CODES_GENERATED = "recovery_codes_generated"
    RECOVERY_CODE_USED = "recovery_code_used"
    PASSKEY_ADDED = "passkey_added"
    PASSKEY_REMOVED = "passkey_removed"
    PASSKEY_LOGIN = "passkey_login"
    MFA_ALWAYS_ON = "mfa_always_on"
    MFA_ALWAYS_OFF = "mfa_always_off"
    MFA_RESET = "mfa_reset"


NOTICE_TEXTS: dict[Notice, LazyString] = {
    Notice.TOTP_ADDED: _l("Une application d'authentification a été ajoutée à votre compte."),
    Notice.TOTP_REMOVED: _l("L'application d'authentification a été retirée de votre compte."),
    Notice.RECOVERY_CODES_GENERATED: _l(
        "De nouveaux codes de secours ont été générés ; les anciens ne fonctionnent plus."
    ),
    Notice.RECOVERY_CODE_USED: _l(
        "Un code de secours a été utilisé pour vous connecter. Il vous en reste %(left)s."
    ),
    Notice.PASSKEY_ADDED: _l("La clé d'accès « %(name)s » a été ajoutée à votre compte."),
    Notice.PASSKEY_REMOVED: _l("La clé d'accès « %(name)s » a été supprimée de votre compte."),
    Notice.PASSKEY_LOGIN: _l("Vous vous êtes connecté avec la clé d'accès « %(name)s »."),
    Notice.MFA_ALWAYS_ON: _l("Votre second facteur sera désormais demandé à chaque connexion."),
    Notice.MFA_ALWAYS_OFF: _l(
        "Votre second facteur ne sera plus demandé à chaque connexion, seulement quand un site "
        "l'exige."
    ),
    Notice.MFA_RESET: _l(
        "Les administrateurs de l'Ordre ont retiré tous les seconds facteurs de votre compte, "
        "à votre demande. Ajoutez-en un nouveau depuis « Mon compte »."
    ),
}


def notify(session: DbSession, user: User, notice: Notice, **details: object) -> None:
    """Queue the security email of `notice` (details are escaped by the templates)."""
    text = str(NOTICE_TEXTS[notice]) % details if details else str(NOTICE_TEXTS[notice])
    email_user(
        session,
        user,
        "security_notice",
        what=text,
        account_link=external_url("accounts.account"),
        forgot_link=external_url("accounts.forgot_password"),
        support_email=settings().support_email,
    )


# --- losing every factor ---------------------------------------------------------------------


def forget_factors_if_none_left(session: DbSession, user: User) -> None:
    """After a removal: with no TOTP and no passkey left, recovery codes and "always ask" go."""
    if not has_second_factor(session, user):
        recovery.remove_all(session, user)
        user.mfa_always = False


def reset_all(session: DbSession, user: User, *, actor: Actor) -> None:
    """The Order's procedure for a user who lost every factor (`idp users reset-mfa`)."""
    totp.remove(session, user)
    recovery.remove_all(session, user)
    session.execute(delete(Passkey).where(Passkey.user_id == user.id))
    user.mfa_always = False
    record(session, AuditEventType.MFA_RESET, subject=user, actor=actor)
    notify(session, user, Notice.MFA_RESET)
