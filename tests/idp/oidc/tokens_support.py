"""Helpers of the token tests (access, refresh, client_credentials, userinfo, revocation,
introspection): a user's tokens from a real code flow, token requests, and access tokens
forged with our own key or with others, to attack the validation.

Built on tests/idp/oidc/helpers.py (the shared OIDC helpers)."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, Key
from sqlalchemy import func, select

from idp.accounts.models import User
from idp.config import settings
from idp.extensions import db
from idp.oidc import keys
from idp.oidc.models import (
    AuthorizationCode,
    Grant,
    RefreshToken,
    RevokedAccessToken,
)
from tests.idp.oidc.helpers import (
    CodeFlow,
    RegisteredClient,
    basic_authorization,
    code_flow,
    register_client,
    sign_in,
    token_request,
)


@dataclass
class Issued:
    """A relying party, its user, and what a code flow gave it."""

    rp: RegisteredClient
    user: User
    flow: CodeFlow

    @property
    def access_token(self) -> str:
        return self.flow.access_token

    @property
    def refresh_token(self) -> str:
        value = self.flow.refresh_token
        assert value, self.flow.tokens
        return value


def issue(
    client: FlaskClient,
    *,
    username: str = "jean.dupont",
    user: User | None = None,
    rp: RegisteredClient | None = None,
    scope: str = "openid profile email",
    **client_options: Any,
) -> Issued:
    """Register a client (unless given), log a user in on `client` (`user`, or a new one named
    `username`), run a code flow."""
    keys.ensure_keys()  # before the token endpoint's first write (keys are made on first use)
    rp = rp or register_client(**client_options)
    user = sign_in(client, user) if user is not None else sign_in(client, username=username)
    flow = code_flow(client, rp, scope=scope)
    return Issued(rp, user, flow)


def refresh(client: FlaskClient, rp: RegisteredClient, token: str, **data: Any) -> Any:
    return token_request(client, rp, grant_type="refresh_token", refresh_token=token, **data)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def userinfo(client: FlaskClient, token: str) -> Any:
    return client.get("/userinfo", headers=bearer(token))


def endpoint_post(client: FlaskClient, path: str, rp: RegisteredClient, **data: Any) -> Any:
    """POST to /revoke or /introspect authenticated as the client's registered method."""
    body = {key: value for key, value in data.items() if value is not None}
    headers = {}
    if rp.auth_method == "client_secret_basic":
        assert rp.secret is not None
        headers["Authorization"] = basic_authorization(rp.client_id, rp.secret)
    elif rp.auth_method == "client_secret_post":
        body.update(client_id=rp.client_id, client_secret=rp.secret)
    else:
        body["client_id"] = rp.client_id
    return client.post(path, data=body, headers=headers)


def revoke(client: FlaskClient, rp: RegisteredClient, token: str, **data: Any) -> Any:
    return endpoint_post(client, "/revoke", rp, token=token, **data)


def introspect(client: FlaskClient, rp: RegisteredClient, token: str, **data: Any) -> Any:
    return endpoint_post(client, "/introspect", rp, token=token, **data)


def client_credentials(client: FlaskClient, rp: RegisteredClient, **data: Any) -> Any:
    keys.ensure_keys()
    return token_request(client, rp, grant_type="client_credentials", **data)


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a compact JWT, unverified."""
    head, body = token.split(".")[:2]
    return _b64json(head), _b64json(body)


def _b64json(part: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(
    claims: dict[str, Any] | None = None,
    *,
    base: str | None = None,
    header: dict[str, Any] | None = None,
    key: Key | None = None,
    drop: tuple[str, ...] = (),
) -> str:
    """An access token signed with `key` (our current ES256 key by default, its kid in the
    header): the claims of `base` (a real token) or of a plausible client token, updated
    with `claims`, without the names in `drop`."""
    if base is not None:
        _, values = segments(base)
    else:
        now = int(time.time())
        values = {
            "iss": settings().issuer,
            "sub": "client",
            "aud": "client",
            "client_id": "client",
            "iat": now,
            "exp": now + 60,
            "jti": "forged-jti",
        }
    values.update(claims or {})
    for name in drop:
        values.pop(name, None)
    signer = key or keys.current_signing_key("ES256")
    head = {"alg": "ES256", "typ": "at+jwt", "kid": signer.kid, **(header or {})}
    return jwt.encode(head, values, signer, algorithms=[head["alg"]])


def foreign_key(kid: str | None = None) -> ECKey:
    """An EC key that is not ours (with `kid`, or a random one)."""
    key = ECKey.generate_key("P-256", auto_kid=kid is None)
    if kid is not None:
        key = ECKey.import_key(key.as_dict(private=True), parameters={"kid": kid})
    return key


def count(model: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def oauth_row_counts() -> dict[str, int]:
    """How many rows each token table holds."""
    return {
        model.__tablename__: count(model)
        for model in (AuthorizationCode, Grant, RefreshToken, RevokedAccessToken)
    }


def grant_of(token: str) -> Grant:
    """The grant (token family) an access token names, read again."""
    _, claims = segments(token)
    db.session.expire_all()
    grant = db.session.scalar(select(Grant).where(Grant.public_id == claims["gid"]))
    assert grant is not None
    return grant
