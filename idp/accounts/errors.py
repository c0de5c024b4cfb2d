"""Domain errors of the accounts domain. Each carries the French message a page shows."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext


class AccountError(Exception):
    """Base class: `message` is safe to show to the user."""

    default_message = _l("Une erreur est survenue.")

    def __init__(self, message: str | None = None) -> None:
        self.message = str(message if message is not None else self.default_message)
        super().__init__(self.message)


class InvalidUsername(AccountError):
    default_message = _l("Identifiant invalide.")


class UsernameTaken(AccountError):
    default_message = _l("Cet identifiant est déjà pris. Choisissez-en un autre.")


class UsernameImmutable(AccountError):
    default_message = _l("L'identifiant ne peut jamais être modifié.")


class WeakPassword(AccountError):
    default_message = _l("Ce mot de passe n'est pas accepté.")


class InvalidCredentials(AccountError):
    default_message = _l("Identifiant ou mot de passe incorrect.")


class TooManyAttempts(AccountError):
    """Raised when throttled; `retry_after` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        minutes = max(1, -(-self.retry_after // 60))
        super().__init__(
            str(
                lazy_ngettext(
                    "Trop de tentatives. Réessayez dans %(num)d minute.",
                    "Trop de tentatives. Réessayez dans %(num)d minutes.",
                    minutes,
                )
            )
        )


class AccountNotActive(AccountError):
    default_message = _l(
        "Votre compte n'est pas encore activé. Cliquez sur le lien reçu par email, "
        "ou demandez un nouvel email d'activation."
    )


class AccountDisabled(AccountError):
    default_message = _l("Ce compte est désactivé. Contactez le support de Sésame.")


class TokenInvalid(AccountError):
    default_message = _l("Ce lien n'est pas valide. Demandez-en un nouveau.")


class TokenExpired(AccountError):
    default_message = _l("Ce lien a expiré. Demandez-en un nouveau.")


class TokenUsed(AccountError):
    default_message = _l("Ce lien a déjà été utilisé.")
