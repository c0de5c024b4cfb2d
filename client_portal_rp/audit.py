"""The company's audit list: every change to accesses, deposits and archives, written in the
transaction of the change (so there is no change without its line, and no line without it)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from client_portal_rp.extensions import db
from client_portal_rp.models import AuditEvent, Company, PortalUser

# What each action reads as on the audit page (French first; translated in the template).
ACTION_LABELS = {
    "company.created": _l("Entreprise créée"),
    "company.updated": _l("Entreprise modifiée"),
    "access.invited": _l("Utilisateur invité"),
    "access.invitation_accepted": _l("Invitation acceptée"),
    "access.invitation_revoked": _l("Invitation annulée"),
    "access.updated": _l("Droits modifiés"),
    "access.removed": _l("Accès supprimé"),
    "access.reset_link_sent": _l("Lien de réinitialisation du mot de passe envoyé"),
    "deposit.created": _l("Document déposé"),
    "deposit.taken": _l("Document pris en charge"),
    "deposit.processed": _l("Document traité"),
    "deposit.annotated": _l("Note du cabinet modifiée"),
    "request.created": _l("Pièce manquante demandée"),
    "request.closed": _l("Demande de pièce close"),
    "archive.published": _l("Document publié dans les archives"),
    "settings.advanced_modules": _l("Modules en sécurité avancée modifiés"),
    "fec.imported": _l("FEC importé"),
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
