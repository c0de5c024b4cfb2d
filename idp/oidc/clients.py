"""The client registry: relying parties (partner sites), their validation, their secrets.

- A confidential client's secret is `secrets.token_urlsafe(32)` (256 random bits), handed out
  once (`create_client`, `rotate_secret`) and stored as its SHA-256 hex digest; it is checked
  by comparing digests with `hmac.compare_digest` (constant time). A slow password hash would
  add nothing for random secrets and would cap the token endpoint at the hash rate
  (docs/security.md 28).
- A public client (`none`) has no secret; a `private_key_jwt` client has none either, it signs
  assertions with the keys at its `jwks_uri`.
- `get_client` serves the token endpoint's hot path: enabled clients only, from a per-app
  cache checked again at most every `CACHE_SECONDS` (every call under TESTING) and dropped at
  once in this process when a client changes. Each call returns its own detached copy, so
  threads never share an ORM object.

See docs/adr/0021-oidc-provider.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import make_transient_to_detached

from idp.audit.models import AuditEventType
from idp.audit.services import Actor, record
from idp.config import settings
from idp.database import DbSession, flush_or_raise, utcnow
from idp.errors import DomainError
from idp.extensions import db
from idp.oidc import claims as oidc_claims
from idp.oidc.models import ClientAuthMethod, Grant, OAuthClient
from idp.profiles.catalog import Profile
from idp.text import has_forbidden_characters

SUPPORTED_SCOPES: tuple[str, ...] = (
    "openid",
    "profile",
    "email",
    "offline_access",
    "ordre",
    "delegations",
    *oidc_claims.API_SCOPES,
)
# RFC 8693 token exchange (ADR 0025, idp/delegation/exchange.py), and the token types it reads.
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a URN
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a URN
EXCHANGE_TOKEN_TYPES: tuple[str, ...] = (ACCESS_TOKEN_TYPE,)
GRANT_TYPES: tuple[str, ...] = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    TOKEN_EXCHANGE,
)
# Short names an operator may type for those URNs.
SHORT_NAMES = {"token-exchange": TOKEN_EXCHANGE, "access_token": ACCESS_TOKEN_TYPE}
ID_TOKEN_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
AUTH_METHODS: tuple[str, ...] = tuple(method.value for method in ClientAuthMethod)
SECRET_METHODS = frozenset(
    {ClientAuthMethod.CLIENT_SECRET_BASIC.value, ClientAuthMethod.CLIENT_SECRET_POST.value}
)
DEFAULT_GRANT_TYPES: tuple[str, ...] = ("authorization_code", "refresh_token")
DEFAULT_SCOPES: tuple[str, ...] = ("openid", "profile", "email", "offline_access")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# RFC 8252 (native apps): a public client's redirect on a loopback IP literal, never the name
# `localhost` (section 8.3), admitted even in production; its port may vary (section 7.3).
NATIVE_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})
_NATIVE_LOOPBACK = re.compile(
    r"http://(?P<host>127\.0\.0\.1|\[::1\])(?::(?P<port>[1-9][0-9]{0,4}))?(?P<rest>[/?][^#]*)?"
)
NAME_MAX_LENGTH = 120
URI_MAX_LENGTH = 500
SECRET_BYTES = 32  # 256 bits
CACHE_SECONDS = 5.0
CACHE_MAX_ENTRIES = 1024

_CACHE_EXTENSION = "sesame.oidc.clients"


class ClientInvalid(DomainError):
    """Several fields refused at once: `errors` maps a NewClient field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(_l("L'enregistrement du site partenaire contient des erreurs."))


class ClientNotFound(DomainError):
    default_message = _l("Aucun site partenaire avec cet identifiant (client_id).")
    status = 404


class ClientHasNoSecret(DomainError):
    default_message = _l(
        "Ce site partenaire n'a pas de secret : un client public ou private_key_jwt "
        "s'authentifie sans secret partagé."
    )


class ClientAlreadyRemoved(DomainError):
    default_message = _l("Ce site partenaire a déjà été supprimé.")


@dataclass
class NewClient:
    """What `idp clients add` and the admin form ask for. `auth_method` None: `none` for a
    public client, `client_secret_basic` otherwise."""

    name: str
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    public: bool = False
    first_party: bool = False
    allowed_profiles: list[str] = field(default_factory=list)
    backchannel_logout_uri: str | None = None
    auth_method: str | None = None
    require_mfa: bool = False  # "MFA always": every login here needs a second factor
    jwks_uri: str | None = None
    id_token_signed_response_alg: str = "RS256"  # noqa: S105 - an algorithm name
    grant_types: list[str] = field(default_factory=lambda: list(DEFAULT_GRANT_TYPES))
    scopes: list[str] = field(default_factory=lambda: list(DEFAULT_SCOPES))
    # Delegations (ADR 0025): a service a delegation may name; its allowed profiles' delegates
    # admitted too.
    accepts_delegations: bool = False
    admits_delegates: bool = False
    # RFC 8693: the token types the client may present as subject / actor (empty: none).
    exchange_subject_token_types: list[str] = field(default_factory=list)
    exchange_actor_token_types: list[str] = field(default_factory=list)
    # RFC 8707: the resources the client may ask for at /token, matched exactly (ADR 0028).
    resources: list[str] = field(default_factory=list)

    @property
    def method(self) -> str:
        if self.auth_method:
            return self.auth_method
        return ClientAuthMethod.NONE.value if self.public else "client_secret_basic"


# --- validation -----------------------------------------------------------------------------


def uri_problem(uri: str, *, native_redirect: bool = False) -> str | None:
    """Why `uri` cannot be registered (redirect, post-logout, back-channel, jwks), or None.

    Absolute https; plain http only for a loopback host (127.0.0.1, localhost, [::1]) where
    OIDC_ALLOW_INSECURE_TRANSPORT holds (development, tests), and, with `native_redirect` (a
    public client's redirect URI, RFC 8252), on a loopback IP literal everywhere; no fragment,
    no userinfo."""
    if (
        not uri
        or uri != uri.strip()
        or has_forbidden_characters(uri)
        or any(c.isspace() for c in uri)
    ):
        return _("« %(uri)s » contient des espaces ou des caractères de contrôle.", uri=uri)
    if len(uri) > URI_MAX_LENGTH:
        return _("« %(uri)s » dépasse %(max)s caractères.", uri=uri[:60] + "…", max=URI_MAX_LENGTH)
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return _("« %(uri)s » n'est pas une adresse valide.", uri=uri)
    if not parts.scheme or not parts.netloc or not parts.hostname:
        return _("« %(uri)s » n'est pas une adresse absolue (https://…).", uri=uri)
    if "@" in parts.netloc:
        return _("« %(uri)s » ne doit contenir ni identifiant ni mot de passe (…@).", uri=uri)
    if parts.fragment or "#" in uri:
        return _("« %(uri)s » ne doit pas contenir de fragment (#…).", uri=uri)
    scheme = parts.scheme.lower()
    if scheme == "https":
        return None
    if scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        if settings().oidc.allow_insecure_transport:
            return None
        if native_redirect and parts.hostname in NATIVE_LOOPBACK_HOSTS:
            return None
    return _(
        "« %(uri)s » doit commencer par https:// (http:// n'est admis que pour 127.0.0.1, "
        "localhost ou [::1] hors production, et pour l'adresse de retour d'une application "
        "native, client public, sur 127.0.0.1 ou [::1]).",
        uri=uri,
    )


def loopback_redirect_key(uri: str) -> tuple[str, str] | None:
    """A native app's loopback redirect without its port (RFC 8252 section 7.3): (IP literal,
    path and query) as written, or None for any other URI. The port, when there is one, must
    be 1-65535 in plain digits; nothing else of the URI is normalised."""
    found = _NATIVE_LOOPBACK.fullmatch(uri)
    if found is None:
        return None
    port = found.group("port")
    if port is not None and int(port) > 65535:
        return None
    return found.group("host"), found.group("rest") or ""


def native_redirect_matches(requested: str, registered: list[str]) -> bool:
    """A public client's requested redirect equals a registered loopback one but for the
    port. Only the caller knows the client is public: it asks for nothing else."""
    key = loopback_redirect_key(requested)
    return key is not None and any(loopback_redirect_key(uri) == key for uri in registered)


def check_new_client(new: NewClient) -> dict[str, list[str]]:
    """Every refusal at once, by NewClient field."""
    errors: dict[str, list[str]] = {}

    def refuse(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    name = new.name.strip()
    if not name:
        refuse("name", _("Indiquez le nom du site partenaire."))
    elif len(name) > NAME_MAX_LENGTH:
        refuse("name", _("Le nom ne peut dépasser %(max)s caractères.", max=NAME_MAX_LENGTH))
    elif has_forbidden_characters(name):
        refuse("name", _("Le nom contient des caractères non admis."))

    native = new.method == ClientAuthMethod.NONE.value
    for uri in new.redirect_uris:
        if problem := uri_problem(uri, native_redirect=native):
            refuse("redirect_uris", problem)
    for uri in new.post_logout_redirect_uris:
        if problem := uri_problem(uri):
            refuse("post_logout_redirect_uris", problem)
    for single in ("backchannel_logout_uri", "jwks_uri"):
        value = getattr(new, single)
        if value and (problem := uri_problem(value)):
            refuse(single, problem)
    for problem in resources_problems(new.resources):
        refuse("resources", problem)

    unknown_grants = [g for g in new.grant_types if g not in GRANT_TYPES]
    for grant in unknown_grants:
        refuse(
            "grant_types",
            _(
                "Type d'autorisation inconnu : « %(value)s » (%(known)s).",
                value=grant,
                known=", ".join(GRANT_TYPES),
            ),
        )
    if not new.grant_types:
        refuse("grant_types", _("Indiquez au moins un type d'autorisation."))
    code_flow = "authorization_code" in new.grant_types
    if "refresh_token" in new.grant_types and not code_flow:
        refuse(
            "grant_types",
            _("refresh_token ne sert qu'avec authorization_code (les jetons d'un login)."),
        )
    if code_flow and not new.redirect_uris:
        refuse("redirect_uris", _("Indiquez au moins une adresse de retour (redirect URI)."))

    method = new.method
    if method not in AUTH_METHODS:
        refuse(
            "auth_method",
            _(
                "Méthode d'authentification inconnue : « %(value)s » (client_secret_basic, "
                "client_secret_post, private_key_jwt ou none).",
                value=method,
            ),
        )
    elif new.public and method != ClientAuthMethod.NONE.value:
        refuse(
            "auth_method",
            _(
                "Un client public n'a pas de secret : sa méthode d'authentification est "
                "« none » (PKCE obligatoire)."
            ),
        )
    elif method == ClientAuthMethod.PRIVATE_KEY_JWT.value and not new.jwks_uri:
        refuse(
            "jwks_uri",
            _(
                "La méthode private_key_jwt demande l'adresse des clés publiques du client "
                "(jwks_uri)."
            ),
        )
    if new.jwks_uri and method != ClientAuthMethod.PRIVATE_KEY_JWT.value:
        refuse(
            "jwks_uri",
            _("L'adresse des clés du client (jwks_uri) ne sert qu'avec private_key_jwt."),
        )
    if method == ClientAuthMethod.NONE.value and "client_credentials" in new.grant_types:
        refuse(
            "grant_types",
            _("Un client public ne peut pas utiliser client_credentials (il n'a pas de secret)."),
        )
    if method == ClientAuthMethod.NONE.value and TOKEN_EXCHANGE in new.grant_types:
        refuse(
            "grant_types",
            _("Un client public ne peut pas échanger de jetons (il n'a pas de secret)."),
        )
    for name in ("exchange_subject_token_types", "exchange_actor_token_types"):
        for problem in exchange_token_types_problems(getattr(new, name)):
            refuse(name, problem)
    if new.id_token_signed_response_alg not in ID_TOKEN_ALGORITHMS:
        refuse(
            "id_token_signed_response_alg",
            _(
                "Algorithme de signature des ID tokens inconnu : « %(value)s » (RS256 ou ES256).",
                value=new.id_token_signed_response_alg,
            ),
        )
    for scope in new.scopes:
        if scope not in SUPPORTED_SCOPES:
            refuse(
                "scopes",
                _(
                    "Portée inconnue : « %(value)s » (%(known)s).",
                    value=scope,
                    known=", ".join(SUPPORTED_SCOPES),
                ),
            )
    if not new.scopes:
        refuse("scopes", _("Indiquez au moins une portée (openid…)."))
    profiles = {p.value for p in Profile}
    for profile in new.allowed_profiles:
        if profile not in profiles:
            refuse(
                "allowed_profiles",
                _(
                    "Profil inconnu : « %(value)s » (%(known)s).",
                    value=profile,
                    known=", ".join(sorted(profiles)),
                ),
            )
    return errors


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


def _expanded(values: list[str]) -> list[str]:
    """`_unique`, the short names (token-exchange, access_token) replaced by their URNs."""
    return _unique([SHORT_NAMES.get(v.strip(), v) for v in values])


def resources_problems(values: list[str]) -> list[str]:
    """Why RFC 8707 resources cannot be registered (one French line per refused value): each
    is an address as `uri_problem` admits them (absolute, https but for loopback hosts outside
    production, no fragment, no userinfo). The token endpoint compares them exactly."""
    return [problem for value in values if (problem := uri_problem(value))]


def exchange_token_types_problems(values: list[str]) -> list[str]:
    """Why a token exchange allowlist cannot be registered (one French line per value)."""
    return [
        _(
            "Type de jeton inconnu pour l'échange : « %(value)s » (%(known)s).",
            value=value,
            known=", ".join(EXCHANGE_TOKEN_TYPES),
        )
        for value in values
        if value not in EXCHANGE_TOKEN_TYPES
    ]


# --- secrets --------------------------------------------------------------------------------


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(client: OAuthClient, secret: str | None) -> bool:
    """Constant time on the digests; False for a client without a secret (public,
    private_key_jwt) whatever is presented."""
    if not secret or not client.secret_digest:
        return False
    return hmac.compare_digest(secret_digest(secret), client.secret_digest)


# --- use cases ------------------------------------------------------------------------------


def create_client(
    session: DbSession, new: NewClient, actor: Actor
) -> tuple[OAuthClient, str | None]:
    """Register a client; returns it and its secret (None for public and private_key_jwt
    clients), which is not stored and cannot be shown again. The caller commits."""
    new = NewClient(
        name=new.name.strip(),
        redirect_uris=_unique(new.redirect_uris),
        post_logout_redirect_uris=_unique(new.post_logout_redirect_uris),
        public=new.public or new.auth_method == ClientAuthMethod.NONE.value,
        first_party=new.first_party,
        allowed_profiles=_unique(new.allowed_profiles),
        backchannel_logout_uri=(new.backchannel_logout_uri or "").strip() or None,
        auth_method=new.auth_method,
        jwks_uri=(new.jwks_uri or "").strip() or None,
        id_token_signed_response_alg=new.id_token_signed_response_alg,
        grant_types=_expanded(new.grant_types),
        scopes=_unique(new.scopes),
        require_mfa=new.require_mfa,
        accepts_delegations=new.accepts_delegations,
        admits_delegates=new.admits_delegates,
        exchange_subject_token_types=_expanded(new.exchange_subject_token_types),
        exchange_actor_token_types=_expanded(new.exchange_actor_token_types),
        resources=_unique(new.resources),
    )
    if TOKEN_EXCHANGE in new.grant_types and not new.exchange_subject_token_types:
        # The grant type alone (the admin form's checkbox) means the only subject type there
        # is: access tokens. An explicit list (the CLI) is kept as given.
        new = dataclasses.replace(new, exchange_subject_token_types=[ACCESS_TOKEN_TYPE])
    errors = check_new_client(new)
    if errors:
        raise ClientInvalid(errors)
    method = new.method
    secret = new_secret() if method in SECRET_METHODS else None
    client = OAuthClient(
        name=new.name,
        secret_digest=secret_digest(secret) if secret else None,
        token_endpoint_auth_method=method,
        jwks_uri=new.jwks_uri,
        redirect_uris=new.redirect_uris,
        post_logout_redirect_uris=new.post_logout_redirect_uris,
        backchannel_logout_uri=new.backchannel_logout_uri,
        grant_types=new.grant_types,
        scopes=new.scopes,
        id_token_signed_response_alg=new.id_token_signed_response_alg,
        first_party=new.first_party,
        allowed_profiles=new.allowed_profiles,
        require_mfa=new.require_mfa,
        accepts_delegations=new.accepts_delegations,
        admits_delegates=new.admits_delegates,
        exchange_subject_token_types=new.exchange_subject_token_types,
        exchange_actor_token_types=new.exchange_actor_token_types,
        resources=new.resources,
    )
    session.add(client)
    flush_or_raise(session)
    record(
        session,
        AuditEventType.OIDC_CLIENT_CREATED,
        subject=None,
        actor=actor,
        client_id=client.client_id,
        name=client.name,
        auth_method=method,
        require_mfa=new.require_mfa,
        accepts_delegations=new.accepts_delegations,
        admits_delegates=new.admits_delegates,
        resources=new.resources,
    )
    forget_client(client.client_id)
    return client, secret


def find_client(session: DbSession, client_id: str) -> OAuthClient | None:
    """Any client, removed ones included (administration); None when unknown."""
    return session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


def enabled_client(session: DbSession, client_id: str) -> OAuthClient:
    """The client to administer; ClientNotFound when unknown or removed."""
    client = find_client(session, client_id)
    if client is None or client.disabled_at is not None:
        raise ClientNotFound()
    return client


def list_clients(session: DbSession, *, include_removed: bool = False) -> list[OAuthClient]:
    query = select(OAuthClient).order_by(OAuthClient.name, OAuthClient.id)
    if not include_removed:
        query = query.where(OAuthClient.disabled_at.is_(None))
    return list(session.scalars(query))


def rotate_secret(session: DbSession, client: OAuthClient, actor: Actor) -> str:
    """A new secret replaces the old one at once (the old one stops authenticating); returns
    it, shown once. The caller commits."""
    if client.disabled_at is not None:
        raise ClientAlreadyRemoved()
    if client.token_endpoint_auth_method not in SECRET_METHODS:
        raise ClientHasNoSecret()
    secret = new_secret()
    client.secret_digest = secret_digest(secret)
    client.secret_rotated_at = utcnow()
    session.flush()
    record(
        session,
        AuditEventType.OIDC_CLIENT_SECRET_ROTATED,
        subject=None,
        actor=actor,
        client_id=client.client_id,
        name=client.name,
    )
    forget_client(client.client_id)
    return secret


def set_require_mfa(session: DbSession, client: OAuthClient, required: bool, actor: Actor) -> bool:
    """ "Sécurité avancée obligatoire" (ADR 0022): every login at the client needs a second
    factor, or no longer does. Returns whether it changed (a change is audited). The caller
    commits."""
    if client.disabled_at is not None:
        raise ClientAlreadyRemoved()
    if client.require_mfa == required:
        return False
    _apply_settings(session, client, actor, {"require_mfa": required})
    return True


def _apply_settings(
    session: DbSession, client: OAuthClient, actor: Actor, changes: dict[str, Any]
) -> None:
    """Write changed settings of a client, audit them, and drop the cached copy every worker
    reads (the one way a client's settings change after registration)."""
    for name, value in changes.items():
        setattr(client, name, value)
    session.flush()
    record(
        session,
        AuditEventType.OIDC_CLIENT_UPDATED,
        subject=None,
        actor=actor,
        client_id=client.client_id,
        name=client.name,
        changes=changes,
    )
    forget_client(client.client_id)


def set_delegation_settings(
    session: DbSession,
    client: OAuthClient,
    actor: Actor,
    *,
    accepts_delegations: bool | None = None,
    admits_delegates: bool | None = None,
) -> dict[str, bool]:
    """ADR 0025: whether a delegation may name this service (`accepts_delegations`), and
    whether its `allowed_profiles` also admit their delegates (`admits_delegates`); None
    leaves a setting as it is. Returns what changed (audited when anything did). Delegations
    already naming the service keep it. The caller commits."""
    if client.disabled_at is not None:
        raise ClientAlreadyRemoved()
    wanted = {"accepts_delegations": accepts_delegations, "admits_delegates": admits_delegates}
    changes = {
        name: value
        for name, value in wanted.items()
        if value is not None and getattr(client, name) != value
    }
    if not changes:
        return {}
    _apply_settings(session, client, actor, changes)
    return changes


def set_exchange_token_types(
    session: DbSession,
    client: OAuthClient,
    actor: Actor,
    *,
    subject_types: list[str] | None = None,
    actor_types: list[str] | None = None,
) -> dict[str, list[str]]:
    """RFC 8693 allowlists (ADR 0025): the token types the client may present as subject and
    as actor of a token exchange (empty: exchange refused; they count only with the
    token-exchange grant type). None leaves a list as it is. Returns what changed (audited
    when anything did). The caller commits."""
    if client.disabled_at is not None:
        raise ClientAlreadyRemoved()
    wanted = {
        "exchange_subject_token_types": subject_types,
        "exchange_actor_token_types": actor_types,
    }
    errors: dict[str, list[str]] = {}
    changes: dict[str, list[str]] = {}
    for name, values in wanted.items():
        if values is None:
            continue
        values = _expanded(values)
        if problems := exchange_token_types_problems(values):
            errors[name] = problems
        elif list(getattr(client, name) or []) != values:
            changes[name] = values
    if errors:
        raise ClientInvalid(errors)
    if not changes:
        return {}
    _apply_settings(session, client, actor, changes)
    return changes


def set_resources(
    session: DbSession, client: OAuthClient, actor: Actor, resources: list[str]
) -> list[str] | None:
    """Replace the RFC 8707 resources the client may ask for (ADR 0028; empty: none). Returns
    the new list, or None when it is the same (audited only on a change). Tokens already
    issued keep their `aud`; the next code exchange or refresh asking for a removed resource
    is refused. The caller commits."""
    if client.disabled_at is not None:
        raise ClientAlreadyRemoved()
    values = _unique(resources)
    if problems := resources_problems(values):
        raise ClientInvalid({"resources": problems})
    if list(client.resources or []) == values:
        return None
    _apply_settings(session, client, actor, {"resources": values})
    return values


def remove_client(session: DbSession, client: OAuthClient, actor: Actor) -> int:
    """Disable the client (its row stays: audit, foreign keys) and revoke every grant it
    holds, hence its refresh and access tokens. Returns the number of grants revoked. The
    caller commits."""
    if client.disabled_at is not None:
        raise ClientAlreadyRemoved()
    now = utcnow()
    client.disabled_at = now
    result = session.execute(
        update(Grant)
        .where(Grant.client_id == client.id, Grant.revoked_at.is_(None))
        .values(revoked_at=now, revoke_reason="client_removed")
        .execution_options(synchronize_session=False)
    )
    revoked = int(getattr(result, "rowcount", 0) or 0)
    session.flush()
    record(
        session,
        AuditEventType.OIDC_CLIENT_REMOVED,
        subject=None,
        actor=actor,
        client_id=client.client_id,
        name=client.name,
        grants_revoked=revoked,
    )
    forget_client(client.client_id)
    return revoked


# --- the per-process cache of enabled clients -----------------------------------------------


_COLUMNS = tuple(attr.key for attr in OAuthClient.__mapper__.column_attrs)


@dataclass
class ClientCache:
    interval: float
    entries: dict[str, tuple[float, dict[str, Any] | None]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


def client_cache(app: Flask | None = None) -> ClientCache:
    application = app or current_app
    cache: ClientCache | None = application.extensions.get(_CACHE_EXTENSION)
    if cache is None:
        interval = 0.0 if application.testing else CACHE_SECONDS
        cache = application.extensions.setdefault(_CACHE_EXTENSION, ClientCache(interval))
    return cache


def forget_client(client_id: str) -> None:
    """Drop a client from this process's cache (it changed here)."""
    cache = client_cache()
    with cache.lock:
        cache.entries.pop(client_id, None)


def _snapshot(client: OAuthClient) -> dict[str, Any]:
    return {name: getattr(client, name) for name in _COLUMNS}


def _detached_copy(values: dict[str, Any]) -> OAuthClient:
    client = OAuthClient(**{k: (list(v) if isinstance(v, list) else v) for k, v in values.items()})
    make_transient_to_detached(client)
    return client


def get_client(client_id: str | None) -> OAuthClient | None:
    """The enabled client `client_id`, or None (unknown or removed). Served from this process's
    cache for up to `interval` seconds; a detached copy of its own for each caller (use its
    `id` for foreign keys; do not add it to a session)."""
    if not client_id or len(client_id) > 64:
        return None
    cache = client_cache()
    now = time.monotonic()
    entry = cache.entries.get(client_id)
    if entry is None or now - entry[0] >= cache.interval:
        row = db.session.scalar(
            select(OAuthClient).where(
                OAuthClient.client_id == client_id, OAuthClient.disabled_at.is_(None)
            )
        )
        entry = (now, _snapshot(row) if row is not None else None)
        if cache.interval > 0:
            with cache.lock:
                if len(cache.entries) >= CACHE_MAX_ENTRIES:
                    cache.entries.clear()
                cache.entries[client_id] = entry
    values = entry[1]
    return _detached_copy(values) if values is not None else None


# --- policy ---------------------------------------------------------------------------------


def profile_allowed(client: OAuthClient, user: Any, *, session: DbSession | None = None) -> bool:
    """Whether `user` may use `client`: everyone when `allowed_profiles` is empty; otherwise
    one of the profiles the account holds (idp.registry.services.held_profiles: the signup
    profile, and registry categories through a live claim only, so a suspended or struck-off
    expert-comptable no longer passes); or, where the client `admits_delegates`, a delegate of
    such a profile (`delegate_admitted`)."""
    if not client.allowed_profiles:
        return True
    from idp.registry.services import held_profiles

    session = session if session is not None else db.session
    held = held_profiles(session, user)
    if any(profile in client.allowed_profiles for profile in held):
        return True
    return bool(client.admits_delegates) and delegate_admitted(session, client, user)


def delegate_admitted(session: DbSession, client: OAuthClient, user: Any) -> bool:
    """ADR 0025: a client that `admits_delegates` also admits the holder of a delegation valid
    now, covering this client, from a grantor holding one of its `allowed_profiles` (an
    ended, expired, suspended or other-service delegation admits nobody)."""
    from idp.delegation.rules import valid_delegations
    from idp.registry.services import held_profiles

    return any(
        any(p in client.allowed_profiles for p in held_profiles(session, delegation.grantor))
        for delegation in valid_delegations(session, user, client=client)
    )
