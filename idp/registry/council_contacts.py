"""Changing a regional council's contact details (what signup shows a person who must contact
their council). Run by the `idp registry council-update` command, audited."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l

from idp.audit.models import AuditEventType
from idp.audit.services import Actor, record
from idp.database import DbSession
from idp.errors import DomainError
from idp.registry.models import RegionalCouncil
from idp.text import has_forbidden_characters

# Column sizes (idp/registry/models.py).
LIMITS = {"email": 254, "phone": 40, "postal_address": 300, "website": 200}


class InvalidCouncilContact(DomainError):
    default_message = _l("Coordonnées invalides.")


@dataclass(frozen=True)
class ContactChanges:
    email: str | None = None
    phone: str | None = None
    postal_address: str | None = None
    website: str | None = None

    def given(self) -> dict[str, str]:
        return {name: value for name, value in vars(self).items() if value is not None}


def update_contacts(
    session: DbSession, council: RegionalCouncil, changes: ContactChanges, *, actor: Actor
) -> dict[str, tuple[str, str]]:
    """Validate and apply; returns {field: (old, new)} of what actually changed."""
    cleaned = {name: _clean(name, value) for name, value in changes.given().items()}
    changed = {
        name: (getattr(council, name), value)
        for name, value in cleaned.items()
        if getattr(council, name) != value
    }
    for name, (_old, new) in changed.items():
        setattr(council, name, new)
    if changed:
        event_type = getattr(AuditEventType, "COUNCIL_UPDATED", None)
        if event_type is not None:  # added to AuditEventType by the lead (issue 12)
            record(
                session,
                event_type,
                subject=None,
                actor=actor,
                council=council.code,
                changes={name: {"old": old, "new": new} for name, (old, new) in changed.items()},
            )
    return changed


def _clean(name: str, raw: str) -> str:
    value = " ".join(raw.split())
    if has_forbidden_characters(value):
        raise InvalidCouncilContact(_l("Caractères non autorisés."))
    if len(value) > LIMITS[name]:
        raise InvalidCouncilContact(
            _l("%(field)s : %(max)d caractères au plus.", field=name, max=LIMITS[name])
        )
    if name == "email":
        try:
            return validate_email(value, check_deliverability=False).normalized.lower()
        except EmailNotValidError as error:
            raise InvalidCouncilContact(_l("Adresse email invalide.")) from error
    if name == "website" and value and not value.startswith(("https://", "http://")):
        raise InvalidCouncilContact(_l("Le site web doit commencer par https://."))
    return value
