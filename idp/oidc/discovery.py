"""Discovery (`/.well-known/openid-configuration`) and the JWKS (`/jwks`), on the `protocol`
blueprint: public JSON documents, cached per process and by clients.

Both bodies are serialised once and reused: the metadata per issuer, the JWKS per key set (a
new body when idp/oidc/keys.py loads a changed set, checked at most every few seconds). A
request costs a dict lookup and a clock read, no database query. `ETag` / `If-None-Match`
answer 304 to clients that already hold the body; CORS is open (browser-based relying parties
read both documents; they hold nothing secret).

The `protocol` blueprint also makes sure the signing keys exist before any of its views runs
(`keys.ensure_keys`): on SQLite the first keys, created in their own transaction, would
otherwise wait for the write lock of a token request that already wrote.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from flask import Response, current_app, request

from idp.config import settings
from idp.oidc import keys
from idp.oidc.acr import ACR_VALUES
from idp.oidc.clients import AUTH_METHODS, GRANT_TYPES, ID_TOKEN_ALGORITHMS, SUPPORTED_SCOPES
from idp.oidc.web import protocol

DISCOVERY_MAX_AGE = 3600
JWKS_MAX_AGE = keys.JWKS_MAX_AGE

CLAIMS_SUPPORTED: tuple[str, ...] = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "at_hash",
    "preferred_username",
    "name",
    "given_name",
    "family_name",
    "email",
    "email_verified",
    "locale",
    "ordre_profile",
    "ordre_registration_number",
    "ordre_council",
    "delegations",
)

# Paths of the endpoints (ADR 0021, "URL paths"): the metadata names them under the issuer,
# whatever host a request came through.
PATHS = {
    "authorization_endpoint": "/authorize",
    "token_endpoint": "/token",
    "userinfo_endpoint": "/userinfo",
    "jwks_uri": "/jwks",
    "revocation_endpoint": "/revoke",
    "introspection_endpoint": "/introspect",
    "end_session_endpoint": "/end-session",
}

_CACHE_EXTENSION = "sesame.oidc.discovery"


def provider_metadata(issuer: str) -> dict[str, Any]:
    """The OpenID Provider Metadata (OpenID Connect Discovery 1.0, RFC 8414)."""
    endpoint_auth_methods = list(AUTH_METHODS)
    signing_algs = list(ID_TOKEN_ALGORITHMS)
    return {
        "issuer": issuer,
        **{name: issuer + path for name, path in PATHS.items()},
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": signing_algs,
        "token_endpoint_auth_methods_supported": endpoint_auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": signing_algs,
        "revocation_endpoint_auth_methods_supported": endpoint_auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": signing_algs,
        "introspection_endpoint_auth_methods_supported": [
            m for m in endpoint_auth_methods if m != "none"
        ],
        "introspection_endpoint_auth_signing_alg_values_supported": signing_algs,
        "scopes_supported": list(SUPPORTED_SCOPES),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "ui_locales_supported": list(settings().languages),
        "claims_locales_supported": list(settings().languages),
        "display_values_supported": ["page"],
        "acr_values_supported": list(ACR_VALUES),
        "prompt_values_supported": ["none", "login", "consent", "create"],
    }


class _Body:
    """A serialised JSON document and its ETag."""

    __slots__ = ("data", "etag", "source")

    def __init__(self, document: dict[str, Any], source: object) -> None:
        self.data = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        self.etag = hashlib.sha256(self.data).hexdigest()[:32]  # unquoted
        self.source = source  # what the body was built from: rebuilt when it changes


class _Cache:
    def __init__(self) -> None:
        self.discovery: _Body | None = None
        self.jwks: _Body | None = None
        self.lock = threading.Lock()


def _cache() -> _Cache:
    cache: _Cache | None = current_app.extensions.get(_CACHE_EXTENSION)
    if cache is None:
        cache = current_app.extensions.setdefault(_CACHE_EXTENSION, _Cache())
    return cache


def _discovery_body() -> _Body:
    cache = _cache()
    config = settings()
    body = cache.discovery
    if body is None or body.source is not config:
        body = _Body(provider_metadata(config.issuer), config)
        cache.discovery = body
    return body


def _jwks_body() -> _Body:
    cache = _cache()
    loaded = keys.loaded_keys()
    body = cache.jwks
    if body is None or body.source is not loaded:
        body = _Body(loaded.jwks, loaded)
        cache.jwks = body
    return body


def _answer(body: _Body, max_age: int) -> Response:
    headers = {
        "Cache-Control": f"public, max-age={max_age}",
        "ETag": f'"{body.etag}"',
        "Access-Control-Allow-Origin": "*",
    }
    if request.if_none_match.contains_weak(body.etag):
        return Response(status=304, headers=headers)
    return Response(body.data, mimetype="application/json", headers=headers)


@protocol.route("/.well-known/openid-configuration", endpoint="discovery")
def discovery() -> Response:
    return _answer(_discovery_body(), DISCOVERY_MAX_AGE)


@protocol.route("/jwks", endpoint="jwks")
def jwks() -> Response:
    return _answer(_jwks_body(), JWKS_MAX_AGE)


@protocol.before_request
def _signing_keys_ready() -> None:
    if request.endpoint in ("oidc.discovery",):
        return
    keys.ensure_keys()
