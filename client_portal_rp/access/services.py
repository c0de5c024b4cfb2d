"""« Administrez vos accès »: the use cases behind the pages and the `portal invite` command."""

from __future__ import annotations

from flask import url_for

from client_portal_rp import mail
from client_portal_rp.invitations import NewInvitation


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
        )
    return link
