"""Errors of the second-factor domain (French messages the pages show)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from idp.errors import DomainError


class MfaError(DomainError):
    """Base class of the second-factor domain's errors."""


class InvalidSecondFactor(MfaError):
    default_message = _l(
        "Code incorrect, expiré ou déjà utilisé. Saisissez le code affiché maintenant par votre "
        "application, ou un code de secours."
    )


class NoSecondFactor(MfaError):
    default_message = _l("Votre compte n'a pas encore de second facteur.")


class PasskeyRefused(MfaError):
    default_message = _l("La clé d'accès n'a pas pu être vérifiée. Réessayez.")


class ReauthenticationFailed(MfaError):
    default_message = _l("Mot de passe ou code incorrect.")
