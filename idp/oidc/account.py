"""What « Mon compte » knows of the OpenID provider: which clients each IdP session was used
for (`record_session_client`, called at each authorization), the connected applications and
the withdrawal of a consent. See docs/adr/0021-oidc-provider.md.

Nothing here commits: the caller's unit of work does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from idp.accounts.auth import current_user, login_required
from idp.accounts.models import User
from idp.audit.models import AuditEventType
from idp.audit.services import Actor, record
from idp.config import settings
from idp.database import DbSession, utcnow
from idp.errors import DomainError
from idp.oidc.models import Consent, Grant, OAuthClient, RefreshToken, SessionClient
from idp.oidc.tokens import revoke_grant
from idp.oidc.web import pages


def record_session_client(session: DbSession, sid: str, client: OAuthClient) -> None:
    """Remember that the IdP session `sid` was used for `client` (or refresh `last_used_at`).

    One statement, `INSERT ... ON CONFLICT (session_public_id, client_id) DO UPDATE`, on both
    PostgreSQL and SQLite: two authorizations of the same session and client at the same
    moment (two tabs) both succeed, the second one only refreshing the time; no unique
    violation reaches the caller, and no savepoint is needed (ADR 0007).
    """
    now = utcnow()
    table = SessionClient.__table__
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(
        session_public_id=sid, client_id=client.id, first_used_at=now, last_used_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.session_public_id, table.c.client_id],
        set_={"last_used_at": statement.excluded.last_used_at},
    )
    session.execute(statement)


# --- « Mon compte »: connected applications ---------------------------------------------------

# What a scope gives a site, in the words « Mon compte » uses.
SCOPE_LABELS: dict[str, LazyString] = {
    "openid": _l("savoir que vous êtes connecté avec Sésame (identifiant anonyme)"),
    "profile": _l("vos nom, prénom et identifiant Sésame"),
    "email": _l("votre adresse email"),
    "ordre": _l("votre inscription au tableau de l'Ordre (profil, numéro, conseil régional)"),
    "delegations": _l("vos délégations"),
    "offline_access": _l("garder l'accès quand vous n'êtes pas connecté"),
    "portal.deposits": _l("vos dépôts de documents au portail client"),
    "portal.accounting": _l("votre compta en ligne au portail client"),
    "portal.archives": _l("vos archives au portail client"),
    "portal.accesses": _l("les utilisateurs et droits de vos entreprises au portail client"),
}


def scope_labels(scopes: Iterable[str]) -> list[str]:
    """The French words of each scope, in the order above; an unknown scope by its name."""
    wanted = list(dict.fromkeys(scopes))
    known = [str(label) for name, label in SCOPE_LABELS.items() if name in wanted]
    return known + [name for name in wanted if name not in SCOPE_LABELS]


@dataclass(frozen=True)
class ConnectedApplication:
    """A site that can read the user's data: a stored consent (third-party sites) or live
    tokens (first-party sites, which skip consent)."""

    client_id: str  # the public client_id
    name: str
    first_party: bool
    scopes: list[str]
    granted_at: datetime
    has_consent: bool

    @property
    def scope_labels(self) -> list[str]:
        return scope_labels(self.scopes)


def _live_grants(user: User) -> Select[Any]:
    """The user's grants that can still yield a token: not revoked, and either recent enough
    for an access token of theirs to be alive or holding a refresh token still usable."""
    now = utcnow()
    oldest_access = now - timedelta(seconds=settings().oidc.access_token_lifetime)
    usable_refresh = (
        select(RefreshToken.id)
        .where(
            RefreshToken.grant_id == Grant.id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )
        .exists()
    )
    return select(Grant).where(
        Grant.user_id == user.id,
        Grant.revoked_at.is_(None),
        or_(Grant.created_at > oldest_access, usable_refresh),
    )


def connected_applications(session: DbSession, user: User) -> list[ConnectedApplication]:
    """The sites listed under « Applications connectées », most recently granted first."""
    apps: dict[int, ConnectedApplication] = {}
    consents = session.scalars(
        select(Consent).where(Consent.user_id == user.id).options(joinedload(Consent.client))
    )
    for consent in consents:
        apps[consent.client_id] = ConnectedApplication(
            client_id=consent.client.client_id,
            name=consent.client.name,
            first_party=consent.client.first_party,
            scopes=list(consent.scopes or []),
            granted_at=consent.granted_at,
            has_consent=True,
        )
    grants = session.scalars(_live_grants(user).options(joinedload(Grant.client)))
    by_client: dict[int, list[Grant]] = {}
    for grant in grants:
        by_client.setdefault(grant.client_id, []).append(grant)
    for client_pk, client_grants in by_client.items():
        if client_pk in apps:
            continue
        client = client_grants[0].client
        scopes = [s for g in client_grants for s in g.scope.split()]
        apps[client_pk] = ConnectedApplication(
            client_id=client.client_id,
            name=client.name,
            first_party=client.first_party,
            scopes=list(dict.fromkeys(scopes)),
            granted_at=min(g.created_at for g in client_grants),
            has_consent=False,
        )
    return sorted(apps.values(), key=lambda a: (a.granted_at, a.name), reverse=True)


def sites_of_sessions(session: DbSession, sids: Iterable[str]) -> dict[str, list[str]]:
    """For « Mes sessions ouvertes »: the names of the sites each session was used for, the
    most recent first."""
    wanted = list(sids)
    if not wanted:
        return {}
    rows = session.execute(
        select(SessionClient.session_public_id, OAuthClient.name)
        .join(OAuthClient, OAuthClient.id == SessionClient.client_id)
        .where(SessionClient.session_public_id.in_(wanted))
        .order_by(SessionClient.last_used_at.desc(), SessionClient.id.desc())
    ).all()
    sites: dict[str, list[str]] = {}
    for sid, name in rows:
        sites.setdefault(sid, []).append(name)
    return sites


class NothingToWithdraw(DomainError):
    status = 404
    default_message = _l("Ce site n'a pas accès à votre compte.")


@dataclass(frozen=True)
class Withdrawal:
    client_name: str
    grants_revoked: int


def withdraw_access(
    session: DbSession, user: User, client_id: str, *, actor: Actor | None = None
) -> Withdrawal:
    """« Retirer l'accès »: forget the user's consent to the client and revoke every grant of
    the user's for it (their refresh and access tokens die with them, ADR 0021), with an
    audit event. The next authorization of a third-party client asks for consent again.
    Raises `NothingToWithdraw` when the client has neither."""
    client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id[:64]))
    if client is None:
        raise NothingToWithdraw()
    consent = session.scalar(
        select(Consent).where(Consent.user_id == user.id, Consent.client_id == client.id)
    )
    grants = list(
        session.scalars(
            select(Grant).where(
                Grant.user_id == user.id,
                Grant.client_id == client.id,
                Grant.revoked_at.is_(None),
            )
        )
    )
    if consent is None and not grants:
        raise NothingToWithdraw()
    if consent is not None:
        session.delete(consent)
    for grant in grants:
        revoke_grant(session, grant, CONSENT_WITHDRAWN)
    record(
        session,
        AuditEventType.OIDC_ACCESS_WITHDRAWN,
        subject=user,
        actor=actor,
        client_id=client.client_id,
        client_name=client.name,
        grants_revoked=len(grants),
    )
    return Withdrawal(client.name, len(grants))


CONSENT_WITHDRAWN = "consent_withdrawn"


# --- « Retirer l'accès »: the page --------------------------------------------------------------


@pages.route("/account/applications/<client_id>/withdraw", methods=["GET", "POST"])
@login_required
def withdraw_access_page(client_id: str) -> Response | str:
    """GET: what withdrawing means, and the button (a POST with the form's CSRF token)."""
    from idp.accounts.forms import ConfirmForm
    from idp.extensions import db

    user = current_user()
    assert user is not None
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            withdrawal = withdraw_access(db.session, user, client_id)
        except NothingToWithdraw:
            db.session.rollback()
            abort(404)
        db.session.commit()
        flash(
            _(
                "Vous avez retiré l'accès de « %(client)s » à votre compte.",
                client=withdrawal.client_name,
            ),
            "success",
        )
        return redirect(url_for("accounts.account", _anchor="applications-title"))
    application = next(
        (a for a in connected_applications(db.session, user) if a.client_id == client_id), None
    )
    if application is None:
        abort(404)
    return render_template("oidc/withdraw_access.html", application=application, form=form)
