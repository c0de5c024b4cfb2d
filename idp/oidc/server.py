"""The authorization server: Authlib's `AuthorizationServer`, its code grant (OpenID + PKCE
S256), client authentication and our storage of codes (docs/adr/0021-oidc-provider.md).

Where Authlib 1.9 falls short (../shared/OIDC_NOTES.md), the subclasses here say so:
- requests read the POST body only on POST (pitfall 10), and their URI is the issuer's;
- `iss` is added to every authorization redirect, errors included (pitfall 2);
- PKCE is S256 only and required at /authorize for public clients (pitfall 5);
- `redirect_uri` is required and matched exactly, never defaulted (pitfall 13), but for the
  port of a public client's loopback redirect (RFC 8252 section 7.3); the token endpoint
  compares it with the code's exactly;
- a code is claimed by one conditional UPDATE; a second redemption revokes the grant (token
  family) the first one created (pitfall 7);
- each client authenticates with its registered method only (pitfall 8); `invalid_client` is
  a 401;
- `query_client` is memoised per request (pitfall 14).
`prompt`, `max_age`, `id_token_hint` and consent are decided by the views (pitfall 3), not by
Authlib's `validate_request_prompt`.

Extension and grant instances are shared by every thread: request state lives on the
`OAuth2Request` (`request.grant`, `request.user_session`) and in `flask.g`, never on them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import requests as http
from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.grants.util import is_openid_scope, validate_nonce
from flask import Flask, g
from flask import request as flask_request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from idp.accounts.models import User, UserSession
from idp.config import settings
from idp.database import utcnow
from idp.extensions import db, limiter
from idp.oidc import claims
from idp.oidc.models import AuthorizationCode, ClientAuthMethod, Grant, OAuthClient

log = logging.getLogger("idp.oidc")

TOKEN_ENDPOINT_AUTH_METHODS = [method.value for method in ClientAuthMethod]
# Algorithms accepted in a client's private_key_jwt assertion (never none, never HMAC).
ASSERTION_ALGORITHMS = ["RS256", "PS256", "ES256"]
CLIENT_JWKS_CACHE_SECONDS = 300
# An assertion the cached keys do not verify re-reads them (a client rotated its keys), but at
# most this often per jwks_uri: forged assertions cannot make us hammer a client's server.
CLIENT_JWKS_REFRESH_SECONDS = 10
NONCE_MAX_LENGTH = 255  # oauth_authorization_codes.nonce


def digest(value: str) -> str:
    """SHA-256 (hex) of a code or token: what the database keeps instead of the value."""
    return hashlib.sha256(value.encode()).hexdigest()


# --- clients ------------------------------------------------------------------------------------


class Client(ClientMixin):
    """Authlib's view of an `OAuthClient` row (`row`)."""

    __slots__ = ("row",)

    def __init__(self, row: OAuthClient) -> None:
        self.row = row

    @property
    def client_id(self) -> str:
        return self.row.client_id

    @property
    def is_public(self) -> bool:
        return self.row.is_public

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        """None: the redirect URI is required in every request (pitfall 13)."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes this client may have, in the request's order; others are
        dropped (the token response's `scope` says what was granted)."""
        allowed = set(self.row.scopes) & set(claims.SUPPORTED_SCOPES)
        return " ".join(s for s in claims.scope_list(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Character for character, among the registered ones (security 19); but a public
        client's loopback redirect on an IP literal takes any port (RFC 8252 section 7.3: a
        native app listens where the system lets it), its path and query still exact."""
        if redirect_uri in self.row.redirect_uris:
            return True
        from idp.oidc import clients

        return self.row.is_public and clients.native_redirect_matches(
            redirect_uri, self.row.redirect_uris
        )

    def check_client_secret(self, client_secret: str) -> bool:
        from idp.oidc import clients

        return bool(clients.secret_matches(self.row, client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Only the method the client registered, at every endpoint (security 28)."""
        return method == self.row.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        """Code flow only, for clients registered for it (client_credentials-only clients
        get unauthorized_client)."""
        return response_type == "code" and "authorization_code" in self.row.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


# --- requests -----------------------------------------------------------------------------------


class Payload(OAuth2Payload):
    def __init__(self, data: MultiDict[str, str]) -> None:
        self._data = data

    @property
    def data(self) -> MultiDict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {key: self._data.getlist(key) for key in self._data}


class Request(OAuth2Request):
    """An OAuth request whose parameters are the POST body on POST and the query otherwise,
    never both (pitfall 10: Authlib's Flask request reads `request.values`).

    Its URI is built on the issuer, never on the Host header. Authlib refuses a plain-http URI
    by raising outside its error handling (a 500, pitfall 11) unless a process-wide environment
    variable says otherwise; the configuration already refuses a non-https issuer in
    production, so the check is made there, on the issuer, and not here.
    """

    def __init__(
        self,
        method: str,
        path: str,
        headers: Any,
        data: MultiDict[str, str],
        form: MultiDict[str, str] | None = None,
        args: MultiDict[str, str] | None = None,
    ) -> None:
        super().__init__(method, "https://issuer.invalid/", headers=headers)
        self.uri = settings().issuer + path
        self.payload = Payload(data)
        self._form = form if form is not None else MultiDict()
        self._args = args if args is not None else MultiDict()
        self.grant: Grant | None = None
        self.user_session: UserSession | None = None

    @property
    def args(self) -> MultiDict[str, str]:
        return self._args

    @property
    def form(self) -> MultiDict[str, str]:
        return self._form

    @classmethod
    def from_flask(cls) -> Request:
        req = flask_request
        if req.method == "POST":
            return cls("POST", req.path, req.headers, req.form, form=req.form)
        return cls(req.method, req.path, req.headers, req.args, args=req.args)

    @classmethod
    def from_params(cls, params: MultiDict[str, str], path: str = "/authorize") -> Request:
        """An authorization request rebuilt from stored parameters (consent, resume)."""
        return cls("GET", path, {}, params, args=params)


# --- the code grant -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredCode:
    """Authlib's view of an `AuthorizationCode` row."""

    row: AuthorizationCode

    @property
    def code_challenge(self) -> str | None:
        return self.row.code_challenge

    @property
    def code_challenge_method(self) -> str | None:
        return self.row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> str:
        return claims.acr_of(self.row.acr)

    def get_amr(self) -> list[str]:
        return claims.amr_list(self.row.amr)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS
    AUTHORIZATION_CODE_LENGTH = 48  # ~285 bits

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: Client) -> str:
        """Required and exact; without one, no default (pitfall 13). The views show an error
        page before this is reached; this is the guard of last resort."""
        redirect_uri = request.payload.redirect_uri
        if not redirect_uri or not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("Missing or unregistered 'redirect_uri'.")
        return str(redirect_uri)

    def save_authorization_code(self, code: str, request: Request) -> None:
        user_session = request.user_session
        assert user_session is not None, "an authorization needs the IdP session"
        data = request.payload.data
        now = utcnow()
        db.session.add(
            AuthorizationCode(
                code_digest=digest(code),
                client_id=request.client.row.id,
                user_id=request.user.id,
                session_public_id=user_session.public_id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope or "",
                nonce=data.get("nonce") or None,
                code_challenge=data.get("code_challenge") or None,
                code_challenge_method=(
                    data.get("code_challenge_method") if data.get("code_challenge") else None
                ),
                claims_request=getattr(request, "claims_request", None),
                auth_time=user_session.auth_time,
                acr=user_session.acr or "",
                amr=claims.amr_list(user_session.amr),
                created_at=now,
                expires_at=now + timedelta(seconds=settings().oidc.code_lifetime),
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> StoredCode | None:
        row = db.session.scalar(
            select(AuthorizationCode).where(AuthorizationCode.code_digest == digest(code))
        )
        if row is None or row.client_id != client.row.id:
            return None
        if row.used_at is not None:
            revoke_code_family(row.id)
            raise InvalidGrantError("The code was already used.")
        if row.expires_at <= utcnow():
            return None
        return StoredCode(row)

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        """Codes are claimed, not deleted (their grant must be found on reuse)."""

    def authenticate_user(self, authorization_code: StoredCode) -> User | None:
        user = db.session.get(User, authorization_code.row.user_id)
        return user if user is not None and user.is_active else None

    @hooked
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Claim the code, start its token family, issue the tokens (RFC 6749 4.1.4). The
        RFC 8707 `resource`s asked join the access token's `aud`, as at refresh (a native app
        asks for the portal's API so: ADR 0026); a malformed one, or one the client did not
        register (ADR 0028), is refused before the code is claimed."""
        from idp.oidc import tokens

        request: Request = self.request
        client: Client = request.client
        stored: StoredCode = request.authorization_code
        user = self.authenticate_user(stored)
        if user is None or not _session_alive(stored.row.session_public_id):
            raise InvalidGrantError("The authorization is no longer valid.")
        g.oidc_resources = tokens.requested_resources(request.form, client)
        grant = claim_code(stored.row)
        request.user = user
        request.grant = grant
        g.oidc_grant = grant
        token = self.generate_token(
            user=user,
            scope=grant.scope,
            include_refresh_token=client.check_grant_type("refresh_token"),
        )
        token.setdefault("scope", grant.scope)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def _session_alive(public_id: str) -> bool:
    """The IdP session that authorized the code has not ended since (a logout in between
    must not let the code start a family the logout could not revoke)."""
    alive = db.session.scalar(
        select(UserSession.id).where(
            UserSession.public_id == public_id, UserSession.revoked_at.is_(None)
        )
    )
    return alive is not None


def claim_code(row: AuthorizationCode) -> Grant:
    """Mark the code used (one conditional UPDATE: of two concurrent redemptions, one wins)
    and start its token family. The loser revokes the winner's family (security 23)."""
    now = utcnow()
    claimed = db.session.execute(
        update(AuthorizationCode)
        .where(
            AuthorizationCode.id == row.id,
            AuthorizationCode.used_at.is_(None),
            AuthorizationCode.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        revoke_code_family(row.id)
        raise InvalidGrantError("The code was already used.")
    grant = Grant(
        client_id=row.client_id,
        user_id=row.user_id,
        session_public_id=row.session_public_id,
        scope=row.scope,
        auth_time=row.auth_time,
        acr=row.acr,
        amr=list(row.amr or []),
        created_at=now,
    )
    db.session.add(grant)
    db.session.flush()
    db.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == row.id)
        .values(grant_id=grant.id)
        .execution_options(synchronize_session=False)
    )
    return grant


def revoke_code_family(code_id: int) -> None:
    """A used code came back: revoke what its first redemption minted, in its own commit
    (the error answer that follows rolls nothing of it back)."""
    db.session.rollback()
    grant_id = db.session.scalar(
        select(AuthorizationCode.grant_id).where(AuthorizationCode.id == code_id)
    )
    grant = db.session.get(Grant, grant_id) if grant_id is not None else None
    if grant is not None and grant.revoked_at is None:
        from idp.oidc import tokens

        revoke = getattr(tokens, "revoke_grant", None)
        if revoke is not None:
            revoke(db.session, grant, "code_reuse")
        else:  # until tokens.py has it: the grant itself
            grant.revoked_at = utcnow()
            grant.revoke_reason = "code_reuse"
        log.warning("authorization code reused: grant %s revoked", grant.public_id)
    db.session.commit()


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only (plain refused), and required at /authorize for public clients:
    Authlib checks it only at the token endpoint (pitfall 5). The token endpoint refuses a
    verifier for a code issued without a challenge, and the reverse (security 22)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    CODE_CHALLENGE_METHODS: ClassVar[dict[str, Any]] = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: Any) -> None:
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        method = data.get("code_challenge_method")
        if not challenge and grant.request.client.is_public:
            raise InvalidRequestError("PKCE is required: send 'code_challenge' (S256).")
        if challenge and method != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class OpenIDCodeExtension(OpenIDCode):
    """Nonce checks and the ID token (claims.build_id_token: the current key of the client's
    algorithm, the grant's authentication). `prompt` is the views' (pitfall 3)."""

    def __init__(self) -> None:
        super().__init__(require_nonce=False)

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        # The nonce protects the relying party, which checks it in the ID token; codes are
        # single-use, so an ID token cannot be minted twice for one authorization.
        return False

    def validate_openid_authorization_request(self, grant: Any, redirect_uri: Any) -> None:
        nonce = grant.request.payload.data.get("nonce")
        if nonce and len(nonce) > NONCE_MAX_LENGTH:
            raise InvalidRequestError(f"'nonce' longer than {NONCE_MAX_LENGTH} characters.")
        validate_nonce(grant.request, self.exists_nonce, self.require_nonce)

    def encode_id_token(self, token: dict[str, Any], request: Request) -> str:
        assert request.grant is not None
        return claims.build_id_token(
            request.client.row,
            request.user,
            request.grant,
            nonce=request.authorization_code.get_nonce(),
            access_token=token.get("access_token"),
        )

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_create_token_response", self.process_token)
        if is_openid_scope(grant.request.payload.scope):
            grant.register_hook(
                "after_validate_authorization_request_payload",
                self.validate_openid_authorization_request,
            )


def with_issuer(location: str) -> str:
    """`location` with the RFC 9207 `iss` parameter, added once."""
    if "iss" in dict(parse_qsl(urlsplit(location).query)):
        return location
    return str(add_params_to_uri(location, [("iss", settings().issuer)]))


class Issuer(IssuerParameter):
    """RFC 9207 `iss` on authorization responses (added once: errors get it earlier)."""

    def get_issuer(self) -> str:
        return settings().issuer

    def add_issuer_parameter(self, authorization_server: Any, response: Any) -> None:
        if response is not None and response.location:
            response.location = with_issuer(response.location)


# --- private_key_jwt ----------------------------------------------------------------------------

_jwks_cache: dict[str, tuple[float, KeySet]] = {}
_jwks_lock = threading.Lock()


def client_key_set(jwks_uri: str, *, refresh: bool = False) -> KeySet:
    """The client's published public keys, fetched from its jwks_uri, cached a few minutes;
    `refresh` re-reads them if the cached ones are older than CLIENT_JWKS_REFRESH_SECONDS."""
    now = time.monotonic()
    with _jwks_lock:
        cached = _jwks_cache.get(jwks_uri)
        if cached is not None:
            age = now - cached[0]
            if age < (CLIENT_JWKS_REFRESH_SECONDS if refresh else CLIENT_JWKS_CACHE_SECONDS):
                return cached[1]
            if refresh:
                # This request re-reads them; the ones refused at the same moment keep the
                # cached keys (so many forged assertions at once cost the client one read).
                _jwks_cache[jwks_uri] = (now, cached[1])
    response = http.get(jwks_uri, timeout=settings().oidc.backchannel_timeout)
    response.raise_for_status()
    key_set = KeySet.import_key_set(response.json())
    with _jwks_lock:
        _jwks_cache[jwks_uri] = (now, key_set)
    return key_set


class PrivateKeyJWT(JWTBearerClientAssertion):
    """`private_key_jwt` (RFC 7523 / OIDC Core 9): an assertion signed with a key from the
    client's jwks_uri; RS256/PS256/ES256 only (security 32); each `jti` once (shared through
    the throttle storage: Redis in production)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def get_audiences(self) -> list[str]:
        issuer = settings().issuer
        return [issuer + "/token", issuer]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        if not client.row.jwks_uri:
            raise InvalidClientError(description="The client has no jwks_uri.")
        g.oidc_client_jwks_uri = client.row.jwks_uri  # for a re-read after a key rotation
        return self._key_set(client.row.jwks_uri)

    def _key_set(self, jwks_uri: str, *, refresh: bool = False) -> KeySet:
        try:
            return client_key_set(jwks_uri, refresh=refresh)
        except (http.RequestException, ValueError, JoseError) as error:
            log.warning("jwks_uri %s unusable: %s", jwks_uri, error)
            raise InvalidClientError(description="The client's keys are unavailable.") from None

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except (JoseError, ValueError, KeyError, TypeError) as error:
            token = self._decode_with_fresh_keys(assertion, resolve_key, error)
        self.verify_claims(token.claims)
        return dict(token.claims)

    def _decode_with_fresh_keys(self, assertion: str, cached: Any, error: Exception) -> Any:
        """The cached keys refused the assertion: if the client's keys were read long enough
        ago, read them again (a new key, or a new key under an old kid) and try once more."""
        jwks_uri = g.get("oidc_client_jwks_uri")
        fresh = self._key_set(jwks_uri, refresh=True) if jwks_uri else cached
        if fresh is not cached:
            try:
                return jwt.decode(assertion, fresh, algorithms=ASSERTION_ALGORITHMS)
            except (JoseError, ValueError, KeyError, TypeError) as retry_error:
                error = retry_error
        log.debug("client assertion refused: %r", error)
        raise InvalidClientError(description="Invalid client assertion.") from None

    def validate_jti(self, claims_: dict[str, Any], jti: str) -> bool:
        exp = claims_.get("exp")
        ttl = int(exp - time.time()) + self.leeway if isinstance(exp, int | float) else 3600
        key = f"{settings().ratelimit_key_prefix}:oidc-jti:{digest(str(claims_['sub']))}:"
        key += digest(str(jti))
        return int(limiter.storage.incr(key, max(ttl, 60))) == 1


# --- the server ---------------------------------------------------------------------------------


class AuthorizationServer(FlaskAuthorizationServer):
    def __init__(self) -> None:
        super().__init__()
        self._configured = False

    def query_client(self, client_id: str | None) -> Client | None:
        """Enabled clients only; once per request (Authlib asks several times: pitfall 14)."""
        if not client_id or not isinstance(client_id, str) or len(client_id) > 64:
            return None
        memo: dict[str, Client | None] = g.setdefault("oidc_clients", {})
        if client_id not in memo:
            from idp.oidc import clients

            row = clients.get_client(client_id)
            memo[client_id] = Client(row) if row is not None else None
        return memo[client_id]

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        from idp.oidc import tokens

        save = getattr(tokens, "save_token", None)
        if save is not None:
            save(token, request)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return Request.from_flask()

    def authenticate_client(
        self, request: OAuth2Request, methods: list[str], endpoint: str = "token"
    ) -> Client:
        try:
            return super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as error:
            error.status_code = 401  # RFC 6749 5.2: whatever the method tried
            raise

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Any:
        """Errors sent back to the client's redirect URI carry `iss` too (pitfall 2)."""
        status, body, headers = error(self.get_error_uri(request, error))
        headers = [
            (name, with_issuer(value)) if name == "Location" else (name, value)
            for name, value in headers
        ]
        return self.handle_response(status, body, headers)

    def validate_requested_scope(self, scope: str | None) -> None:
        """Scopes are filtered per client (Client.get_allowed_scope), never refused here."""

    def configure(self) -> None:
        """Grants, extensions and client authentication, once per process (the instance is
        shared by every app of the process, as the blueprints are)."""
        if self._configured:
            return
        self._configured = True
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(), OpenIDCodeExtension()])
        self.register_extension(Issuer())
        self.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT())
        # Placeholder opaque access tokens until tokens.register installs the RFC 9068
        # generator (the ADR's contract); explicit lifetime (pitfall 9).
        self.register_token_generator(
            "default",
            self.create_bearer_token_generator(
                {"OAUTH2_TOKEN_EXPIRES_IN": {"authorization_code": 600}}
            ),
        )
        from idp.oidc import tokens

        tokens.register(self)
        from idp.delegation.exchange import TokenExchangeGrant  # RFC 8693 (ADR 0025)

        self.register_grant(TokenExchangeGrant)


authorization_server = AuthorizationServer()


def init_server(app: Flask) -> None:
    """Called by idp.oidc.web.init_oidc for every app (configures the server once)."""
    authorization_server.configure()
