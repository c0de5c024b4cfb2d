"""« Administrez vos accès »: the use cases behind the pages and the `portal invite` command.

Every function takes the company the URL named (already checked by `company_view`) and looks
what it changes up *inside* it: a member by (company, person's public id), an invitation by
(company, invitation's public id). The caller commits; each change writes its audit line in the
same transaction.

Rules that hold whoever asks (SECURITY.md 51-52):
- removing a member deletes the membership only: deposits and archives stay (10-year
  retention), and the person's open sessions lose the company on their next request (tenancy
  reads the memberships from the database on every request);
- a company keeps at least one admin while its own admins manage it: the last admin can neither
  remove nor demote themself. The firm's staff can always (they manage the company anyway).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from email_validator import EmailNotValidError, validate_email
from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from client_portal_rp import audit, invitations, mail
from client_portal_rp.extensions import db
from client_portal_rp.invitations import NewInvitation
from client_portal_rp.models import (
    AuditEvent,
    Company,
    Firm,
    FirmStaff,
    Invitation,
    Membership,
    Module,
    PortalUser,
    Role,
    utcnow,
)
from client_portal_rp.tenancy import Access

RESET_LINK_INTERVAL = timedelta(minutes=5)
AUDIT_PAGE_SIZE = 50


class AccessError(Exception):
    """A change the rules refuse; `message` is French, for the page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def role_label(role: str) -> str:
    return _("Administrateur") if role == Role.ADMIN.value else _("Utilisateur")


def modules_label(values: list[str] | set[Module] | frozenset[Module]) -> str:
    """Module values as their names, in the modules' own order; « aucun » when empty."""
    chosen = {str(v) for v in values}
    names = [module.label for module in Module if module.value in chosen]
    return ", ".join(names) if names else _("aucun module")


# --- invitations -------------------------------------------------------------------------


def invitation_link(token: str) -> str:
    return url_for("access.invitation", token=token, _external=True)


def send_invitation(new: NewInvitation, *, inviter_name: str, send: bool = True) -> str:
    """Queue the invitation email (the caller commits); return the link."""
    invitation = new.invitation
    link = invitation_link(new.token)
    place = invitation.company.name if invitation.company else invitation.firm.name
    if send:
        mail.queue(
            invitation.email,
            f"Invitation au portail client : {place}",
            "invitation",
            invitation=invitation,
            place=place,
            link=link,
            inviter_name=inviter_name,
            role_label=role_label(invitation.role),
            modules=modules_label(invitation.module_set()),
            staff=invitation.company is None,
            days=invitations.INVITATION_DAYS,
        )
    return link


def email_error(raw: str) -> str | None:
    """A precise French message for an email address that cannot be a login, else None."""
    email = raw.strip()
    if not email:
        return _("Indiquez l'adresse e-mail de la personne : c'est son identifiant de connexion.")
    if len(email) > 254:
        return _("Cette adresse e-mail est trop longue (254 caractères au plus).")
    if email.count("@") != 1:
        return _(
            "L'adresse e-mail « %(email)s » doit contenir un seul « @ », par exemple "
            "prenom.nom@entreprise.fr.",
            email=email[:80],
        )
    local, domain = email.split("@")
    if not local:
        return _("Il manque la partie avant le « @ » (par exemple prenom.nom@entreprise.fr).")
    if "." not in domain:
        return _(
            "Le domaine « %(domain)s » est incomplet : il manque l'extension, par exemple "
            "« entreprise.fr ».",
            domain=domain[:80],
        )
    try:
        # `test_environment`: the RFC 2606 `.test` domain passes (tests, demos); deliverability
        # is not checked here: Sésame proves the address when the invitation is accepted.
        validate_email(email, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return _(
            "L'adresse e-mail « %(email)s » n'est pas valable : vérifiez qu'elle ne contient ni "
            "espace ni caractère interdit.",
            email=email[:80],
        )
    return None


def member_by_email(company: Company, email: str) -> Membership | None:
    found: Membership | None = db.session.scalar(
        select(Membership)
        .join(PortalUser, PortalUser.id == Membership.user_id)
        .where(
            Membership.company_id == company.id,
            func.lower(PortalUser.email) == invitations.normalize_email(email),
        )
    )
    return found


def invite_member(
    access: Access, *, email: str, name: str, role: Role, modules: set[Module]
) -> NewInvitation:
    """« Nouvel utilisateur »: an invitation to the company, its email queued."""
    company = access.company
    if member_by_email(company, email) is not None:
        raise AccessError(
            _(
                "%(email)s a déjà accès à %(company)s : modifiez ses droits dans la liste "
                "plutôt que de l'inviter à nouveau.",
                email=invitations.normalize_email(email),
                company=company.name,
            )
        )
    new = invitations.invite(
        firm=company.firm,
        company=company,
        email=email,
        name=name,
        role=role,
        modules=modules,
        invited_by=access.user,
    )
    send_invitation(new, inviter_name=access.user.name or access.user.email)
    return new


def invite_staff(firm: Firm, actor: PortalUser, *, email: str, name: str) -> NewInvitation:
    """« Inviter un collaborateur du cabinet »: an invitation to the firm's staff."""
    already = db.session.scalar(
        select(FirmStaff)
        .join(PortalUser, PortalUser.id == FirmStaff.user_id)
        .where(
            FirmStaff.firm_id == firm.id,
            func.lower(PortalUser.email) == invitations.normalize_email(email),
        )
    )
    if already is not None:
        raise AccessError(
            _(
                "%(email)s fait déjà partie du cabinet %(firm)s.",
                email=invitations.normalize_email(email),
                firm=firm.name,
            )
        )
    new = invitations.invite(
        firm=firm,
        company=None,
        email=email,
        name=name,
        role=Role.USER,
        modules=set(),
        invited_by=actor,
    )
    send_invitation(new, inviter_name=actor.name or actor.email)
    return new


def pending_invitations(company: Company) -> list[Invitation]:
    """Invitations not yet accepted nor cancelled (expired ones too: they can be resent)."""
    return list(
        db.session.scalars(
            select(Invitation)
            .where(
                Invitation.company_id == company.id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
            .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        )
    )


def pending_staff_invitations(firm: Firm) -> list[Invitation]:
    return list(
        db.session.scalars(
            select(Invitation)
            .where(
                Invitation.firm_id == firm.id,
                Invitation.company_id.is_(None),
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
            .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        )
    )


def _check_pending(invitation: Invitation) -> None:
    if invitation.accepted_at is not None:
        raise AccessError(_("Cette invitation a déjà été acceptée."))
    if invitation.revoked_at is not None:
        raise AccessError(_("Cette invitation a déjà été annulée."))


def revoke_invitation(access: Access, invitation: Invitation) -> None:
    """« Annuler l'invitation »: its link stops working at once."""
    _check_pending(invitation)
    invitation.revoked_at = utcnow()
    audit.record(
        "access.invitation_revoked",
        company=access.company,
        actor=access.user,
        email=invitation.email,
    )


def revoke_staff_invitation(firm: Firm, actor: PortalUser, invitation: Invitation) -> None:
    """The firm cancels a collaborator's invitation (audited on the firm, no company)."""
    _check_pending(invitation)
    invitation.revoked_at = utcnow()
    audit.record(
        "access.invitation_revoked",
        company=None,
        actor=actor,
        firm_id=firm.id,
        email=invitation.email,
    )


def resend_invitation(access: Access, invitation: Invitation) -> NewInvitation:
    """« Renvoyer »: a new link (valid 14 days again) replaces the old one, same rights."""
    _check_pending(invitation)
    new = invitations.invite(
        firm=access.company.firm,
        company=access.company,
        email=invitation.email,
        name=invitation.name,
        role=Role(invitation.role),
        modules=invitation.module_set(),
        invited_by=access.user,
    )
    send_invitation(new, inviter_name=access.user.name or access.user.email)
    return new


# --- members -----------------------------------------------------------------------------


def members(company: Company) -> list[Membership]:
    return list(
        db.session.scalars(
            select(Membership)
            .join(PortalUser, PortalUser.id == Membership.user_id)
            .where(Membership.company_id == company.id)
            .order_by(func.lower(PortalUser.name), func.lower(PortalUser.email))
        )
    )


def member_of(company: Company, user_public_id: str) -> Membership | None:
    """A member of `company` by the person's public id (never by an id alone: SECURITY.md 46)."""
    if not user_public_id or len(user_public_id) > 64:
        return None
    found: Membership | None = db.session.scalar(
        select(Membership)
        .join(PortalUser, PortalUser.id == Membership.user_id)
        .where(Membership.company_id == company.id, PortalUser.public_id == user_public_id)
    )
    return found


def _other_admins(membership: Membership) -> int:
    return int(
        db.session.scalar(
            select(func.count(Membership.id)).where(
                Membership.company_id == membership.company_id,
                Membership.role == Role.ADMIN.value,
                Membership.id != membership.id,
            )
        )
        or 0
    )


def _keeps_an_admin(access: Access, membership: Membership, new_role: str | None) -> None:
    """Refuse a change by the company's own admins that would leave it without an admin
    (`new_role` None: removal). Only the last admin can hit this, on themself."""
    if access.is_staff or membership.role != Role.ADMIN.value or new_role == Role.ADMIN.value:
        return
    if _other_admins(membership) == 0:
        if new_role is None:
            raise AccessError(
                _(
                    "Vous êtes le dernier administrateur de %(company)s : vous ne pouvez pas "
                    "supprimer votre propre accès. Nommez d'abord un autre administrateur.",
                    company=access.company.name,
                )
            )
        raise AccessError(
            _(
                "Vous êtes le dernier administrateur de %(company)s : vous ne pouvez pas vous "
                "retirer ce rôle. Nommez d'abord un autre administrateur.",
                company=access.company.name,
            )
        )


def _state(membership: Membership) -> dict[str, Any]:
    return {"role": membership.role, "modules": sorted(m.value for m in membership.modules())}


def update_member(
    access: Access, membership: Membership, *, role: Role, modules: set[Module]
) -> bool:
    """« Modifier »: role and module rights; False when nothing changed (no audit line)."""
    _keeps_an_admin(access, membership, role.value)
    before = _state(membership)
    membership.role = role.value
    membership.set_modules(modules)
    after = _state(membership)
    if before == after:
        return False
    audit.record(
        "access.updated",
        company=access.company,
        actor=access.user,
        user=membership.user.public_id,
        email=membership.user.email,
        before=before,
        after=after,
    )
    return True


def remove_member(access: Access, membership: Membership) -> None:
    """« Supprimer »: the membership goes (and any pending invitation of the same address to
    this company, which a later login would otherwise accept); documents stay."""
    _keeps_an_admin(access, membership, None)
    user = membership.user
    now = utcnow()
    for invitation in db.session.scalars(
        select(Invitation).where(
            Invitation.company_id == access.company.id,
            Invitation.email == invitations.normalize_email(user.email),
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
    ):
        invitation.revoked_at = now
    audit.record(
        "access.removed",
        company=access.company,
        actor=access.user,
        user=user.public_id,
        email=user.email,
        name=user.name,
        role=membership.role,
    )
    db.session.delete(membership)
    db.session.flush()


def password_reset_link(email: str) -> str:
    """Sésame's own « mot de passe oublié » page, the address filled in: Sésame then sends its
    reset link to the person. The portal never sees nor sends a password."""
    issuer = str(current_app.config["PORTAL_IDP_ISSUER"]).rstrip("/")
    return f"{issuer}/password/forgot?login_hint={quote(email, safe='')}"


def send_reset_link(access: Access, membership: Membership) -> None:
    """« Envoyer un lien de réinitialisation du mot de passe » (one per member per 5 minutes)."""
    user = membership.user
    if not user.email:
        raise AccessError(_("Cette personne n'a pas d'adresse e-mail connue."))
    since = utcnow() - RESET_LINK_INTERVAL
    recent = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.company_id == access.company.id,
            AuditEvent.action == "access.reset_link_sent",
            AuditEvent.at >= since,
        )
    )
    if any((event.details or {}).get("user") == user.public_id for event in recent):
        raise AccessError(
            _(
                "Un lien de réinitialisation vient d'être envoyé à %(email)s : attendez "
                "5 minutes avant d'en demander un autre.",
                email=user.email,
            )
        )
    mail.queue(
        user.email,
        f"Réinitialiser votre mot de passe Sésame : {access.company.name}",
        "access_password_reset",
        company=access.company,
        user=user,
        link=password_reset_link(user.email),
        sender_name=access.user.name or access.user.email,
    )
    audit.record(
        "access.reset_link_sent",
        company=access.company,
        actor=access.user,
        user=user.public_id,
        email=user.email,
    )


# --- company settings (the firm's staff) -------------------------------------------------


def update_settings(
    access: Access,
    *,
    advanced: set[Module],
    exercice_start: date | None,
    exercice_end: date | None,
) -> list[str]:
    """Modules in "Sécurité avancée" and exercice dates; the audit actions written."""
    company = access.company
    if exercice_start and exercice_end and exercice_end <= exercice_start:
        raise AccessError(_("La date de clôture de l'exercice doit suivre sa date d'ouverture."))
    written: list[str] = []
    before_advanced = sorted(m.value for m in company.advanced())
    after_advanced = sorted(m.value for m in advanced)
    if before_advanced != after_advanced:
        company.advanced_modules = ",".join(m.value for m in Module if m in advanced)
        audit.record(
            "settings.advanced_modules",
            company=company,
            actor=access.user,
            before=before_advanced,
            after=after_advanced,
        )
        written.append("settings.advanced_modules")
    before_dates = [_iso(company.exercice_start), _iso(company.exercice_end)]
    after_dates = [_iso(exercice_start), _iso(exercice_end)]
    if before_dates != after_dates:
        company.exercice_start, company.exercice_end = exercice_start, exercice_end
        audit.record(
            "company.updated",
            company=company,
            actor=access.user,
            exercice_before=before_dates,
            exercice_after=after_dates,
        )
        written.append("company.updated")
    return written


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


# --- the company's audit list ------------------------------------------------------------


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    page: int
    pages: int
    total: int


def audit_page(company: Company, page: int) -> AuditPage:
    total = int(
        db.session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.company_id == company.id)
        )
        or 0
    )
    pages = max(1, math.ceil(total / AUDIT_PAGE_SIZE))
    page = min(max(1, page), pages)
    events = list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.company_id == company.id)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .offset((page - 1) * AUDIT_PAGE_SIZE)
            .limit(AUDIT_PAGE_SIZE)
        )
    )
    return AuditPage(events, page, pages, total)


def action_label(action: str) -> str:
    label = audit.ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def _state_words(state: Any) -> str:
    if not isinstance(state, dict):
        return ""
    return _(
        "%(role)s, %(modules)s",
        role=role_label(str(state.get("role", ""))).lower(),
        modules=modules_label(list(state.get("modules") or [])),
    )


def describe(event: AuditEvent) -> str:
    """The event's details in words (the audit page shows this, not the JSON)."""
    d: dict[str, Any] = dict(event.details or {})
    action = event.action
    who = str(d.get("email") or d.get("name") or "")
    if action == "access.invited":
        return _(
            "%(email)s, %(role)s, %(modules)s",
            email=who,
            role=role_label(str(d.get("role", ""))).lower(),
            modules=modules_label(list(d.get("modules") or [])),
        )
    if action == "access.updated":
        return _(
            "%(email)s : %(before)s → %(after)s",
            email=who,
            before=_state_words(d.get("before")),
            after=_state_words(d.get("after")),
        )
    if action in ("access.removed", "access.reset_link_sent", "access.invitation_revoked"):
        return who
    if action == "access.invitation_accepted":
        return who
    if action == "settings.advanced_modules":
        return _(
            "%(before)s → %(after)s",
            before=modules_label(list(d.get("before") or [])),
            after=modules_label(list(d.get("after") or [])),
        )
    if action == "company.updated" and "exercice_after" in d:
        start, end = [*list(d.get("exercice_after") or []), None, None][:2]
        return _(
            "exercice du %(start)s au %(end)s",
            start=_french_date(start),
            end=_french_date(end),
        )
    if action == "company.created":
        return _("%(name)s, SIREN %(siren)s", name=d.get("name", ""), siren=d.get("siren", ""))
    words = []
    for key in ("filename", "name", "email", "message"):
        if d.get(key):
            words.append(str(d[key]))
    return " · ".join(words)


def _french_date(value: Any) -> str:
    if not value:
        return "—"
    try:
        return date.fromisoformat(str(value)).strftime("%d/%m/%Y")
    except ValueError:
        return str(value)
