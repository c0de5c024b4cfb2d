"""Domain errors of the accounts domain. Each carries the French message a page shows."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from idp.errors import DomainError


class AccountError(DomainError):
    """Base class of the accounts domain's errors."""


class InvalidText(AccountError):
    default_message = _l(
        "Ce champ contient des caractères non autorisés (caractères de contrôle, "
        "retours à la ligne ou caractères invisibles)."
    )


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


class AccountNotActive(AccountError):
    default_message = _l(
        "Votre compte n'est pas encore activé. Cliquez sur le lien reçu par email, "
        "ou demandez un nouvel email d'activation."
    )


class AccountDisabled(AccountError):
    default_message = _l(
        "Ce compte est désactivé. Pour en connaître la raison ou le faire réactiver, "
        "écrivez au support de Sésame (voir la page « Aide »)."
    )


class TokenInvalid(AccountError):
    default_message = _l("Ce lien n'est pas valide. Demandez-en un nouveau.")
    status = 400


class TokenExpired(AccountError):
    default_message = _l("Ce lien a expiré. Demandez-en un nouveau.")
    status = 400


class TokenUsed(AccountError):
    default_message = _l("Ce lien a déjà été utilisé.")
    status = 400


class SignupInvalid(AccountError):
    """Several fields of a signup are refused at once: `errors` maps field -> messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(_l("Le formulaire contient des erreurs."))
