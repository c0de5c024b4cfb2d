"""Who is using the portal: the `PortalUser` of the current Sésame login, created or refreshed
at each login from the ID token's claims (`sub`, email, name), and the invitations that login
accepts."""

from __future__ import annotations

import logging

from flask import flash, g, session
from flask_babel import gettext as _
from sqlalchemy import select

from client_portal_rp import invitations
from client_portal_rp.extensions import db
from client_portal_rp.models import PortalUser, utcnow
from relying_party import Login, current_login

log = logging.getLogger("client_portal_rp.accounts")

INVITATION_SESSION_KEY = "portal_invitation"  # the token of the invitation being accepted


def _user_for(login: Login) -> PortalUser:
    user = db.session.scalar(select(PortalUser).where(PortalUser.subject == login.subject))
    if user is None:
        user = PortalUser(subject=login.subject)
        db.session.add(user)
    user.email = login.email
    user.email_verified = bool(login.claims.get("email_verified")) and bool(login.email)
    user.name = login.display_name
    return user


def on_login(login: Login) -> None:
    """After a login through Sésame: refresh the person, accept their invitations."""
    user = _user_for(login)
    user.last_login_at = utcnow()
    db.session.flush()
    verified = bool(login.claims.get("email_verified")) and bool(login.email)
    token = session.pop(INVITATION_SESSION_KEY, None)
    try:
        if isinstance(token, str):
            accept_invitation_token(token, user, login.email if verified else "")
        if verified:
            invitations.accept_for_email(user, login.email)
        db.session.commit()
    except invitations.InvitationError as error:
        db.session.rollback()
        _user_for(login)
        db.session.commit()
        flash(error.message, "error")
    g.pop("portal_user", None)


def accept_invitation_token(token: str, user: PortalUser, verified_email: str) -> None:
    """Accept the invitation of `token` for `user` when `verified_email` (the ID token's
    verified email, else "") is the invited address; InvitationError otherwise. The login
    callback and the invitation page of a person already logged in both come here."""
    invitation = invitations.find_by_token(token)
    if invitation is None:
        raise invitations.InvitationError(_("Ce lien d'invitation n'est pas valable."))
    if invitation.email != invitations.normalize_email(verified_email):
        raise invitations.InvitationError(
            _(
                "Cette invitation a été envoyée à une autre adresse e-mail que celle de votre "
                "compte Sésame. Connectez-vous avec le compte de l'adresse invitée, ou "
                "demandez une invitation à votre adresse."
            )
        )
    invitations.accept(invitation, user)


def current_user() -> PortalUser | None:
    """The person logged in (cached for the request), or None."""
    if "portal_user" not in g:
        login = current_login()
        user = None
        if login is not None:
            user = db.session.scalar(select(PortalUser).where(PortalUser.subject == login.subject))
            if user is None:  # a login from before this database existed: refresh it now
                user = _user_for(login)
                db.session.commit()
        g.portal_user = user
    found: PortalUser | None = g.portal_user
    return found
