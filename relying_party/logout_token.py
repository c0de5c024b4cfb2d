"""Verifying a back-channel logout token (OpenID Connect Back-Channel Logout 1.0, section 2.6).

Authlib's client has no back-channel logout (authlib issue #560), so the checks are written here
on joserfc, the JOSE library Authlib itself uses: the signature against the IdP's JWKS (RS256
or ES256 only: never `none`, never an HMAC keyed with a public key), `iss` the IdP, `aud` this
client, `iat` recent, `exp` not passed, a `jti`, the back-channel logout event in `events`,
`sid` and/or `sub`, and no `nonce` (which would make it an ID token). A replayed token is
harmless: ending logins already ended ends nothing (`LoginStore.end_for_logout_token`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
ALGORITHMS = ["RS256", "ES256"]
MAX_AGE_SECONDS = 600  # an older `iat` is refused (the IdP signs the token at delivery)
LEEWAY_SECONDS = 60  # clock skew between the IdP and the site


class LogoutTokenInvalid(Exception):
    """The logout token fails one check; `reason` says which (for the log and the 400 body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LogoutRequest:
    """What a valid logout token asks: end the logins of `sid` (or of `subject`)."""

    sid: str | None
    subject: str | None
    jti: str


def verify_logout_token(
    token: str,
    *,
    issuer: str,
    client_id: str,
    jwks: Callable[[bool], dict[str, Any]],
    now: float | None = None,
) -> LogoutRequest:
    """Check `token` as section 2.6 says; `jwks(force)` returns the IdP's key set (cached,
    fetched again with `force` when the token names a key not in the cached set)."""
    if not token or token.count(".") != 2:
        raise LogoutTokenInvalid("not a signed JWT")
    try:
        try:
            decoded = jwt.decode(token, _key_set(jwks(False)), algorithms=ALGORITHMS)
        except InvalidKeyIdError:  # a key published since the set was cached: fetch again
            decoded = jwt.decode(token, _key_set(jwks(True)), algorithms=ALGORITHMS)
    except JoseError as error:
        raise LogoutTokenInvalid(f"signature: {error.error}") from error
    except ValueError as error:  # malformed base64 or JSON
        raise LogoutTokenInvalid("malformed token") from error
    typ = decoded.header.get("typ")
    if typ is not None and typ.lower() not in {"logout+jwt", "jwt"}:
        raise LogoutTokenInvalid(f"typ {typ!r}")
    return _check_claims(decoded.claims, issuer, client_id, time.time() if now is None else now)


def _key_set(jwks: dict[str, Any]) -> KeySet:
    return KeySet.import_key_set(cast(Any, jwks))


def _check_claims(claims: dict[str, Any], issuer: str, client_id: str, now: float) -> LogoutRequest:
    if claims.get("iss") != issuer:
        raise LogoutTokenInvalid("iss is not the IdP")
    audience = claims.get("aud")
    if client_id not in (audience if isinstance(audience, list) else [audience]):
        raise LogoutTokenInvalid("aud is not this client")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise LogoutTokenInvalid("iat missing")
    if iat > now + LEEWAY_SECONDS or iat < now - MAX_AGE_SECONDS:
        raise LogoutTokenInvalid("iat out of range")
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or exp < now - LEEWAY_SECONDS):
        raise LogoutTokenInvalid("expired")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise LogoutTokenInvalid("jti missing")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise LogoutTokenInvalid("events lacks the back-channel logout event")
    if "nonce" in claims:
        raise LogoutTokenInvalid("nonce present")
    sid, subject = claims.get("sid"), claims.get("sub")
    if sid is not None and not isinstance(sid, str):
        raise LogoutTokenInvalid("sid is not a string")
    if subject is not None and not isinstance(subject, str):
        raise LogoutTokenInvalid("sub is not a string")
    if not sid and not subject:
        raise LogoutTokenInvalid("neither sid nor sub")
    return LogoutRequest(sid=sid or None, subject=subject or None, jti=jti)
