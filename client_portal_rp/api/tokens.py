"""The API's bearer tokens: Sésame's access tokens (RFC 9068 JWTs), checked here against the IdP's
published keys, without a call to the IdP per request (docs/adr/0026-portal-api-and-app.md).

A token is accepted when: its header says `typ: at+jwt` and an algorithm we verify (ES256, RS256)
with a key of the IdP's JWKS (fetched through discovery, cached; fetched again when a token
names an unknown `kid`, at most once a minute so that made-up `kid`s cannot make us hammer the
IdP); `iss` is the IdP; `aud` names this API (`PORTAL_API_AUDIENCE`, RFC 8707 resource); `exp`
is in the future and `iat` not in it (30 s of leeway each way); `sub` and `client_id` are there.

What this does not see: a token revoked at the IdP stays valid here until its `exp` (the IdP's
access tokens live at most 10 minutes; its refresh tokens stop at once). ADR 0026 says why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

ALGORITHMS = ("ES256", "RS256")
TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
LEEWAY_SECONDS = 30
FORCED_REFRESH_INTERVAL = 60.0
MAX_TOKEN_LENGTH = 8192
ACR_MFA = "urn:sesame:acr:mfa"

_REGISTRY = JWSRegistry(algorithms=list(ALGORITHMS))


class TokenInvalid(Exception):
    """The token is refused; `reason` is for the log (never told to the caller in detail)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AccessToken:
    """What the API needs of a valid access token."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    acr: str | None
    grant_id: str | None
    jti: str | None
    expires_at: int
    actor: str | None = None  # RFC 8693 `act.sub`: a delegate acting for `subject`

    @property
    def advanced(self) -> bool:
        """Logged in with a second factor ("sécurité avancée")."""
        return self.acr == ACR_MFA

    @property
    def limit_key(self) -> str:
        """What rate limits count by: the token's family (one login on one app, across its
        refreshes), else the token itself."""
        return f"gid:{self.grant_id}" if self.grant_id else f"jti:{self.jti or self.subject}"


class KeyCache:
    """The IdP's key set as a joserfc KeySet, imported once per fetched set."""

    def __init__(self, fetch: Callable[[bool], dict[str, Any]]) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._source: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._last_forced = 0.0

    def keys(self, *, force: bool = False) -> KeySet:
        with self._lock:
            if force:
                now = time.monotonic()
                if now - self._last_forced < FORCED_REFRESH_INTERVAL and self._keys is not None:
                    return self._keys
                self._last_forced = now
            source = self._fetch(force)
            if self._keys is None or source is not self._source:
                self._keys = KeySet.import_key_set(cast(Any, source))
                self._source = source
            return self._keys


def validate(
    token: str, *, keys: KeyCache, issuer: str, audience: str, now: float | None = None
) -> AccessToken:
    """The checked token, or TokenInvalid."""
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise TokenInvalid("not a signed JWT")
    try:
        try:
            decoded = jwt.decode(
                token, keys.keys(), algorithms=list(ALGORITHMS), registry=_REGISTRY
            )
        except InvalidKeyIdError:
            decoded = jwt.decode(
                token, keys.keys(force=True), algorithms=list(ALGORITHMS), registry=_REGISTRY
            )
    except JoseError as error:
        raise TokenInvalid(f"signature: {error.error}") from error
    except (ValueError, TypeError) as error:
        raise TokenInvalid("malformed token") from error
    typ = str(decoded.header.get("typ") or "").lower()
    if typ not in TOKEN_TYPES:
        raise TokenInvalid(f"typ {typ!r}")
    claims = decoded.claims
    moment = time.time() if now is None else now
    if claims.get("iss") != issuer:
        raise TokenInvalid("iss")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences
    if not isinstance(audiences, list) or audience not in audiences:
        raise TokenInvalid("aud")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or exp + LEEWAY_SECONDS < moment:
        raise TokenInvalid("expired")
    if not isinstance(iat, int) or iat - LEEWAY_SECONDS > moment:
        raise TokenInvalid("iat in the future")
    subject, client_id = claims.get("sub"), claims.get("client_id")
    if not isinstance(subject, str) or not subject or not isinstance(client_id, str):
        raise TokenInvalid("sub or client_id")
    scope = claims.get("scope")
    act = claims.get("act")
    return AccessToken(
        subject=subject,
        client_id=client_id,
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
        acr=claims.get("acr") if isinstance(claims.get("acr"), str) else None,
        grant_id=claims.get("gid") if isinstance(claims.get("gid"), str) else None,
        jti=claims.get("jti") if isinstance(claims.get("jti"), str) else None,
        expires_at=exp,
        actor=act.get("sub") if isinstance(act, dict) and isinstance(act.get("sub"), str) else None,
    )
