"""Access and refresh tokens of the OpenID provider (docs/adr/0021-oidc-provider.md).

- **Access tokens** are RFC 9068 JWTs (`typ: at+jwt`), ES256-signed by the one current EC key
  (`keys.current_signing_key("ES256")`, its `kid` in the header), living
  `settings().oidc.access_token_lifetime` seconds (≤ 10 min). Issuing one writes nothing. They
  name their grant (`gid`, the token family) and the IdP session (`sid`), so that
  `validate_access_token` refuses them at once when the token itself was revoked (its `jti` in
  `oauth_revoked_access_tokens`), its grant was revoked, its client disabled or its user is
  no longer active: one indexed query.
- **Refresh tokens** are opaque (256 random bits), stored as SHA-256 digests bound to their
  grant, and rotate on every use: the old one is claimed by one conditional UPDATE; a token
  that cannot be claimed (used, revoked, or its grant revoked) revokes its whole grant
  (reuse detection, docs/security.md 29). Two concurrent refreshes with one token: one wins,
  the other revokes the family.
- **client_credentials**: confidential clients that registered the grant type, for their own
  registered scopes only (never the scopes that speak for a user); no grant row, no refresh
  token: such a token is revocable by its `jti` alone.
- **Revocation and introspection** (RFC 7009, RFC 7662): Authlib's endpoints over our storage
  (the views are in idp/oidc/resource.py).
- `purge_expired`: the rows nobody needs any more (`idp oidc purge`).

How a code redemption hands its grant over (ADR 0021, amendments): the grant being issued is
`request.grant` on Authlib's request and `flask.g.oidc_grant` for the token generator, which
Authlib calls without the request; `server.save_token` delegates to `save_token` here.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import click
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import g
from flask.cli import with_appcontext
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jws import JWSRegistry
from sqlalchemy import bindparam, delete, exists, select, update
from sqlalchemy.exc import SQLAlchemyError

from idp.accounts.models import User, UserSession, UserStatus
from idp.config import settings
from idp.database import DbSession, utcnow
from idp.extensions import db
from idp.oidc import claims as oidc_claims
from idp.oidc import keys
from idp.oidc.models import (
    AuthorizationCode,
    ClientAuthMethod,
    Grant,
    OAuthClient,
    RefreshToken,
    RevokedAccessToken,
)

log = logging.getLogger("idp.oidc.tokens")

ACCESS_TOKEN_ALG = "ES256"  # noqa: S105 - an algorithm; ~17,000 signatures/s per core, RS256 ~3,000
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")  # RFC 9068 section 4
VERIFIED_ALGORITHMS = ("ES256", "RS256")  # our keys' algorithms: never none, never HS*
CLOCK_SKEW = 5  # seconds an `iat` may be ahead of this process's clock (other hosts)
REFRESH_TOKEN_BYTES = 32  # 256 bits
JTI_BYTES = 16

OFFLINE_ACCESS = "offline_access"
# Scopes that speak for a user (claims of the account, or its sessions): refused on a
# client's own token.
USER_SCOPES = frozenset(
    {"openid", OFFLINE_ACCESS, "address", "phone"}
    | {scope for scope, names in oidc_claims.SCOPE_CLAIMS.items() if names}
)

# Client authentication per endpoint; the server's client model holds each client to the
# one method it registered (security 28). `none` only where a public client may come.
PUBLIC_AUTH_METHODS = [ClientAuthMethod.NONE.value]
CONFIDENTIAL_AUTH_METHODS = [
    method.value for method in ClientAuthMethod if method.value not in PUBLIC_AUTH_METHODS
]

# Codes stay this long after their expiry, so that a replay is still recognised (and the
# grant it minted revoked) by a slow attacker; grants without tokens stay as long.
REPLAY_MEMORY = timedelta(days=1)

_SIGN_REGISTRY = JWSRegistry(algorithms=[ACCESS_TOKEN_ALG])
_VERIFY_REGISTRY = JWSRegistry(algorithms=list(VERIFIED_ALGORITHMS))


def token_digest(value: str) -> str:
    """SHA-256 (hex) of a token as handed out: what the database keeps."""
    return hashlib.sha256(value.encode()).hexdigest()


def client_row(client: Any) -> OAuthClient:
    """The `OAuthClient` row of what Authlib calls a client (the server's ClientMixin over
    the row, `client.row`), or the row itself."""
    row = getattr(client, "row", client)
    assert isinstance(row, OAuthClient), f"not a client: {client!r}"
    return row


def scope_list(scope: str | None) -> list[str]:
    """Scopes in their given order, each once."""
    return list(dict.fromkeys((scope or "").split()))


# --- issuing ----------------------------------------------------------------------------------


class InvalidTargetError(OAuth2Error):
    """RFC 8707 section 2: a `resource` that is not an absolute URI without fragment, or that
    the client may not ask for."""

    error = "invalid_target"


def requested_resources(form: Any, client: Any) -> list[str]:
    """The RFC 8707 `resource` parameters of a token request (POST body), checked: each an
    absolute URI without fragment, and one the client registered (`OAuthClient.resources`,
    compared exactly: no prefix, case or trailing-slash match; ADR 0028). Every grant that
    reads resources calls this before it spends anything (a code, a refresh token). The
    description never echoes the request's text."""
    values = form.getlist("resource") if hasattr(form, "getlist") else []
    for value in values:
        parts = urlsplit(value)
        if not parts.scheme or not parts.netloc or parts.fragment or "#" in value:
            raise InvalidTargetError("resource must be an absolute URI without a fragment")
    allowed = client_row(client).resources or []
    if any(value not in allowed for value in values):
        raise InvalidTargetError("a resource is not registered for this client")
    return list(dict.fromkeys(values))


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """Authlib's RFC 9068 generator, with the claims built here rather than by its
    `access_token_generator`, which falls short for us in four ways: it writes no `kid` in the
    header (a verifier holding our published set cannot pick the key), it bakes the issuer in
    at construction (one server object serves apps of different settings: tests, the dev
    server), it has no place for the grant (`gid`, `sid`, `auth_time`, `acr`, `amr` come from
    the token family, `flask.g.oidc_grant`), and it reads the client through `ClientMixin`
    while `aud` also takes RFC 8707 resources. `generate()` (the token response:
    `token_type`, `expires_in` always explicit, `scope`, `refresh_token`) stays Authlib's."""

    def __init__(self) -> None:
        BearerTokenGenerator.__init__(
            self,
            access_token_generator=self.access_token_generator,
            refresh_token_generator=self.new_refresh_token,
            expires_generator=self.lifetime,
        )
        self.alg = ACCESS_TOKEN_ALG

    @property
    def issuer(self) -> str:
        return settings().issuer

    @staticmethod
    def lifetime(client: Any, grant_type: str) -> int:
        return settings().oidc.access_token_lifetime

    @staticmethod
    def get_allowed_scope(client: Any, scope: str | None) -> str:
        """The grants decide the scope (validated at /authorize, narrowed at refresh, checked
        for client_credentials): the generator writes it as given."""
        return " ".join(scope_list(scope))

    @staticmethod
    def new_refresh_token(**kwargs: Any) -> str:
        return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)

    def get_jti(self, client: Any, grant_type: str, user: Any, scope: str) -> str:
        return secrets.token_urlsafe(JTI_BYTES)

    def access_token_generator(self, client: Any, grant_type: str, user: Any, scope: str) -> str:
        row = client_row(client)
        grant: Grant | None = g.get("oidc_grant")
        now = int(time.time())
        audiences = [row.client_id, *g.get("oidc_resources", ())]
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": row.client_id,
            "aud": audiences[0] if len(audiences) == 1 else audiences,
            "client_id": row.client_id,
            "iat": now,
            "exp": now + self.lifetime(client, grant_type),
            "jti": self.get_jti(client, grant_type, user, scope),
        }
        if scope:
            claims["scope"] = scope
        if user is not None:
            if grant is None or grant.user_id != user.id or grant.client_id != row.id:
                # A user's token without its family could not be revoked with it.
                raise RuntimeError("a user's access token is issued for its grant (g.oidc_grant)")
            claims["sub"] = user.subject
        if grant is not None:
            claims["gid"] = grant.public_id
            if grant.session_public_id:
                claims["sid"] = grant.session_public_id
            if grant.auth_time is not None:
                claims["auth_time"] = int(grant.auth_time.timestamp())
            claims["acr"] = oidc_claims.acr_of(grant.acr)
            amr = oidc_claims.amr_list(grant.amr)
            if amr:
                claims["amr"] = amr
        key = keys.current_signing_key(ACCESS_TOKEN_ALG)
        header = {"alg": ACCESS_TOKEN_ALG, "typ": ACCESS_TOKEN_TYPES[0], "kid": key.kid}
        return jwt.encode(header, claims, key, registry=_SIGN_REGISTRY)


access_token_generator = AccessTokenGenerator()


def save_token(token: dict[str, Any], request: Any) -> None:
    """Store what a token response holds that needs storing: its refresh token, as a digest
    bound to the grant being issued (`request.grant`). Access tokens are not stored. The
    refresh token keeps the scope of the one it replaces (RFC 6749 section 6), else the
    grant's. Does not commit: the token endpoint does, once the response is built."""
    refresh_token = token.get("refresh_token")
    if not refresh_token:
        return
    grant: Grant | None = getattr(request, "grant", None)
    if grant is None:
        raise RuntimeError("a refresh token is issued for a grant (request.grant)")
    previous = getattr(request, "refresh_token", None)
    scope = previous.scope if isinstance(previous, RefreshCredential) else grant.scope
    now = utcnow()
    db.session.add(
        RefreshToken(
            token_digest=token_digest(refresh_token),
            grant_id=grant.id,
            scope=scope,
            created_at=now,
            expires_at=now + timedelta(seconds=settings().oidc.refresh_token_lifetime),
        )
    )


def revoke_grant(session: DbSession, grant: Grant, reason: str) -> bool:
    """Revoke a token family: its refresh tokens stop refreshing and its access tokens stop
    validating (they name it: `gid`), at once. True if this call revoked it (False: it was
    already). One conditional UPDATE; the caller commits."""
    now = utcnow()
    result = session.execute(
        update(Grant)
        .where(Grant.id == grant.id, Grant.revoked_at.is_(None))
        .values(revoked_at=now, revoke_reason=reason)
        .execution_options(synchronize_session=False)
    )
    revoked = bool(result.rowcount)  # type: ignore[attr-defined]
    if revoked:
        grant.revoked_at, grant.revoke_reason = now, reason
        log.warning("grant %s revoked: %s", grant.public_id, reason)
    return revoked


# --- validation -------------------------------------------------------------------------------


class InvalidAccessToken(Exception):
    """An access token we do not accept; `reason` is English ASCII, for error_description
    (RFC 6750 allows no other characters there)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class AccessTokenClaims:
    """A valid access token: its claims, and the user it speaks for (None: a client's own)."""

    claims: dict[str, Any]
    user: User | None = None
    scopes: tuple[str, ...] = field(default=())

    @property
    def subject(self) -> str:
        return str(self.claims["sub"])

    @property
    def client_id(self) -> str:
        return str(self.claims["client_id"])

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def expires_at(self) -> int:
        return int(self.claims["exp"])

    @property
    def grant_id(self) -> str | None:
        value = self.claims.get("gid")
        return str(value) if value is not None else None

    @property
    def sid(self) -> str | None:
        value = self.claims.get("sid")
        return str(value) if value is not None else None


class _AccessTokenClaimsRegistry(jwt.JWTClaimsRegistry):
    def validate_iat(self, value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ExpiredTokenError("iat")  # any JoseError: refused
        if value > self.now + CLOCK_SKEW:
            raise ExpiredTokenError("iat")


def _registry(now: int | None = None) -> jwt.JWTClaimsRegistry:
    return _AccessTokenClaimsRegistry(
        now=now,
        iss={"essential": True, "value": settings().issuer},
        sub={"essential": True},
        aud={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
        client_id={"essential": True},
    )


def decode_access_token(token: str, *, verify_claims: bool = True) -> dict[str, Any]:
    """The claims of one of our access tokens, its signature verified against our published
    keys (by `kid`; ES256 or RS256 only: `alg: none` and HS256 signed with a public key are
    refused), its header `typ` RFC 9068's, and (unless `verify_claims` is false: revocation
    of an expired token) our issuer and its lifetime. Storage is not consulted."""
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > 8192:
        raise InvalidAccessToken("not a JWT access token")
    try:
        decoded = jwt.decode(token, keys.verification_key_set(), registry=_VERIFY_REGISTRY)
    except (JoseError, ValueError, TypeError) as error:
        raise InvalidAccessToken("bad signature or unknown key") from error
    header = decoded.header
    if not header.get("kid"):
        raise InvalidAccessToken("no key id")
    if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
        raise InvalidAccessToken("not an access token (typ)")
    claims = dict(decoded.claims)
    if verify_claims:
        try:
            _registry().validate(claims)
        except ExpiredTokenError as error:
            raise InvalidAccessToken("expired") from error
        except JoseError as error:
            raise InvalidAccessToken("invalid claims") from error
    elif claims.get("iss") != settings().issuer or not isinstance(claims.get("jti"), str):
        raise InvalidAccessToken("invalid claims")
    if not isinstance(claims.get("client_id"), str):
        raise InvalidAccessToken("invalid claims")
    return claims


# The storage checks of a token, built once (SQLAlchemy then reuses their compiled form).
_JTI_REVOKED = exists().where(RevokedAccessToken.jti == bindparam("jti")).label("jti_revoked")
_CLIENT_TOKEN_STATE = select(OAuthClient.disabled_at, _JTI_REVOKED).where(
    OAuthClient.client_id == bindparam("client_id")
)
_USER_TOKEN_STATE = (
    select(User, Grant.revoked_at, OAuthClient.client_id, OAuthClient.disabled_at, _JTI_REVOKED)
    .select_from(Grant)
    .join(OAuthClient, OAuthClient.id == Grant.client_id)
    .outerjoin(User, User.id == Grant.user_id)
    .where(Grant.public_id == bindparam("gid"))
)


def validate_access_token(token: str) -> AccessTokenClaims:
    """Accept one of our access tokens, or raise InvalidAccessToken (the reason in English).

    Signature, `typ`, issuer and lifetime first (no storage), then one indexed query: the
    token's `jti` not revoked, its grant (`gid`) not revoked, its client enabled, and, for a
    user's token, the user still active (the user is loaded by the same query: userinfo needs
    nothing more)."""
    claims = decode_access_token(token)
    gid = claims.get("gid")
    user: User | None = None
    if gid is None:  # a client's own token (client_credentials): sub is the client
        if claims["sub"] != claims["client_id"]:
            raise InvalidAccessToken("invalid claims")
        own = db.session.execute(
            _CLIENT_TOKEN_STATE, {"client_id": claims["client_id"], "jti": claims["jti"]}
        ).first()
        if own is None or own.disabled_at is not None:
            raise InvalidAccessToken("unknown or disabled client")
        if own.jti_revoked:
            raise InvalidAccessToken("revoked")
    else:
        found = db.session.execute(
            _USER_TOKEN_STATE, {"gid": str(gid), "jti": claims["jti"]}
        ).first()
        if found is None or found.revoked_at is not None or found.jti_revoked:
            raise InvalidAccessToken("revoked")
        if found.client_id != claims["client_id"] or found.disabled_at is not None:
            raise InvalidAccessToken("unknown or disabled client")
        user = found.User
        if "dlg" in claims:  # exchanged (RFC 8693): speaks for a delegation's grantor
            from idp.delegation.exchange import represented_user

            user = represented_user(db.session, claims, user)
        if user is None:
            if claims["sub"] != claims["client_id"]:
                raise InvalidAccessToken("invalid claims")
        elif user.subject != claims["sub"]:
            raise InvalidAccessToken("invalid claims")
        elif user.status != UserStatus.ACTIVE:
            raise InvalidAccessToken("user not active")
    return AccessTokenClaims(claims, user, tuple(scope_list(claims.get("scope"))))


# --- refresh tokens -----------------------------------------------------------------------


@dataclass
class RefreshCredential:
    """A refresh token presented at /token, /revoke or /introspect, as found by its digest,
    with its grant, the grant's user and client, and the IdP session's end (or None)."""

    token: RefreshToken
    grant: Grant
    client: OAuthClient
    user: User | None
    session_expires_at: datetime | None = None
    session_revoked: bool = False

    @property
    def scope(self) -> str:
        return self.token.scope

    def get_scope(self) -> str:
        return self.token.scope

    def check_client(self, client: Any) -> bool:
        return client_row(client).id == self.grant.client_id

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.token.expires_at <= (now or utcnow())

    def is_revoked(self) -> bool:
        return (
            self.token.used_at is not None
            or self.token.revoked_at is not None
            or self.grant.revoked_at is not None
        )

    def session_ended(self, now: datetime | None = None) -> bool:
        """A grant without `offline_access` lives no longer than its IdP session (ended,
        or past its absolute lifetime)."""
        if OFFLINE_ACCESS in scope_list(self.grant.scope) or not self.grant.session_public_id:
            return False
        if self.session_revoked or self.session_expires_at is None:
            return True
        return self.session_expires_at <= (now or utcnow())


_REFRESH_TOKEN_STATE = (
    select(RefreshToken, Grant, OAuthClient, User, UserSession.expires_at, UserSession.revoked_at)
    .join(Grant, Grant.id == RefreshToken.grant_id)
    .join(OAuthClient, OAuthClient.id == Grant.client_id)
    .outerjoin(User, User.id == Grant.user_id)
    .outerjoin(UserSession, UserSession.public_id == Grant.session_public_id)
    .where(RefreshToken.token_digest == bindparam("digest"))
)


def find_refresh_token(session: DbSession, value: str) -> RefreshCredential | None:
    """The refresh token handed out as `value`, whatever its state, in one query."""
    if not value or len(value) > 512:
        return None
    found = session.execute(_REFRESH_TOKEN_STATE, {"digest": token_digest(value)}).first()
    if found is None:
        return None
    token, grant, client, user, session_expires_at, session_revoked_at = found
    return RefreshCredential(
        token, grant, client, user, session_expires_at, session_revoked_at is not None
    )


_CLAIM_REFRESH_TOKEN = (
    update(RefreshToken)
    .where(
        RefreshToken.id == bindparam("token_id"),
        RefreshToken.used_at.is_(None),
        RefreshToken.revoked_at.is_(None),
        select(Grant.id)
        .where(Grant.id == bindparam("family_id"), Grant.revoked_at.is_(None))
        .exists(),
    )
    .values(used_at=bindparam("now", type_=RefreshToken.__table__.c.used_at.type))
    .execution_options(synchronize_session=False)
)


def claim_refresh_token(session: DbSession, credential: RefreshCredential) -> bool:
    """Mark the refresh token used, if and only if it is still unused, unrevoked, and its
    grant unrevoked: one conditional UPDATE, whose row count says whether this request won
    (two concurrent refreshes with one token: exactly one does)."""
    now = utcnow()
    result = session.execute(
        _CLAIM_REFRESH_TOKEN,
        {"token_id": credential.token.id, "family_id": credential.grant.id, "now": now},
    )
    claimed = bool(result.rowcount)  # type: ignore[attr-defined]
    if claimed:
        credential.token.used_at = now
    return claimed


def revoke_refresh_token(session: DbSession, credential: RefreshCredential, reason: str) -> None:
    """RFC 7009 on a refresh token: the token and its grant (docs/security.md 30: further
    refreshes stop, and the grant's access tokens with them)."""
    now = utcnow()
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == credential.token.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    revoke_grant(session, credential.grant, reason)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Refresh with rotation and reuse detection (OIDC_NOTES pitfall 6: Authlib saves the new
    token before revoking the old one, without atomicity, so two parallel refreshes would both
    succeed). The old token is claimed first, by one conditional UPDATE; a token that cannot be
    claimed revokes its grant, committed before `invalid_grant` is answered. The new tokens
    keep the grant's `auth_time`, `acr`, `amr` and `sid`; the scope may be narrowed, never
    widened; `openid` grants get a new ID token (`claims.build_id_token`)."""

    INCLUDE_NEW_REFRESH_TOKEN = True
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS + PUBLIC_AUTH_METHODS

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshCredential | None:
        credential = find_refresh_token(db.session, refresh_token)
        if credential is None or credential.is_expired():
            return None
        return credential

    def authenticate_user(self, refresh_token: RefreshCredential) -> User | None:
        return refresh_token.user

    def _validate_token_scope(self, token: RefreshCredential) -> None:
        """A narrower scope may be asked (read from the POST body only), never a wider one."""
        requested = scope_list(self.request.form.get("scope"))
        if requested and not set(requested) <= set(scope_list(token.scope)):
            raise InvalidScopeError("scope wider than the refresh token's")

    def validate_token_request(self) -> None:
        keys.ensure_keys()  # before any write: the first keys are created in their own write
        super().validate_token_request()
        credential: RefreshCredential = self.request.refresh_token
        if credential.is_revoked():
            self._reject_reuse(credential)
        user = credential.user
        if user is None or user.status != UserStatus.ACTIVE or credential.session_ended():
            raise InvalidGrantError("the grant of this refresh token has ended")
        g.oidc_resources = requested_resources(self.request.form, self.request.client)

    def _reject_reuse(self, credential: RefreshCredential) -> None:
        """A refresh token that was used, or revoked, is presented: whoever holds it, the
        family is no longer safe (docs/security.md 29)."""
        revoke_grant(db.session, credential.grant, "refresh_token_reuse")
        db.session.commit()
        raise InvalidGrantError("refresh token already used or revoked")

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        credential: RefreshCredential = self.request.refresh_token
        if not claim_refresh_token(db.session, credential):
            db.session.rollback()
            self._reject_reuse(credential)
        user = credential.user
        grant = credential.grant
        self.request.user = user
        self.request.grant = grant
        g.oidc_grant = grant
        scope = " ".join(scope_list(self.request.form.get("scope"))) or credential.scope
        token: dict[str, Any] = self.generate_token(
            user=user, scope=scope, include_refresh_token=True
        )
        if "openid" in scope_list(scope):
            token["id_token"] = _id_token(credential.client, user, grant, token["access_token"])
        self.save_token(token)
        self.execute_hook("process_token", token=token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def _id_token(client: OAuthClient, user: Any, grant: Grant, access_token: str) -> str:
    return oidc_claims.build_id_token(client, user, grant, access_token=access_token)


# --- client_credentials -------------------------------------------------------------------


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """A confidential client's own token. Only for clients that registered the grant type;
    the scope must be among the client's registered scopes and never one that speaks for a
    user (OIDC_NOTES pitfall 9: Authlib would drop unknown scopes silently). No grant row and
    no refresh token: issuing writes nothing."""

    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        row = client_row(client)
        if row.is_public or (row.secret_digest is None and row.jwks_uri is None):
            raise UnauthorizedClientError("client_credentials is for confidential clients")
        if self.GRANT_TYPE not in (row.grant_types or []):
            raise UnauthorizedClientError("the client did not register client_credentials")
        self.request.client = client
        allowed = [s for s in (row.scopes or []) if s not in USER_SCOPES]
        requested = scope_list(self.request.form.get("scope"))
        refused = [s for s in requested if s not in allowed]
        if refused:
            raise InvalidScopeError(f"scope not allowed for this client: {' '.join(refused)}")
        self.request.credential_scope = " ".join(requested or allowed)
        g.oidc_resources = requested_resources(self.request.form, row)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        g.oidc_grant = None
        self.request.grant = None
        token: dict[str, Any] = self.generate_token(
            scope=self.request.credential_scope, include_refresh_token=False
        )
        self.execute_hook("process_token", token=token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


# --- revocation and introspection ------------------------------------------------------


@dataclass
class PresentedAccessToken:
    """An access token presented to /revoke or /introspect: our signature checked."""

    claims: dict[str, Any]
    valid: AccessTokenClaims | None = None  # None: expired, or refused by storage

    def check_client(self, client: Any) -> bool:
        return bool(self.claims.get("client_id") == client_row(client).client_id)

    def is_expired(self) -> bool:
        return self.valid is None

    def is_revoked(self) -> bool:
        return self.valid is None


PresentedToken = PresentedAccessToken | RefreshCredential


def find_presented_token(value: str, hint: str | None) -> PresentedToken | None:
    """The access or refresh token `value` is, whatever the hint says (RFC 7009 and 7662 let
    a server search further than the hint), or None when it is not one of ours."""
    if not isinstance(value, str) or not value:
        return None
    if value.count(".") == 2:
        try:
            claims = decode_access_token(value, verify_claims=False)
        except InvalidAccessToken:
            return None
        try:
            return PresentedAccessToken(claims, validate_access_token(value))
        except InvalidAccessToken:
            return PresentedAccessToken(claims)
    return find_refresh_token(db.session, value)


class TokenRevocationEndpoint(RevocationEndpoint):
    """RFC 7009: an access token's `jti` is recorded until the token expires; a refresh token
    is revoked with its grant. A token of another client, an unknown or garbage token: 200 and
    nothing done (no oracle on other clients' tokens)."""

    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS + PUBLIC_AUTH_METHODS

    def authenticate_token(self, request: Any, client: Any) -> PresentedToken | None:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if token is None or not token.check_client(client):
            return None
        return token

    def query_token(self, token_string: str, token_type_hint: str | None) -> PresentedToken | None:
        return find_presented_token(token_string, token_type_hint)

    def revoke_token(self, token: PresentedToken, request: Any) -> None:
        if isinstance(token, RefreshCredential):
            revoke_refresh_token(db.session, token, "refresh_token_revoked")
        else:
            revoke_access_token(db.session, token.claims)
        db.session.commit()


def revoke_access_token(session: DbSession, claims: dict[str, Any]) -> None:
    """Record a revoked access token's `jti` until the token would have expired anyway."""
    jti = str(claims["jti"])
    if session.get(RevokedAccessToken, jti) is not None:
        return
    expires_at = datetime.fromtimestamp(int(claims.get("exp", 0)), tz=utcnow().tzinfo)
    if expires_at <= utcnow():
        return  # expired already: nothing left to refuse
    session.add(RevokedAccessToken(jti=jti, expires_at=expires_at, revoked_at=utcnow()))


class TokenIntrospectionEndpoint(IntrospectionEndpoint):
    """RFC 7662, for authenticated clients only (a public client has nothing to authenticate
    with: 401). A token is described to the client it was issued to only; to any other, and
    when revoked, expired, or not ours, it is `{"active": false}`."""

    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> PresentedToken | None:
        return find_presented_token(token_string, token_type_hint)

    def check_permission(self, token: PresentedToken, client: Any, request: Any) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: PresentedToken) -> dict[str, Any]:
        if isinstance(token, RefreshCredential):
            if token.user is not None and (
                token.user.status != UserStatus.ACTIVE or token.session_ended()
            ):
                return {"active": False}
            payload: dict[str, Any] = {
                "active": True,
                "token_type": "refresh_token",
                "scope": token.scope,
                "client_id": token.client.client_id,
                "iss": settings().issuer,
                "exp": int(token.token.expires_at.timestamp()),
                "iat": int(token.token.created_at.timestamp()),
            }
            user = token.user
        else:
            assert token.valid is not None
            claims = token.claims
            payload = {
                "active": True,
                "token_type": "Bearer",
                "scope": claims.get("scope", ""),
                "client_id": claims["client_id"],
                "iss": claims["iss"],
                "aud": claims["aud"],
                "exp": claims["exp"],
                "iat": claims["iat"],
                "jti": claims["jti"],
                "sub": claims["sub"],
            }
            if "act" in claims:  # an exchanged token: who acts for `sub` (RFC 8693 4.1)
                payload["act"] = claims["act"]
            user = token.valid.user
        if user is not None:
            payload["sub"] = user.subject
            payload["username"] = user.username
        elif isinstance(token, RefreshCredential):
            payload["sub"] = token.client.client_id
        return payload


def register(server: Any) -> None:
    """Add this module's grants, token generator and endpoints to the authorization server:
    the RFC 9068 generator as the default one, the refresh (rotation) and client_credentials
    grants, RFC 7009 revocation and RFC 7662 introspection."""
    server.register_token_generator("default", access_token_generator)
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(TokenRevocationEndpoint)
    server.register_endpoint(TokenIntrospectionEndpoint)


# --- purge ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeReport:
    codes: int
    revoked_access_tokens: int
    refresh_tokens: int
    grants: int

    @property
    def total(self) -> int:
        return self.codes + self.revoked_access_tokens + self.refresh_tokens + self.grants


def purge_expired(session: DbSession, *, now: datetime | None = None) -> PurgeReport:
    """Delete the rows nobody needs any more; the caller commits.

    - authorization codes expired for `REPLAY_MEMORY` (until then a replay is recognised and
      revokes what the first redemption minted);
    - revoked access tokens' `jti` past the token's expiry (it is refused for that anyway);
    - refresh tokens past their expiry, used or not (refused for that anyway; a stolen one
      can no longer be used by anyone, so its reuse need not be detected);
    - grants revoked more than `REPLAY_MEMORY` ago (with their refresh tokens: refused either
      way), and grants left without refresh tokens that started as long ago: every access
      token they named has expired.
    """
    now = now or utcnow()
    horizon = now - max(REPLAY_MEMORY, timedelta(seconds=settings().oidc.access_token_lifetime))
    codes = session.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at < horizon))
    revoked = session.execute(delete(RevokedAccessToken).where(RevokedAccessToken.expires_at < now))
    refresh = session.execute(delete(RefreshToken).where(RefreshToken.expires_at < now))
    has_tokens = exists().where(RefreshToken.grant_id == Grant.id)
    grants_deleted = session.execute(
        delete(Grant).where(
            (Grant.revoked_at < horizon) | (~has_tokens & (Grant.created_at < horizon))
        )
    )
    return PurgeReport(
        codes=codes.rowcount,  # type: ignore[attr-defined]
        revoked_access_tokens=revoked.rowcount,  # type: ignore[attr-defined]
        refresh_tokens=refresh.rowcount,  # type: ignore[attr-defined]
        grants=grants_deleted.rowcount,  # type: ignore[attr-defined]
    )


@click.command("purge")
@with_appcontext
def purge_command() -> None:
    """Delete what no token needs any more: expired codes (a day after their expiry), revoked
    access tokens past their expiry, expired refresh tokens, spent grants. Run it daily."""
    try:
        report = purge_expired(db.session)
        db.session.commit()
    except SQLAlchemyError as exc:  # database unreachable: say it, in one line
        db.session.rollback()
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise click.ClickException(f"Échec de la purge : {reason}") from exc
    click.echo(
        f"{report.codes} code(s), {report.revoked_access_tokens} jeton(s) d'accès révoqué(s), "
        f"{report.refresh_tokens} jeton(s) de rafraîchissement, {report.grants} autorisation(s) "
        "supprimé(s)"
    )
