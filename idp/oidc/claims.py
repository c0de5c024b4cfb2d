"""What the OpenID provider says about a user: the claims of a scope set (ID token, userinfo),
and the ID token itself, signed with the one current key of its algorithm.

`sub` is the account's opaque `subject` (never the username); scope `ordre` reads the live
registry claim (ADR 0017), absent when there is none. ID tokens keep the authentication of
their grant (`auth_time`, `acr`, `amr`, `sid`), so a refresh never pretends a new login
(docs/adr/0021-oidc-provider.md, OIDC_NOTES pitfall 4).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import JoseError

from idp.accounts.models import User
from idp.config import settings
from idp.extensions import db
from idp.oidc.acr import ACR_BASIC
from idp.oidc.models import Grant, OAuthClient

ID_TOKEN_ALGORITHMS = ("RS256", "ES256")
DEFAULT_ID_TOKEN_ALGORITHM = "RS256"  # noqa: S105 - an algorithm name

# The claims each scope opens (userinfo, and the ID token).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("preferred_username", "name", "given_name", "family_name", "locale"),
    "email": ("email", "email_verified"),
    "ordre": ("ordre_profile", "ordre_registration_number", "ordre_council"),
    "offline_access": (),
    "delegations": ("delegations",),  # idp.delegation.claims: those covering the client
}
# Scopes of a resource server, opening no claim: the client portal's API, one per module and
# one for its users and rights (client_portal_rp/api/auth.py; ADR 0026).
API_SCOPES: tuple[str, ...] = (
    "portal.deposits",
    "portal.accounting",
    "portal.archives",
    "portal.accesses",
)
SCOPE_CLAIMS.update(dict.fromkeys(API_SCOPES, ()))
SUPPORTED_SCOPES = tuple(SCOPE_CLAIMS)


def scope_list(scope: str | Iterable[str] | None) -> list[str]:
    if scope is None:
        return []
    items = scope.split() if isinstance(scope, str) else list(scope)
    return list(dict.fromkeys(items))


def amr_list(amr: str | Iterable[str] | None) -> list[str]:
    """Authentication methods as a list (the session row stores "pwd" or "pwd otp")."""
    if not amr:
        return []
    if isinstance(amr, str):
        return [m for m in re.split(r"[\s,]+", amr) if m]
    return [str(m) for m in amr if m]


def acr_of(acr: str | None) -> str:
    """The session's acr; a session without one (the MFA work sets it) is a password login."""
    return acr or ACR_BASIC


def userinfo_claims(
    user: User, scopes: str | Iterable[str], *, client: OAuthClient | None = None
) -> dict[str, Any]:
    """The user's claims for `scopes` (what /userinfo returns; the ID token carries them too).
    `delegations` lists only those covering `client`, the requesting one (none without it)."""
    wanted = scope_list(scopes)
    claims: dict[str, Any] = {"sub": user.subject}
    if "profile" in wanted:
        claims.update(
            preferred_username=user.username,
            name=user.display_name,
            given_name=user.given_name,
            family_name=user.family_name,
            locale=user.locale,
        )
    if "email" in wanted:
        claims.update(email=user.email, email_verified=user.email_verified_at is not None)
    if "ordre" in wanted:
        claims.update(ordre_claims(user))
    if "delegations" in wanted:
        from idp.delegation.claims import delegations_claim

        claims["delegations"] = (
            delegations_claim(db.session, user, client) if client is not None else []
        )
    return claims


def ordre_claims(user: User) -> dict[str, Any]:
    """The live registry claim of the account (the first one), or nothing."""
    from idp.registry.services import live_claims

    live = live_claims(db.session, user.id)
    if not live:
        return {}
    entry = live[0].entry
    return {
        "ordre_profile": entry.category,
        "ordre_registration_number": entry.registration_number,
        "ordre_council": entry.council.code,
    }


def id_token_algorithm(client: OAuthClient) -> str:
    alg = client.id_token_signed_response_alg
    return alg if alg in ID_TOKEN_ALGORITHMS else DEFAULT_ID_TOKEN_ALGORITHM


def _epoch(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment is not None else int(time.time())


def id_token_claims(
    user: User,
    scopes: str | Iterable[str],
    *,
    client: OAuthClient,
    auth_time: datetime | None,
    acr: str | None,
    amr: str | Iterable[str] | None,
    sid: str | None,
    nonce: str | None = None,
    access_token: str | None = None,
    alg: str = DEFAULT_ID_TOKEN_ALGORITHM,
) -> dict[str, Any]:
    """The payload of an ID token for `client` (OIDC Core 2 and 3.1.3.6, security 25)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings().issuer,
        "aud": client.client_id,
        "azp": client.client_id,
        "iat": now,
        "exp": now + settings().oidc.id_token_lifetime,
        "auth_time": _epoch(auth_time),
        "acr": acr_of(acr),
        "amr": amr_list(amr),
    }
    if sid:
        claims["sid"] = sid
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        at_hash = create_half_hash(access_token, alg)
        if at_hash is not None:
            claims["at_hash"] = at_hash.decode("ascii")
    claims.update(userinfo_claims(user, scopes, client=client))
    return claims


def sign(claims: dict[str, Any], alg: str) -> str:
    """Sign with the current key of `alg` (never a random key of a set: pitfall 1)."""
    from idp.oidc import keys

    key = keys.current_signing_key(alg)
    header = {"alg": alg, "typ": "JWT", "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=[alg])


def build_id_token(
    client: OAuthClient,
    user: User,
    grant: Grant,
    nonce: str | None = None,
    access_token: str | None = None,
) -> str:
    """A signed ID token for `user` and `client`, with the grant's scopes and authentication
    (`auth_time`, `acr`, `amr`, `sid`): a code redemption and every refresh of its family."""
    alg = id_token_algorithm(client)
    claims = id_token_claims(
        user,
        grant.scope,
        client=client,
        auth_time=grant.auth_time,
        acr=grant.acr,
        amr=grant.amr,
        sid=grant.session_public_id,
        nonce=nonce,
        access_token=access_token,
        alg=alg,
    )
    return sign(claims, alg)


class InvalidIdTokenHint(Exception):
    """An id_token_hint that is not an ID token we issued (security 32)."""


def verify_id_token_hint(hint: str, *, audience: str | None = None) -> dict[str, Any]:
    """The claims of an ID token we signed, passed back as a hint (OIDC Core 3.1.2.1).

    Refused: another algorithm than RS256/ES256 (`none`, HS256 keyed with our public key...),
    an unknown `kid`, a bad signature or tampered payload, another issuer, a token issued to
    another client (`audience`), and our access tokens (`typ: at+jwt`). An expired ID token is
    a valid hint (it names a past authentication).
    """
    from idp.oidc import keys

    if not hint or len(hint) > 8192:
        raise InvalidIdTokenHint()
    try:
        token = jwt.decode(hint, keys.verification_key_set(), algorithms=list(ID_TOKEN_ALGORITHMS))
    except (JoseError, ValueError, KeyError, TypeError) as error:
        raise InvalidIdTokenHint() from error
    if str(token.header.get("typ", "JWT")).lower() not in ("jwt", "id_token+jwt"):
        raise InvalidIdTokenHint()
    payload = token.claims
    if payload.get("iss") != settings().issuer or not isinstance(payload.get("sub"), str):
        raise InvalidIdTokenHint()
    if audience is not None:
        aud = payload.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if audience not in audiences:
            raise InvalidIdTokenHint()
    return dict(payload)
