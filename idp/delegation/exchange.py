"""OAuth 2.0 Token Exchange (RFC 8693) at /token: a partner site holding a collaborator's access
token obtains a token that acts for the expert-comptable who delegated to that collaborator
(docs/adr/0025-delegations.md, "Token exchange"). Authlib 1.9 has none (its `rfc8693` package
is an empty stub, ../shared/OIDC_NOTES.md): the grant class is ours, registered on the
authorization server (idp/oidc/server.py) next to the code, refresh and client_credentials
grants.

Request (form body; the client authenticated with its registered confidential method):
    grant_type=urn:ietf:params:oauth:grant-type:token-exchange
    subject_token=<an access token of ours>   subject_token_type=...:token-type:access_token
    delegation=<public id, the `id` of the `delegations` claim>   (optional: see below)
    audience=<client id>*   resource=<https URL>*   scope=<subset>   requested_token_type
    actor_token, actor_token_type   (only when the client's actor allowlist names the type)
Answer: `access_token`, `issued_token_type` (access token), `token_type` Bearer, `expires_in`,
`scope`; never a refresh token (the site exchanges again, while the subject token lives).

The issued access token is one of ours (RFC 9068, same key, same validation) with `sub` the
grantor, `act: {"sub": <the subject token's user>}`, `dlg` the delegation's public id, and the
subject token's `gid` (token family), `sid`, `auth_time`, `acr`, `amr` (the authentication is
the actor's: a site asking for MFA sees the collaborator's). Decisions:

- **The subject token must have been issued to the requesting client** (its `client_id`, our
  `azp`). A site exchanges what the collaborator gave it, nothing else: a token leaked from
  another site cannot be turned into the grantor's power here. It also keeps the family
  consistent: the exchanged token names the subject token's grant (`gid`), whose client is this
  one, so revoking that grant (logout, consent withdrawn, refresh reuse, client removed) kills
  the exchanged token with one check that already exists (`validate_access_token`).
- **The delegation** must be valid now (`rules.valid_delegations`: active, within its dates,
  its grantor still an active expert-comptable with a live registry claim), held by the
  subject token's user, and cover the requesting client. `delegation` names it; it may be left
  out when exactly one such delegation exists (several: `invalid_request` asking for it).
- **Targets only narrow** to the services the delegation covers: `audience` values are their
  client ids; `resource` values are URLs on their origins (the origins of their registered
  redirect URIs, the only address a client has) and, as at every grant, resources the
  requesting client registered, exactly (docs/adr/0028-client-resources.md). Without either,
  `aud` is the requesting client. **Scope only narrows** the subject token's;
  `offline_access` is dropped (no refresh).
- **Chains**: an exchanged token may itself be exchanged (RFC 8693 4.1 nests `act`): the
  grantor A of a collaborator B gets a token for C when A holds a delegation from C covering
  the client: `sub` C, `act {sub A, act {sub B}}`, `dlg` C→A, and `dlg_chain` the earlier
  links' delegations, outermost first. Every link is checked at each use; a chain never comes
  back to one of its members and holds at most `MAX_CHAIN` delegations.
- **Actor token**: refused unless the client's `exchange_actor_token_types` names its type;
  then it must be a valid access token of this client, without `act`, of the very user the
  subject token speaks for. It adds no power (the actor is already the subject token's user):
  only proof that the actor's own token is at hand, for sites whose policy asks for it.
- **Lifetime**: the access token lifetime, never beyond the subject token's `exp`: a chain of
  exchanges cannot extend a token the collaborator's family no longer renews.
- **At use** (`represented_user`, called by `tokens.validate_access_token` for a token with
  `dlg`): every delegation of the chain still valid and covering the token's client, the chain
  consistent with `sub`/`act`, the family's user (the innermost actor) active. The token then
  speaks for the grantor: userinfo answers the grantor's claims for the token's scopes (plus
  `act`), introspection the grantor's `sub` and username (plus `act`); a delegation ended,
  expired or suspended (grantor struck off or suspended at a registry import) makes it
  inactive at once.
- **Errors** (RFC 6749 5.2 JSON, English ASCII descriptions, as the rest of /token):
  `invalid_request` (missing, repeated or malformed parameters, token types not allowlisted or
  not supported, several delegations and none named), `unauthorized_client` (the client did
  not register the grant type, or is public), `invalid_grant` (subject or actor token invalid,
  of another client or of another user; no valid delegation), `invalid_target`, `invalid_scope`.
  ADR 0025 chose `invalid_grant` for a refused subject token as deployed servers answer; RFC
  8693 2.2.2 reads `invalid_request` there ("other error codes may also be used"):
  `TokenRefused` is the one place to change it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from joserfc import jwt
from joserfc.jws import JWSRegistry
from sqlalchemy import select

from idp.accounts.models import User, UserStatus
from idp.audit.models import AuditEventType
from idp.audit.services import Actor, record
from idp.config import settings
from idp.database import DbSession
from idp.delegation import rules
from idp.delegation.models import Delegation
from idp.extensions import db
from idp.oidc import keys
from idp.oidc.clients import ACCESS_TOKEN_TYPE, EXCHANGE_TOKEN_TYPES, TOKEN_EXCHANGE
from idp.oidc.models import OAuthClient
from idp.oidc.tokens import (
    ACCESS_TOKEN_ALG,
    ACCESS_TOKEN_TYPES,
    CONFIDENTIAL_AUTH_METHODS,
    JTI_BYTES,
    OFFLINE_ACCESS,
    AccessTokenClaims,
    InvalidAccessToken,
    InvalidTargetError,
    client_row,
    requested_resources,
    scope_list,
    validate_access_token,
)

GRANT_TYPE = TOKEN_EXCHANGE
# The token types we read (subject, actor) and issue: our access tokens only.
TOKEN_TYPES: tuple[str, ...] = EXCHANGE_TOKEN_TYPES
MAX_CHAIN = 4  # delegations in one token (`dlg` and `dlg_chain`)
# Parameters that may appear once (RFC 6749 3.2: no repeats); audience, resource repeat.
SINGLE_PARAMETERS = (
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
    "scope",
    "delegation",
)

_SIGN_REGISTRY = JWSRegistry(algorithms=[ACCESS_TOKEN_ALG])


class TokenRefused(InvalidGrantError):
    """A subject or actor token we do not accept for an exchange (ADR 0025: invalid_grant)."""


# --- the grant ------------------------------------------------------------------------------


@dataclass
class Exchange:
    """A checked exchange request: what the token will say."""

    client: OAuthClient
    subject: AccessTokenClaims
    actor: User  # the subject token's user: who acts
    delegation: Delegation
    audiences: list[str]
    scope: str
    act: dict[str, Any]
    dlg_chain: list[str] = field(default_factory=list)

    @property
    def grantor(self) -> User:
        return self.delegation.grantor


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    """RFC 8693 for delegations (see the module docstring). Confidential clients only: a
    public client cannot authenticate with these methods (`invalid_client`)."""

    GRANT_TYPE = GRANT_TYPE
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        row = client_row(client)
        if row.is_public or GRANT_TYPE not in (row.grant_types or []):
            raise UnauthorizedClientError("the client did not register token exchange")
        self.request.client = client
        self.request.exchange = check_exchange(db.session, row, self.request.form)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        exchange: Exchange = self.request.exchange
        now = int(time.time())
        expires_at = min(now + settings().oidc.access_token_lifetime, exchange.subject.expires_at)
        access_token = _sign(exchange_claims(exchange, now, expires_at))
        _audit(db.session, exchange)
        body = {
            "access_token": access_token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": max(expires_at - now, 0),
            "scope": exchange.scope,
        }
        return 200, body, self.TOKEN_RESPONSE_HEADER


def check_exchange(session: DbSession, client: OAuthClient, form: Any) -> Exchange:
    """Every check of an exchange request by `client` (authenticated, registered for the
    grant type), in the order a client developer fixes them: the request's shape, the token
    types, the tokens, the delegation, the targets, the scope."""
    for name in SINGLE_PARAMETERS:
        if len(form.getlist(name)) > 1:
            raise InvalidRequestError(f"'{name}' is given more than once")
    allowed_subject_types = list(client.exchange_subject_token_types or [])
    if not allowed_subject_types:
        raise InvalidRequestError("this client may not exchange tokens (no subject token type)")
    subject_token = form.get("subject_token")
    subject_type = form.get("subject_token_type")
    if not subject_token or not subject_type:
        raise InvalidRequestError("'subject_token' and 'subject_token_type' are required")
    if subject_type not in allowed_subject_types or subject_type not in TOKEN_TYPES:
        raise InvalidRequestError("subject_token_type not allowed for this client")
    requested_type = form.get("requested_token_type")
    if requested_type and requested_type != ACCESS_TOKEN_TYPE:
        raise InvalidRequestError("only access tokens are issued (requested_token_type)")
    actor_token = form.get("actor_token")
    actor_type = form.get("actor_token_type")
    if bool(actor_token) != bool(actor_type):
        raise InvalidRequestError("'actor_token' and 'actor_token_type' go together")
    if actor_type and (
        actor_type not in (client.exchange_actor_token_types or []) or actor_type not in TOKEN_TYPES
    ):
        raise InvalidRequestError("actor_token_type not allowed for this client")

    subject = _client_token(subject_token, client, "subject_token")
    actor = subject.user
    if actor is None:
        raise TokenRefused("subject_token does not speak for a user")
    if actor_token:
        presented = _client_token(actor_token, client, "actor_token")
        if presented.user is None or presented.user.id != actor.id or "act" in presented.claims:
            raise TokenRefused("actor_token is not a token of the subject token's user")

    delegation = _chosen_delegation(session, actor, client, form.get("delegation"))
    act, dlg_chain = _chain(subject, actor, delegation)
    return Exchange(
        client=client,
        subject=subject,
        actor=actor,
        delegation=delegation,
        audiences=_audiences(client, delegation, form),
        scope=_scope(subject, form.get("scope")),
        act=act,
        dlg_chain=dlg_chain,
    )


def _client_token(value: str, client: OAuthClient, name: str) -> AccessTokenClaims:
    """A valid access token of ours issued to `client` (see the module docstring: why)."""
    try:
        valid = validate_access_token(value)
    except InvalidAccessToken as refused:
        raise TokenRefused(f"{name}: {refused.reason}") from None
    if valid.client_id != client.client_id:
        raise TokenRefused(f"{name} was issued to another client")
    if valid.grant_id is None:
        raise TokenRefused(f"{name} does not speak for a user")
    return valid


def _chosen_delegation(
    session: DbSession, holder: User, client: OAuthClient, public_id: str | None
) -> Delegation:
    """The valid delegation `holder` holds covering `client`: the one named, or the only one."""
    valid = rules.valid_delegations(session, holder, client=client)
    if public_id:
        for delegation in valid:
            if delegation.public_id == public_id:
                return delegation
        raise InvalidGrantError("no valid delegation with this id covers this client")
    if not valid:
        raise InvalidGrantError("no valid delegation of the subject covers this client")
    if len(valid) > 1:
        raise InvalidRequestError(
            "several delegations cover this client: name one with the 'delegation' parameter"
        )
    return valid[0]


def _chain(
    subject: AccessTokenClaims, actor: User, delegation: Delegation
) -> tuple[dict[str, Any], list[str]]:
    """The new token's `act` and `dlg_chain`: nested when the subject token already acted
    for someone (RFC 8693 4.1: the outer `act` is the current actor)."""
    act: dict[str, Any] = {"sub": actor.subject}
    earlier: list[str] = []
    if "dlg" in subject.claims:
        act["act"] = subject.claims["act"]
        earlier = [str(subject.claims["dlg"]), *subject.claims.get("dlg_chain", [])]
    if len(earlier) + 1 > MAX_CHAIN:
        raise InvalidGrantError("delegation chain too long")
    if delegation.grantor.subject in actor_subjects(act):
        raise InvalidGrantError("a delegation chain cannot come back to one of its members")
    return act, earlier


def _audiences(client: OAuthClient, delegation: Delegation, form: Any) -> list[str]:
    """`aud`: the audiences and resources asked, all within the delegation's services;
    without any, the requesting client (as for its other tokens: itself and its resources).
    A resource must also be one the client registered (ADR 0028), as at every grant."""
    covered = delegation.client_ids()
    audiences = list(dict.fromkeys(form.getlist("audience")))
    if any(audience not in covered for audience in audiences):
        raise InvalidTargetError("an audience is not a service the delegation covers")
    resources = requested_resources(form, client)
    origins = {
        _origin(uri) for service in delegation.services for uri in service.client.redirect_uris
    }
    if any(_origin(resource) not in origins for resource in resources):
        raise InvalidTargetError("a resource is not on a service the delegation covers")
    return [*(audiences or [client.client_id]), *resources]


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _scope(subject: AccessTokenClaims, requested: str | None) -> str:
    wanted = scope_list(requested)
    if wanted and not set(wanted) <= set(subject.scopes):
        raise InvalidScopeError("scope wider than the subject token's")
    return " ".join(s for s in (wanted or subject.scopes) if s != OFFLINE_ACCESS)


# --- the token ------------------------------------------------------------------------------


def exchange_claims(exchange: Exchange, now: int, expires_at: int) -> dict[str, Any]:
    """The exchanged access token's claims (RFC 9068 plus `act`, `dlg`, `dlg_chain`)."""
    audiences = exchange.audiences
    subject = exchange.subject.claims
    claims: dict[str, Any] = {
        "iss": settings().issuer,
        "sub": exchange.grantor.subject,
        "aud": audiences[0] if len(audiences) == 1 else audiences,
        "client_id": exchange.client.client_id,
        "iat": now,
        "exp": expires_at,
        "jti": secrets.token_urlsafe(JTI_BYTES),
        "gid": subject["gid"],
        "act": exchange.act,
        "dlg": exchange.delegation.public_id,
    }
    if exchange.dlg_chain:
        claims["dlg_chain"] = exchange.dlg_chain
    if exchange.scope:
        claims["scope"] = exchange.scope
    for name in ("sid", "auth_time", "acr", "amr"):
        if name in subject:
            claims[name] = subject[name]
    return claims


def _sign(claims: dict[str, Any]) -> str:
    key = keys.current_signing_key(ACCESS_TOKEN_ALG)
    header = {"alg": ACCESS_TOKEN_ALG, "typ": ACCESS_TOKEN_TYPES[0], "kid": key.kid}
    return jwt.encode(header, claims, key, registry=_SIGN_REGISTRY)


def _audit(session: DbSession, exchange: Exchange) -> None:
    """TOKEN_EXCHANGED on the grantor's account and on the actor's (their histories)."""
    details = {
        "delegation": exchange.delegation.public_id,
        "client_id": exchange.client.client_id,
        "audience": exchange.audiences,
        "scope": exchange.scope,
        "chain": len(exchange.dlg_chain) + 1,
    }
    for party in (exchange.grantor, exchange.actor):
        record(
            session,
            AuditEventType.TOKEN_EXCHANGED,
            subject=party,
            actor=Actor.user(exchange.actor),
            **details,
        )


# --- validity at use ------------------------------------------------------------------------


def actor_subjects(act: Any) -> list[str]:
    """The `sub` of each nested `act`, outermost (current actor) first."""
    subjects: list[str] = []
    while act is not None:
        if not isinstance(act, dict) or not isinstance(act.get("sub"), str):
            raise InvalidAccessToken("invalid claims")
        if len(subjects) >= MAX_CHAIN:
            raise InvalidAccessToken("invalid claims")
        subjects.append(act["sub"])
        act = act.get("act")
    return subjects


def _delegation_ids(claims: dict[str, Any]) -> list[str]:
    chain = claims.get("dlg_chain", [])
    ids = [claims.get("dlg"), *(chain if isinstance(chain, list) else [None])]
    if not all(isinstance(value, str) for value in ids) or len(ids) > MAX_CHAIN:
        raise InvalidAccessToken("invalid claims")
    return [str(value) for value in ids]


def represented_user(session: DbSession, claims: dict[str, Any], family_user: User | None) -> User:
    """The grantor an exchanged token (one with `dlg`) speaks for, or InvalidAccessToken.

    `family_user` is the user of the token's grant (`gid`): the innermost actor, the
    collaborator who signed in. Each link k of the chain `sub` → `act.sub` → `act.act.sub`...
    is the delegation `[dlg, *dlg_chain][k]`, from the subject at level k to the one at level
    k+1; every one must still be valid now and cover the token's client."""
    ids = _delegation_ids(claims)
    actors = actor_subjects(claims.get("act"))
    if not actors or len(actors) != len(ids):
        raise InvalidAccessToken("invalid claims")
    if family_user is None or family_user.subject != actors[-1]:
        raise InvalidAccessToken("invalid claims")
    if family_user.status != UserStatus.ACTIVE:
        raise InvalidAccessToken("user not active")
    found = {
        delegation.public_id: delegation
        for delegation in session.scalars(
            select(Delegation).where(Delegation.public_id.in_(ids))
        ).unique()
    }
    subjects = [str(claims["sub"]), *actors]
    for level, public_id in enumerate(ids):
        delegation = found.get(public_id)
        if delegation is None or delegation.grantee is None:
            raise InvalidAccessToken("delegation no longer valid")
        if (
            delegation.grantor.subject != subjects[level]
            or delegation.grantee.subject != subjects[level + 1]
        ):
            raise InvalidAccessToken("invalid claims")
        if not rules.is_valid(session, delegation) or not rules.covers(
            delegation, [str(claims["client_id"])]
        ):
            raise InvalidAccessToken("delegation no longer valid")
    return found[ids[0]].grantor
