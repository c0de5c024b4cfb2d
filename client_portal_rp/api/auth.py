"""Who calls the API and what they may do: the bearer token (tokens.py), its scopes, and the same
access decision as the pages (`tenancy.check_access`): one code path for both.

- No token, or a refused one: 401 with `WWW-Authenticate: Bearer` (RFC 6750; `invalid_token`
  when one was sent). Cookies are never read: the API is not reachable with the page session, so
  it needs no CSRF protection.
- A token without the operation's scope: 403 `insufficient_scope`, naming the scope.
- Another company's id: 404, as for a company that does not exist (SECURITY.md 46).
- A module the company marks "sécurité avancée" with a token whose `acr` is not the MFA level:
  401 `insufficient_user_authentication` (RFC 9470) with `acr_values`, so that the app steps up.
- Tokens of a delegate (RFC 8693 `act`) are refused: the portal's rights are given to people in
  « Administrez vos accès », not through the IdP's delegations (ADR 0026).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, request
from flask_babel import gettext as _
from sqlalchemy import select

from client_portal_rp.api.problems import Problem
from client_portal_rp.api.ratelimit import rate_limiter
from client_portal_rp.api.tokens import AccessToken, KeyCache, TokenInvalid, validate
from client_portal_rp.extensions import db
from client_portal_rp.models import Module, PortalUser
from client_portal_rp.tenancy import (
    Refusal,
    check_access,
    manage_refused_message,
    module_refused_message,
)
from relying_party.logins import ACR_ADVANCED
from relying_party.views import relying_party

REALM = "portail"
# One scope per module, and one for « Administrez vos accès »; the IdP knows them
# (idp/oidc/claims.py API_SCOPES).
MODULE_SCOPES: dict[Module, str] = {
    Module.DEPOSIT: "portal.deposits",
    Module.COMPTA: "portal.accounting",
    Module.ARCHIVES: "portal.archives",
}
ACCESSES_SCOPE = "portal.accesses"
ALL_SCOPES: tuple[str, ...] = (*MODULE_SCOPES.values(), ACCESSES_SCOPE)
SCOPE_DESCRIPTIONS: dict[str, str] = {
    "portal.deposits": "Déposez vos documents : déposer, lister, télécharger",
    "portal.accounting": "Consultez votre compta en ligne : indicateurs et échéanciers",
    "portal.archives": "Accédez à vos archives : chercher, télécharger",
    "portal.accesses": "Administrez vos accès : utilisateurs et droits (administrateurs)",
}
_KEYS_EXTENSION = "portal.api.keys"


def _keys() -> KeyCache:
    keys: KeyCache | None = current_app.extensions.get(_KEYS_EXTENSION)
    if keys is None:
        keys = current_app.extensions[_KEYS_EXTENSION] = KeyCache(relying_party().jwks)
    return keys


def _unauthorized(detail: str, *, error: str | None = None) -> Problem:
    challenge = f'Bearer realm="{REALM}"'
    if error:
        challenge += f', error="{error}"'
    return Problem(
        401,
        _("Authentification requise"),
        detail,
        code=error or "unauthorized",
        headers={"WWW-Authenticate": challenge},
    )


def api_audience() -> str:
    """The `aud` (RFC 8707 resource) this API's tokens carry."""
    config = current_app.config
    configured: str = config.get("PORTAL_API_AUDIENCE") or ""
    return configured or str(config["PORTAL_BASE_URL"]).rstrip("/") + "/api/v1"


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate() -> AccessToken:
    """The request's valid token (cached for the request), else a 401 Problem. Counts the
    request against the token family's rate limit (429 past it)."""
    if "api_token" in g:
        token: AccessToken = g.api_token
        return token
    raw = bearer_token()
    if raw is None:
        raise _unauthorized(
            _("Présentez un jeton d'accès Sésame : en-tête « Authorization: Bearer … ».")
        )
    config = current_app.config
    try:
        token = validate(
            raw,
            keys=_keys(),
            issuer=config["PORTAL_IDP_ISSUER"],
            audience=api_audience(),
        )
    except TokenInvalid as refused:
        current_app.logger.info("API token refused: %s", refused.reason)
        raise _unauthorized(
            _("Ce jeton d'accès n'est pas valable (expiré, ou pas pour ce portail)."),
            error="invalid_token",
        ) from None
    if token.actor is not None:
        raise Problem(
            403,
            _("Accès refusé"),
            _("Le portail n'accepte pas les jetons de délégation : connectez-vous en votre nom."),
            code="delegation_refused",
        )
    verdict = rate_limiter().hit(token.limit_key)
    g.api_rate_limit = verdict
    if not verdict.allowed:
        raise Problem(
            429,
            _("Trop de requêtes"),
            _(
                "Ce jeton a fait trop de requêtes : réessayez dans %(seconds)s s.",
                seconds=verdict.reset_in,
            ),
            code="rate_limited",
            headers={"Retry-After": str(max(1, verdict.reset_in))},
        )
    g.api_token = token
    user = db.session.scalar(select(PortalUser).where(PortalUser.subject == token.subject))
    # The pages' `current_user()` (audit lines, services) reads it from here too.
    g.portal_user = user
    return token


def require_scope(token: AccessToken, scope: str) -> None:
    if scope not in token.scopes:
        raise Problem(
            403,
            _("Autorisation insuffisante"),
            _("Ce jeton n'a pas l'autorisation « %(scope)s ».", scope=scope),
            code="insufficient_scope",
            headers={
                "WWW-Authenticate": (
                    f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'
                )
            },
        )


def api_user() -> PortalUser | None:
    """The token's person, if the portal knows them (None: they never logged in here)."""
    authenticate()
    user: PortalUser | None = g.get("portal_user")
    return user


def api_company(
    module: Module | None = None, *, manage: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An API operation on one company (URL argument `company_id`, its public id): the view
    receives the `Access` as its first argument, as with `tenancy.company_view`."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(company_id: str, **kwargs: Any) -> Any:
            token = authenticate()
            if module is not None:
                require_scope(token, MODULE_SCOPES[module])
            if manage:
                require_scope(token, ACCESSES_SCOPE)
            access, refusal = check_access(
                api_user(), company_id, module, manage=manage, advanced=token.advanced
            )
            if access is None:
                raise Problem(
                    404,
                    _("Ressource introuvable"),
                    _("Cette entreprise n'existe pas."),
                    code="not_found",
                )
            if refusal is Refusal.MODULE and module is not None:
                raise Problem(
                    403,
                    _("Accès refusé"),
                    module_refused_message(access, module),
                    code="module_refused",
                )
            if refusal is Refusal.MANAGE:
                raise Problem(
                    403, _("Accès refusé"), manage_refused_message(), code="manage_refused"
                )
            if refusal is Refusal.ADVANCED and module is not None:
                raise Problem(
                    401,
                    _("Sécurité avancée requise"),
                    _(
                        "Le module « %(module)s » demande une connexion avec votre second "
                        "facteur : reconnectez-vous avec acr_values=%(acr)s.",
                        module=module.label,
                        acr=ACR_ADVANCED,
                    ),
                    code="insufficient_user_authentication",
                    headers={
                        "WWW-Authenticate": (
                            f'Bearer realm="{REALM}", error="insufficient_user_authentication", '
                            f'error_description="MFA login required", '
                            f'acr_values="{ACR_ADVANCED}"'
                        )
                    },
                )
            g.access = access
            return view(access, **kwargs)

        return wrapper

    return decorate


def authenticated(view: Callable[..., Any]) -> Callable[..., Any]:
    """An API operation outside any company (the person's companies): a valid token with at
    least one of the portal's scopes."""

    @wraps(view)
    def wrapper(**kwargs: Any) -> Any:
        token = authenticate()
        if not token.scopes & set(ALL_SCOPES):
            require_scope(token, ALL_SCOPES[0])
        return view(**kwargs)

    return wrapper
