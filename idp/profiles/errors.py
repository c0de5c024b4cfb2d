"""The outcomes of a registry signup that stop it, each with its own French message
(docs/security.md 10-12). Each names what the page shows beside the message: the regional
council to contact, or the links to log in and reset the password."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from idp.errors import DomainError
from idp.registry.models import RegionalCouncil


class RegistrySignupStopped(DomainError):
    """A registry signup cannot go on; the page explains why and what to do."""

    title = _l("Inscription impossible")
    council: RegionalCouncil | None = None
    offers_login = False  # show "Se connecter" and "Mot de passe oublié"

    def __init__(self, message: str | None = None, *, council: RegionalCouncil | None = None):
        self.council = council
        super().__init__(message)


class EntryNotFound(RegistrySignupStopped):
    title = _l("Inscription introuvable")
    default_message = _l(
        "Aucune inscription au tableau ne porte ce numéro. Vérifiez-le sur votre carte "
        "professionnelle ou cherchez votre nom."
    )


class CandidateExpired(RegistrySignupStopped):
    title = _l("Recommencez la recherche")
    default_message = _l(
        "Votre choix a expiré ou n'est pas valide. Cherchez à nouveau votre nom dans la liste."
    )


class EntryStruckOff(RegistrySignupStopped):
    title = _l("Inscription radiée")
    default_message = _l(
        "Cette inscription est radiée du tableau de l'Ordre : elle ne permet pas de créer un "
        "compte. Si c'est une erreur, contactez votre conseil régional."
    )


class EntrySuspended(RegistrySignupStopped):
    title = _l("Inscription suspendue")
    default_message = _l(
        "Cette inscription est suspendue : elle ne permet pas de créer un compte pendant la "
        "suspension. Pour toute question, contactez votre conseil régional."
    )


class WrongCategory(RegistrySignupStopped):
    title = _l("Profil différent")

    def __init__(self, *, listed_as: str, chosen: str, council: RegionalCouncil) -> None:
        super().__init__(
            _(
                "Cette personne est inscrite au tableau comme « %(listed)s », pas comme "
                "« %(chosen)s ». Choisissez le profil « %(listed)s », ou contactez votre "
                "conseil régional si votre catégorie a changé.",
                listed=listed_as,
                chosen=chosen,
            ),
            council=council,
        )


class BirthDateMismatch(RegistrySignupStopped):
    title = _l("Date de naissance non reconnue")
    default_message = _l(
        "Il n'y a pas de lien entre votre nom et votre date de naissance dans le tableau de "
        "l'Ordre. Vérifiez la date saisie ; si elle est juste, contactez votre conseil "
        "régional pour corriger votre inscription."
    )


class NoEmailOnFile(RegistrySignupStopped):
    title = _l("Aucune adresse email connue")
    default_message = _l(
        "Aucune adresse email n'est reliée à votre inscription au tableau : nous ne pouvons "
        "pas vous envoyer l'email d'activation. Contactez votre conseil régional pour qu'il "
        "ajoute votre adresse ; vous pourrez ensuite créer votre compte."
    )


class EntryAlreadyClaimed(RegistrySignupStopped):
    title = _l("Vous avez déjà un compte")
    offers_login = True
    default_message = _l("Un compte Sésame est déjà relié à cette inscription au tableau.")

    def __init__(self, masked_email: str | None = None) -> None:
        message = None
        if masked_email:
            message = _(
                "Un compte Sésame est déjà relié à cette inscription au tableau, avec l'adresse "
                "%(email)s. Connectez-vous, ou choisissez un nouveau mot de passe avec « Mot de "
                "passe oublié » : l'email rappelle aussi votre identifiant.",
                email=masked_email,
            )
        super().__init__(message)


class MatchLocked(RegistrySignupStopped):
    """Too many wrong birth dates for this entry (or from this address)."""

    title = _l("Inscription bloquée pour le moment")
    status = 429

    def __init__(self, retry_after: int, *, council: RegionalCouncil) -> None:
        self.retry_after = retry_after
        minutes = max(1, -(-retry_after // 60))
        super().__init__(
            ngettext(
                "Trop de dates de naissance erronées : la création de compte pour cette "
                "inscription est bloquée pendant %(num)d minute. Si vous n'êtes pas à "
                "l'origine de ces essais, ou si votre date de naissance est mal enregistrée, "
                "contactez votre conseil régional.",
                "Trop de dates de naissance erronées : la création de compte pour cette "
                "inscription est bloquée pendant %(num)d minutes. Si vous n'êtes pas à "
                "l'origine de ces essais, ou si votre date de naissance est mal enregistrée, "
                "contactez votre conseil régional.",
                minutes,
            ),
            council=council,
        )
