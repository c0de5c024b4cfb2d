"""What clients call with a token: `/userinfo` (OIDC Core 5.3), `/revoke` (RFC 7009) and
`/introspect` (RFC 7662), on the `protocol` blueprint (JSON, no CSRF).

Userinfo takes the access token from the `Authorization: Bearer` header, or from the
`access_token` field of a form-encoded POST body (RFC 6750 2.2), never both; it answers with
an RFC 6750 `WWW-Authenticate` challenge when the token is missing or refused. The token is
validated by `tokens.validate_access_token` (signature, lifetime, then one indexed query that
also loads the user). Revocation and introspection are Authlib's endpoints over our storage
(idp/oidc/tokens.py), registered on the authorization server. See
docs/adr/0021-oidc-provider.md.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, request

from idp.oidc import claims, tokens
from idp.oidc.server import authorization_server
from idp.oidc.web import protocol

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _bearer_challenge(status: int, error: str | None = None, description: str = "") -> Response:
    """An RFC 6750 section 3 answer: no error code when the request carried no token."""
    challenge = 'Bearer realm="userinfo"'
    body: dict[str, Any] = {}
    if error:
        challenge += f', error="{error}", error_description="{description}"'
        body = {"error": error, "error_description": description}
        if error == "insufficient_scope":
            challenge += ', scope="openid"'
    response = jsonify(body)
    response.status_code = status
    response.headers["WWW-Authenticate"] = challenge
    response.headers.update(NO_STORE)
    return response


def _presented_token() -> tuple[str | None, str | None]:
    """(token, problem): the bearer token of the request, by header or form body."""
    header = request.headers.get("Authorization", "")
    from_header = None
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None, "the Authorization header is not a Bearer token"
        from_header = value.strip()
    from_body = None
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        from_body = request.form.get("access_token") or None
    if from_header and from_body:
        return None, "the token is given more than once"
    return from_header or from_body, None


@protocol.route("/userinfo", methods=["GET", "POST"], endpoint="userinfo")
def userinfo() -> Response:
    token, problem = _presented_token()
    if problem:
        return _bearer_challenge(400, "invalid_request", problem)
    if token is None:
        return _bearer_challenge(401)
    try:
        valid = tokens.validate_access_token(token)
    except tokens.InvalidAccessToken as refused:
        return _bearer_challenge(401, "invalid_token", refused.reason)
    if valid.user is None or "openid" not in valid.scopes:
        return _bearer_challenge(
            403, "insufficient_scope", "userinfo needs a user's token with the openid scope"
        )
    from idp.oidc.clients import get_client

    client = get_client(str(valid.claims.get("client_id") or ""))
    answer = claims.userinfo_claims(valid.user, valid.scopes, client=client)
    if "act" in valid.claims:  # exchanged (RFC 8693): the grantor's claims, and who acts
        answer["act"] = valid.claims["act"]
    response = jsonify(answer)
    response.headers.update(NO_STORE)
    return response


@protocol.post("/revoke", endpoint="revoke")
def revoke() -> Response:
    response: Response = authorization_server.create_endpoint_response(
        tokens.TokenRevocationEndpoint.ENDPOINT_NAME
    )
    return response


@protocol.post("/introspect", endpoint="introspect")
def introspect() -> Response:
    response: Response = authorization_server.create_endpoint_response(
        tokens.TokenIntrospectionEndpoint.ENDPOINT_NAME
    )
    _add_delegations(response)
    response.headers.update(NO_STORE)
    return response


def _add_delegations(response: Response) -> None:
    """A user's token whose scope has `delegations`: the delegations valid *now* for the
    token's client (ADR 0025), so one ended since the token was issued is gone. An exchanged
    token (`act`: acting for the grantor) is the token exchange's to describe."""
    payload = response.get_json(silent=True) if response.status_code == 200 else None
    if not isinstance(payload, dict) or payload.get("active") is not True:
        return
    if "delegations" not in claims.scope_list(payload.get("scope")):
        return
    if "act" in payload or "dlg" in payload or not payload.get("username"):
        return
    from sqlalchemy import select

    from idp.accounts.models import User
    from idp.delegation.claims import delegations_claim
    from idp.extensions import db
    from idp.oidc.clients import get_client

    user = db.session.scalar(select(User).where(User.subject == payload.get("sub")))
    client = get_client(str(payload.get("client_id") or ""))
    if user is None or client is None:
        return
    payload["delegations"] = delegations_claim(db.session, user, client)
    response.set_data(json.dumps(payload))
