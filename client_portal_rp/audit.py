"""The company's audit list: every change to accesses, deposits and archives, written in the
transaction of the change (so there is no change without its line, and no line without it)."""

from __future__ import annotations

from typing import Any

from client_portal_rp.extensions import db
from client_portal_rp.models import AuditEvent, Company, PortalUser

# What each action reads as on the audit page (French first; translated in the template).
ACTION_LABELS = {
    "company.created": "Entreprise créée",
    "company.updated": "Entreprise modifiée",
    "access.invited": "Utilisateur invité",
    "access.invitation_accepted": "Invitation acceptée",
    "access.invitation_revoked": "Invitation annulée",
    "access.updated": "Droits modifiés",
    "access.removed": "Accès supprimé",
    "access.reset_link_sent": "Lien de réinitialisation du mot de passe envoyé",
    "deposit.created": "Document déposé",
    "deposit.taken": "Document pris en charge",
    "deposit.processed": "Document traité",
    "deposit.annotated": "Note du cabinet modifiée",
    "request.created": "Pièce manquante demandée",
    "request.closed": "Demande de pièce close",
    "archive.published": "Document publié dans les archives",
    "settings.advanced_modules": "Modules en sécurité avancée modifiés",
}


def record(
    action: str,
    *,
    company: Company | None,
    actor: PortalUser | None,
    actor_label: str | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit line to the current transaction (the caller commits)."""
    event = AuditEvent(
        firm_id=company.firm_id if company is not None else details.pop("firm_id", None),
        company_id=company.id if company is not None else None,
        actor_id=actor.id if actor is not None else None,
        actor_label=actor_label or (actor.name or actor.email if actor is not None else ""),
        action=action,
        details={key: value for key, value in details.items() if value is not None},
    )
    db.session.add(event)
    return event
