"""The `delegations` blueprint (the pages under « Mon compte », idp/delegation/views.py) and
what the emails and « Mon compte » need from it: absolute links, the invitation link, the card's
figures. Registered by `init_delegations(app)` in the application factory."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from sqlalchemy import func, select

from idp.accounts.models import User
from idp.accounts.tokens import TokenService
from idp.config import settings
from idp.delegation.models import Delegation, DelegationStatus
from idp.extensions import db
from idp.urls import external_url

bp = Blueprint("delegations", __name__)

INVITATION_MAX_AGE = 90 * 24 * 3600  # an invitation link prefills the signup for 90 days


def invitation_tokens() -> TokenService:
    return TokenService(settings().secret_key, "delegation-invitation", INVITATION_MAX_AGE)


def invitation_url(delegation: Delegation) -> str:
    """The invitation email's link: a signed token naming the delegation (never the email,
    ADR 0023: the address goes to the signup form through the cookie session)."""
    token = invitation_tokens().dumps({"d": delegation.public_id})
    return external_url("delegations.invitation", token=token)


def delegation_url(delegation: Delegation) -> str:
    return external_url("delegations.show", public_id=delegation.public_id)


def delegation_summary(user: User) -> dict[str, Any]:
    """The « Délégations » card of « Mon compte »: requests waiting for this user's answer,
    and whether the user may grant."""
    from idp.delegation import rules

    pending = db.session.scalar(
        select(func.count(Delegation.id)).where(
            Delegation.grantor_id == user.id,
            Delegation.status == DelegationStatus.REQUESTED.value,
        )
    )
    return {"pending": int(pending or 0), "can_grant": rules.can_grant(db.session, user)}


def init_delegations(app: Flask) -> None:
    from idp.delegation import views  # noqa: F401 - routes on bp

    app.register_blueprint(bp)
    app.add_template_global(external_url, "external_url")
    app.add_template_global(invitation_url, "delegation_invitation_url")
    app.add_template_global(delegation_url, "delegation_url")
    app.add_template_global(delegation_summary, "delegation_summary")
