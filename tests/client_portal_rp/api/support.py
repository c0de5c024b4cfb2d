"""Access tokens for the portal's API tests: signed like the IdP's (ES256, `typ: at+jwt`,
RFC 9068 claims) with a test key whose JWKS the portal reads instead of fetching the IdP's.
tests/browser/test_portal_api_public_client.py drives the API with a token of the real IdP."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from client_portal_rp.api.auth import ALL_SCOPES
from client_portal_rp.api.tokens import KeyCache
from client_portal_rp.models import PortalUser
from relying_party.logins import ACR_ADVANCED
from tests.client_portal_rp.conftest import PORTAL_ISSUER

AUDIENCE = "http://portal.test/api/v1"
KEY = ECKey.generate_key("P-256", parameters={"kid": "test-key-1", "use": "sig"})
JWKS = KeySet([KEY]).as_dict(private=False)
_KEYS_EXTENSION = "portal.api.keys"


def use_test_keys(app: Flask) -> None:
    """The portal checks tokens against the test key set (no IdP to fetch it from)."""
    app.extensions[_KEYS_EXTENSION] = KeyCache(lambda force: JWKS)


def token_for(
    user: PortalUser | str,
    *,
    scopes: tuple[str, ...] | str = ALL_SCOPES,
    advanced: bool = False,
    audience: str = AUDIENCE,
    issuer: str = PORTAL_ISSUER,
    lifetime: int = 300,
    key: ECKey = KEY,
    **claims: Any,
) -> str:
    now = int(time.time())
    subject = user if isinstance(user, str) else user.subject
    body: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": [audience],
        "client_id": "mobile-app",
        "iat": now,
        "exp": now + lifetime,
        "jti": f"jti-{subject}-{now}-{time.perf_counter_ns()}",
        "gid": f"gid-{subject}",
        "scope": scopes if isinstance(scopes, str) else " ".join(scopes),
        "acr": ACR_ADVANCED if advanced else "urn:sesame:acr:password",
        **claims,
    }
    header = {"alg": "ES256", "typ": "at+jwt", "kid": key.kid}
    return jwt.encode(header, body, key)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
