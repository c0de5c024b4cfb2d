"""Rows the logout and « Mon compte » tests build directly (clients, grants, consents, the
sessions' clients), so they do not depend on the authorization flow of another module."""

from __future__ import annotations

from itertools import count

from idp.accounts.models import User, UserSession
from idp.database import utcnow
from idp.extensions import db
from idp.oidc.account import record_session_client
from idp.oidc.models import Consent, Grant, OAuthClient

_seq = count(1)


def create_oauth_client(
    name: str | None = None,
    *,
    first_party: bool = False,
    post_logout_redirect_uris: list[str] | None = None,
    backchannel_logout_uri: str | None = None,
    redirect_uris: list[str] | None = None,
) -> OAuthClient:
    n = next(_seq)
    client = OAuthClient(
        name=name or f"Site partenaire {n}",
        redirect_uris=redirect_uris or [f"https://rp{n}.example/callback"],
        post_logout_redirect_uris=post_logout_redirect_uris or [],
        backchannel_logout_uri=backchannel_logout_uri,
        first_party=first_party,
    )
    db.session.add(client)
    db.session.commit()
    return client


def create_grant(
    user: User, client: OAuthClient, user_session: UserSession | None, *, scope: str = "openid"
) -> Grant:
    grant = Grant(
        client_id=client.id,
        user_id=user.id,
        session_public_id=user_session.public_id if user_session else None,
        scope=scope,
        auth_time=utcnow(),
    )
    db.session.add(grant)
    db.session.commit()
    return grant


def use_session_for(user_session: UserSession, *clients: OAuthClient) -> None:
    for client in clients:
        record_session_client(db.session, user_session.public_id, client)
    db.session.commit()


def create_consent(user: User, client: OAuthClient, scopes: list[str]) -> Consent:
    consent = Consent(user_id=user.id, client_id=client.id, scopes=scopes)
    db.session.add(consent)
    db.session.commit()
    return consent
