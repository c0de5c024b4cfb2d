"""Invitations by email: to a company (role + modules) or to a firm's staff.

The email carries a link with a random token (only its SHA-256 is stored). Opening it keeps the
token in the session and sends the browser to Sésame: to log in, or to create an account
(`prompt=create` with the email as `login_hint`: the IdP's "Autre" signup, email filled in).
Back on the portal, the login accepts the invitation when the ID token's verified email is the
invited one; a person who logs in later with that verified email is attached too (the token is a
convenience, the verified email the proof). Accepting is idempotent and audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from client_portal_rp import audit
from client_portal_rp.extensions import db
from client_portal_rp.models import (
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

INVITATION_DAYS = 14


class InvitationError(Exception):
    """An invitation that cannot be used; `message` is for the person (French)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    token: str  # for the email's link only; never stored


def invite(
    *,
    firm: Firm,
    company: Company | None,
    email: str,
    name: str,
    role: Role,
    modules: set[Module],
    invited_by: PortalUser | None,
    actor_label: str | None = None,
) -> NewInvitation:
    """A new invitation (the caller sends the email and commits). Earlier pending invitations
    of the same person to the same place are revoked: the newest link is the valid one."""
    email = normalize_email(email)
    now = utcnow()
    same_place = Invitation.company_id == company.id if company else Invitation.company_id.is_(None)
    for old in db.session.scalars(
        select(Invitation).where(
            Invitation.email == email,
            Invitation.firm_id == firm.id,
            same_place,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
    ):
        old.revoked_at = now
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        token_digest=token_digest(token),
        firm_id=firm.id,
        company_id=company.id if company else None,
        email=email,
        name=name.strip(),
        role=role.value,
        modules=",".join(sorted(m.value for m in modules)),
        invited_by_id=invited_by.id if invited_by else None,
        expires_at=now + timedelta(days=INVITATION_DAYS),
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(
        "access.invited",
        company=company,
        actor=invited_by,
        actor_label=actor_label,
        firm_id=firm.id,
        email=email,
        role=role.value,
        modules=sorted(m.value for m in modules),
    )
    return NewInvitation(invitation, token)


def find_by_token(token: str) -> Invitation | None:
    if not token or len(token) > 200:
        return None
    found: Invitation | None = db.session.scalar(
        select(Invitation).where(Invitation.token_digest == token_digest(token))
    )
    return found


def check_usable(invitation: Invitation) -> None:
    if invitation.revoked_at is not None:
        raise InvitationError(
            _(
                "Cette invitation a été annulée ou remplacée par une plus récente. Demandez à "
                "l'administrateur de votre entreprise de vous inviter à nouveau."
            )
        )
    if invitation.accepted_at is None and invitation.expires_at < utcnow():
        raise InvitationError(
            _(
                "Cette invitation a expiré. Demandez à l'administrateur de votre entreprise de "
                "vous inviter à nouveau."
            )
        )


def accept(invitation: Invitation, user: PortalUser) -> None:
    """Attach `user` as the invitation says (idempotent: accepting twice changes nothing)."""
    check_usable(invitation)
    if invitation.accepted_at is not None:
        if invitation.accepted_by_id == user.id:
            return
        raise InvitationError(_("Cette invitation a déjà été utilisée par une autre personne."))
    # Claimed by one conditional UPDATE: two acceptances at once, one wins.
    claimed = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None))
        .values(accepted_at=utcnow(), accepted_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        raise InvitationError(_("Cette invitation a déjà été utilisée par une autre personne."))
    db.session.refresh(invitation)
    company = invitation.company
    if company is None:
        staff = db.session.scalar(
            select(FirmStaff).where(
                FirmStaff.firm_id == invitation.firm_id, FirmStaff.user_id == user.id
            )
        )
        if staff is None:
            db.session.add(FirmStaff(firm_id=invitation.firm_id, user_id=user.id))
    else:
        membership = db.session.scalar(
            select(Membership).where(
                Membership.company_id == company.id, Membership.user_id == user.id
            )
        )
        if membership is None:
            membership = Membership(company_id=company.id, user_id=user.id, role=invitation.role)
            db.session.add(membership)
        elif invitation.role == Role.ADMIN.value:
            membership.role = Role.ADMIN.value
        membership.set_modules(
            (membership.modules() if membership.id else set()) | invitation.module_set()
        )
    db.session.flush()
    audit.record(
        "access.invitation_accepted",
        company=company,
        actor=user,
        firm_id=invitation.firm_id,
        email=invitation.email,
    )


def accept_for_email(user: PortalUser, email: str) -> int:
    """Accept every pending, unexpired invitation sent to `email` (a verified email)."""
    pending = db.session.scalars(
        select(Invitation).where(
            func.lower(Invitation.email) == normalize_email(email),
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
    ).all()
    for invitation in pending:
        accept(invitation, user)
    return len(pending)
