"""Consent of a user to a third-party client (security 35), and the authorization requests
waiting for the user's answer on a page of the IdP (consent, profile policy).

First-party clients never ask. A stored consent covering the requested scopes skips the page;
`prompt=consent` shows it anyway. Withdrawal is on « Mon compte » (idp/oidc/account.py).
Nothing here commits: the caller's unit of work does.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import session
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from idp.accounts.models import User
from idp.database import DbSession, utcnow
from idp.oidc.claims import scope_list
from idp.oidc.models import Consent, OAuthClient

# What each scope lets the client read, in words (the consent page).
SCOPE_DESCRIPTIONS: dict[str, LazyString] = {
    "openid": _l(
        "Un identifiant de votre compte, propre à Sésame (pas votre identifiant de connexion)"
    ),
    "profile": _l("Votre nom, votre prénom, votre identifiant de connexion et votre langue"),
    "email": _l("Votre adresse email, et si elle a été vérifiée"),
    "offline_access": _l(
        "Un accès qui dure quand vous n'êtes plus sur le site (jusqu'au retrait de votre "
        "autorisation)"
    ),
    "ordre": _l(
        "Votre inscription au tableau de l'Ordre : catégorie, numéro d'inscription et conseil "
        "régional"
    ),
    "delegations": _l(
        "Les délégations que vous détenez pour ce site : qui les a données, pour quels "
        "services, jusqu'à quand"
    ),
    # The client portal's API (ADR 0026): what an app may do there in your name.
    "portal.deposits": _l("Au portail client : déposer vos documents et voir vos dépôts"),
    "portal.accounting": _l("Au portail client : lire vos indicateurs et échéanciers"),
    "portal.archives": _l("Au portail client : chercher et télécharger vos archives"),
    "portal.accesses": _l(
        "Au portail client : gérer les utilisateurs et les droits des entreprises que vous "
        "administrez"
    ),
}

# Pending requests kept in the cookie session: a few tabs at once, no more (cookie size).
PENDING_KEY = "oidc_pending"
MAX_PENDING = 3
PENDING_MAX_AGE = 30 * 60  # seconds
# Parameters kept for the answer: what the code is issued from (the checks already ran).
KEPT_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "claims",
    "response_mode",
)


class PendingKind:
    CONSENT = "consent"  # the user may allow or deny
    PROFILE_REFUSED = "profile"  # the user may only go back (access_denied)


def describe_scopes(scopes: Iterable[str]) -> list[LazyString]:
    return [SCOPE_DESCRIPTIONS[s] for s in scope_list(list(scopes)) if s in SCOPE_DESCRIPTIONS]


def consent_covers(db_session: DbSession, user: User, client: OAuthClient, scopes: str) -> bool:
    """The user already allowed this client every scope of `scopes`."""
    stored = db_session.scalar(
        select(Consent.scopes).where(Consent.user_id == user.id, Consent.client_id == client.id)
    )
    return stored is not None and set(scope_list(scopes)) <= set(stored)


def record_consent(db_session: DbSession, user: User, client: OAuthClient, scopes: str) -> None:
    """Store (or widen) the user's consent to `client`."""
    consent = db_session.scalar(
        select(Consent).where(Consent.user_id == user.id, Consent.client_id == client.id)
    )
    if consent is None:
        db_session.add(
            Consent(
                user_id=user.id, client_id=client.id, scopes=scope_list(scopes), granted_at=utcnow()
            )
        )
        return
    consent.scopes = list(dict.fromkeys([*consent.scopes, *scope_list(scopes)]))
    consent.granted_at = utcnow()


@dataclass(frozen=True)
class Pending:
    params: MultiDict[str, str]
    sid: str  # the IdP session the page was shown to
    kind: str


def keep_pending(params: MultiDict[str, str], *, sid: str, kind: str) -> str:
    """Keep an authorization request until the user answers; returns its key."""
    key = secrets.token_urlsafe(16)
    entries: dict[str, Any] = dict(session.get(PENDING_KEY) or {})
    now = time.time()
    entries = {k: v for k, v in entries.items() if now - float(v.get("t", 0)) < PENDING_MAX_AGE}
    while len(entries) >= MAX_PENDING:
        entries.pop(min(entries, key=lambda k: float(entries[k].get("t", 0))))
    entries[key] = {
        "p": [[name, value] for name, value in params.items(multi=True) if name in KEPT_PARAMETERS],
        "s": sid,
        "k": kind,
        "t": now,
    }
    session[PENDING_KEY] = entries
    return key


def take_pending(key: str | None) -> Pending | None:
    """The pending request of `key`, removed (an answer is given once); None when unknown or
    too old."""
    entries: dict[str, Any] = dict(session.get(PENDING_KEY) or {})
    entry = entries.pop(key, None) if key else None
    session[PENDING_KEY] = entries
    if not isinstance(entry, dict) or time.time() - float(entry.get("t", 0)) >= PENDING_MAX_AGE:
        return None
    params: MultiDict[str, str] = MultiDict([(str(n), str(v)) for n, v in entry.get("p", [])])
    return Pending(params=params, sid=str(entry.get("s", "")), kind=str(entry.get("k", "")))
