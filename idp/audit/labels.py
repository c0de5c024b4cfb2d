"""How audit events read on "Mon compte": what happened, and who did it."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from idp.audit.models import ActorKind, AuditEvent, AuditEventType

EVENT_LABELS: dict[str, LazyString] = {
    AuditEventType.LOGIN_SUCCEEDED: _l("Connexion réussie"),
    AuditEventType.LOGIN_FAILED: _l("Connexion échouée"),
    AuditEventType.LOGIN_THROTTLED: _l("Connexion bloquée (trop de tentatives)"),
    AuditEventType.PASSWORD_CHANGED: _l("Mot de passe changé"),
    AuditEventType.PASSWORD_RESET: _l("Mot de passe réinitialisé"),
    AuditEventType.ACCOUNT_CREATED_BY_ADMIN: _l("Compte créé"),
    AuditEventType.ACCOUNT_DISABLED: _l("Compte désactivé"),
    AuditEventType.ACTIVATION: _l("Compte activé"),
    AuditEventType.REGISTRY_CLAIM_CREATED: _l("Compte relié à votre inscription au tableau"),
    AuditEventType.REGISTRY_CLAIM_LOST: _l("Profil retiré (inscription suspendue ou radiée)"),
    AuditEventType.REGISTRY_CLAIM_RESTORED: _l("Profil rétabli (inscription au tableau)"),
    AuditEventType.REGISTRY_MATCH_LOCKED: _l(
        "Inscription bloquée (trop d'essais de date de naissance)"
    ),
    AuditEventType.COUNCIL_ROLE_GRANTED: _l("Rôle d'administrateur du tableau accordé"),
    AuditEventType.COUNCIL_ROLE_REVOKED: _l("Rôle d'administrateur du tableau retiré"),
    AuditEventType.OIDC_CLIENT_CREATED: _l("Site partenaire enregistré"),
    AuditEventType.OIDC_CLIENT_SECRET_ROTATED: _l("Secret d'un site partenaire renouvelé"),
    AuditEventType.OIDC_CLIENT_REMOVED: _l("Site partenaire supprimé"),
    AuditEventType.OIDC_SIGNING_KEYS_ROTATED: _l("Clés de signature renouvelées"),
    AuditEventType.OIDC_ACCESS_WITHDRAWN: _l("Accès d'un site partenaire retiré"),
    AuditEventType.OIDC_CLIENT_UPDATED: _l("Site partenaire modifié"),
    AuditEventType.TOTP_ADDED: _l("Application d'authentification ajoutée"),
    AuditEventType.TOTP_REMOVED: _l("Application d'authentification retirée"),
    AuditEventType.RECOVERY_CODES_GENERATED: _l("Nouveaux codes de secours générés"),
    AuditEventType.RECOVERY_CODE_USED: _l("Code de secours utilisé"),
    AuditEventType.PASSKEY_ADDED: _l("Clé d'accès ajoutée"),
    AuditEventType.PASSKEY_REMOVED: _l("Clé d'accès supprimée"),
    AuditEventType.PASSKEY_RENAMED: _l("Clé d'accès renommée"),
    AuditEventType.PASSKEY_LOGIN: _l("Connexion avec une clé d'accès"),
    AuditEventType.SECOND_FACTOR_PASSED: _l("Second facteur vérifié"),
    AuditEventType.SECOND_FACTOR_FAILED: _l("Second facteur refusé"),
    AuditEventType.SECOND_FACTOR_THROTTLED: _l("Second facteur bloqué (trop de tentatives)"),
    AuditEventType.REAUTHENTICATED: _l("Identité confirmée avant un changement de sécurité"),
    AuditEventType.MFA_ALWAYS_CHANGED: _l(
        "Réglage « toujours demander le second facteur » modifié"
    ),
    AuditEventType.MFA_RESET: _l("Seconds facteurs réinitialisés par l'Ordre"),
    AuditEventType.DELEGATION_REQUESTED: _l("Délégation demandée"),
    AuditEventType.DELEGATION_APPROVED: _l("Délégation accordée à la demande"),
    AuditEventType.DELEGATION_REFUSED: _l("Demande de délégation refusée"),
    AuditEventType.DELEGATION_GRANTED: _l("Délégation accordée"),
    AuditEventType.DELEGATION_ENDED: _l("Délégation terminée"),
    AuditEventType.DELEGATION_ATTACHED: _l("Délégation rattachée au compte à son activation"),
    AuditEventType.TOKEN_EXCHANGED: _l("Jeton obtenu par délégation (échange de jeton)"),
}


def event_label(event: AuditEvent) -> str:
    label = EVENT_LABELS.get(event.event_type)
    return str(label) if label is not None else event.event_type


def actor_label(event: AuditEvent) -> str:
    """ "vous", "un administrateur", "Sésame (automatique)"..."""
    if event.acted_by_subject:
        return str(_l("vous"))
    if event.actor_kind == ActorKind.USER:
        return str(_l("un administrateur"))
    if event.actor_kind == ActorKind.CLI:
        return str(_l("un administrateur (serveur)"))
    if event.actor_kind == ActorKind.SYSTEM:
        return str(_l("Sésame (automatique)"))
    return str(_l("une personne non connectée"))
