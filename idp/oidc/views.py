"""The authorization endpoint (`/authorize`, GET and POST, and the answer to its consent and
policy pages) and the token endpoint (`/token`). See docs/adr/0021-oidc-provider.md.

An authorization request goes through, in this order:
1. the client and its redirect URI: unknown or not registered exactly → an error page here,
   never a redirect (security 19, 20);
2. Authlib's validation (response type, scopes, PKCE S256, nonce): errors go back to the
   redirect URI with `state` and `iss` (security 21, 22, 24);
3. `request`/`request_uri`, `prompt`, `max_age`, `claims`, `id_token_hint`, `ui_locales`;
4. authentication: no live session, `prompt=login`, a `max_age` older than the session's
   `auth_time`, or an `id_token_hint` naming someone else → the login page, coming back here
   with the request signed in a `resume` token that remembers when the request began (a
   login at or after that time satisfies it: no loop); `prompt=none` answers
   `login_required` instead (security 26); with `prompt=create` (OpenID Connect Prompt Create
   1.0, ADR 0023) and no session, the "Autre" signup page instead, its email prefilled from
   an email `login_hint`, the signup and the activation in this browser coming back here
   through the login page;
5. the level of authentication (ADR 0022, `idp.mfa.policy`): a request that needs
   "sécurité avancée" (`acr_values`, an `acr` claim, the client's or the user's profile's
   policy) and a password session → the second-factor page (`mfa.verify`), which steps the
   session up and comes back here with a `resume` token (its « Annuler » link comes back with
   `step_up=cancel`: `unmet_authentication_requirements` for an essential `acr` claim, else
   `access_denied`); `prompt=none` answers `interaction_required` (security 27);
6. the client's profile policy (security 34), then consent for third-party clients
   (security 35): pages of the IdP;
7. the code, at the redirect URI, with `state` and `iss`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import (
    AccountSelectionRequiredError,
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from email_validator import EmailNotValidError, validate_email
from flask import current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import refresh as refresh_locale
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.datastructures import MultiDict

from idp.accounts.auth import current_session
from idp.accounts.forms import ConfirmForm
from idp.accounts.models import User, UserSession
from idp.accounts.usernames import MAX_LENGTH as USERNAME_MAX
from idp.accounts.views import LOGIN_USERNAME_KEY, SIGNUP_EMAIL_KEY
from idp.config import settings
from idp.extensions import csrf, db
from idp.mfa import policy
from idp.oidc import claims, consent, keys
from idp.oidc.acr import ACR_ADVANCED
from idp.oidc.server import Client, Request, authorization_server
from idp.oidc.web import pages, protocol
from idp.profiles.catalog import profile_label

RESUME_SALT = "sesame.oidc.authorize.resume"
RESUME_MAX_AGE = 30 * 60  # seconds: a login page left open longer starts over at the client
# prompt=create: signup, the activation email and activation take longer than a login.
SIGNUP_RESUME_MAX_AGE = 2 * 60 * 60
MAX_NEXT_LENGTH = 2000  # what the login page follows (idp.accounts.auth.safe_next_url)
KNOWN_PROMPTS = {"none", "login", "consent", "select_account", "create"}
# `step_up=cancel` next to `resume`: « Annuler » on the second-factor page.
STEP_UP_MARKER = "step_up"

Page = ResponseReturnValue


class UnmetAuthenticationRequirementsError(OAuth2Error):
    """The essential `acr` the client asked for cannot be met (OpenID Connect Core 1.0 errata
    set 2, 5.5.1.1; ADR 0022)."""

    error = "unmet_authentication_requirements"


@dataclass(frozen=True)
class Resume:
    """An authorization request coming back from the login page."""

    params: MultiDict[str, str]
    started_at: float  # when the request first arrived (epoch seconds)
    hint_sub: str | None  # the `sub` of its id_token_hint, verified on arrival


def _resume_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=RESUME_SALT)


def _resume_token(
    params: list[tuple[str, str]],
    started_at: float,
    hint_sub: str | None,
    *,
    for_signup: bool = False,
) -> str:
    """The request, when it began, and the verified `sub` of its hint (the hint itself is
    left out: it is long, and already verified), signed and timestamped. A token made for a
    signup (`prompt=create`) lives SIGNUP_RESUME_MAX_AGE instead of RESUME_MAX_AGE."""
    data: dict[str, Any] = {
        "p": [[k, v] for k, v in params if k != "resume"],
        "t": started_at,
        "h": hint_sub,
    }
    if for_signup:
        data["s"] = 1
    return str(_resume_serializer().dumps(data))


def _load_resume(token: str) -> Resume | None:
    try:
        data, signed_at = _resume_serializer().loads(
            token, max_age=SIGNUP_RESUME_MAX_AGE, return_timestamp=True
        )
        if not data.get("s") and time.time() - signed_at.timestamp() > RESUME_MAX_AGE:
            return None
        params = MultiDict([(str(k), str(v)) for k, v in data["p"]])
        hint_sub = data.get("h")
        return Resume(params, float(data["t"]), str(hint_sub) if hint_sub else None)
    except (AttributeError, BadData, KeyError, TypeError, ValueError):
        return None


# --- pages --------------------------------------------------------------------------------------


def error_page(message: str, *, title: str | None = None, status: int = 400) -> Page:
    db.session.rollback()
    return (
        render_template(
            "oidc/authorize_error.html",
            title=title or _("Connexion impossible"),
            message=message,
        ),
        status,
    )


def _client_and_redirect(params: MultiDict[str, str]) -> Client | Page:
    """The client and an exactly registered redirect URI, or the error page (never a redirect
    when either is in doubt: security 19, 20)."""
    for name in ("client_id", "redirect_uri"):
        if len(params.getlist(name)) > 1:
            return error_page(_("La demande de connexion est invalide (paramètre répété)."))
    client = authorization_server.query_client(params.get("client_id"))
    if client is None:
        return error_page(
            _("Le site qui demande la connexion n'est pas connu de Sésame."),
            title=_("Site inconnu"),
        )
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        return error_page(_("La demande de connexion ne dit pas où revenir (redirect_uri)."))
    if not client.check_redirect_uri(redirect_uri):
        return error_page(
            _("L'adresse de retour demandée n'est pas enregistrée pour ce site."),
            title=_("Adresse de retour refusée"),
        )
    return client


def _live_session() -> UserSession | None:
    """The browser's live session of an active account (disabled, pending: none)."""
    user_session = current_session()
    if user_session is None or not user_session.user.is_active:
        return None
    return user_session


def _error_response(oauth_request: Request, error: OAuth2Error) -> Page:
    """An OAuth error: to the redirect URI (with `state` and `iss`) when the error has one,
    else a page here."""
    db.session.rollback()
    if not error.redirect_uri:
        reason = error.get_error_description() or error.error
        return error_page(_("La demande de connexion est invalide : %(reason)s", reason=reason))
    if error.state is None:
        error.state = oauth_request.payload.state
    return authorization_server.handle_error_response(oauth_request, error)


@dataclass(frozen=True)
class Validated:
    """An authorization request Authlib accepted: its grant and request."""

    grant: Any
    request: Request

    @property
    def client(self) -> Client:
        client: Client = self.request.client
        return client


def _validated_grant(params: MultiDict[str, str], user: User | None) -> Validated | Page:
    checked = _client_and_redirect(params)
    if not isinstance(checked, Client):
        return checked
    oauth_request = Request.from_params(params)
    try:
        grant = authorization_server.get_consent_grant(request=oauth_request, end_user=user)
    except OAuth2Error as error:
        return _error_response(oauth_request, error)
    return Validated(grant, oauth_request)


# --- /authorize ---------------------------------------------------------------------------------


@pages.route("/authorize", methods=["GET", "POST"])
@csrf.exempt  # an authorization request may be a cross-site form POST (OIDC Core 3.1.2.1)
def authorize() -> Page:
    resume: Resume | None = None
    if request.method == "GET" and "resume" in request.args:
        resume = _load_resume(request.args["resume"])
        if resume is None:
            return error_page(
                _("La demande de connexion a expiré. Retournez sur le site et recommencez."),
                title=_("Demande expirée"),
            )
        params = resume.params
    else:
        params = request.form if request.method == "POST" else request.args
    cancelled = resume is not None and request.args.get(STEP_UP_MARKER) == "cancel"
    return _authorize(MultiDict(params), resume, step_up_cancelled=cancelled)


def _authorize(
    params: MultiDict[str, str], resume: Resume | None, *, step_up_cancelled: bool = False
) -> Page:
    user_session = _live_session()
    user = user_session.user if user_session is not None else None
    validated = _validated_grant(params, user)
    if not isinstance(validated, Validated):
        return validated
    if step_up_cancelled:
        return _step_up_cancelled(validated, params)
    if request.method == "POST" and user_session is None:
        # A cross-site form POST carries no SameSite=Lax cookie: the browser may well have a
        # session. Ask again as a top-level GET, which carries it.
        db.session.rollback()
        token = _resume_token(list(params.items(multi=True)), time.time(), None)
        return redirect(url_for("oidc_pages.authorize", resume=token), code=303)
    try:
        return _decide(validated.grant, params, resume, user_session)
    except OAuth2Error as error:
        error.redirect_uri = error.redirect_uri or validated.grant.redirect_uri
        return _error_response(validated.request, error)


def _decide(
    grant: Any,
    params: MultiDict[str, str],
    resume: Resume | None,
    user_session: UserSession | None,
) -> Page:
    redirect_uri = grant.redirect_uri
    client: Client = grant.request.client

    def refused(error_class: type[OAuth2Error], description: str | None = None) -> OAuth2Error:
        return error_class(description=description, redirect_uri=redirect_uri)

    if "request" in params:
        raise refused(RequestNotSupportedError)
    if "request_uri" in params:
        raise refused(RequestURINotSupportedError)
    prompts = set(params.get("prompt", "").split()) & KNOWN_PROMPTS
    if "none" in prompts and len(prompts) > 1:
        raise refused(InvalidRequestError, "'prompt=none' cannot be combined.")
    if "select_account" in prompts:
        raise refused(AccountSelectionRequiredError, "Account selection is not offered.")
    max_age = _max_age(params.get("max_age"))
    if max_age == -1:
        raise refused(InvalidRequestError, "Invalid 'max_age'.")
    try:
        claims_request = _claims_request(params.get("claims"))
    except ValueError:
        raise refused(InvalidRequestError, "Invalid 'claims'.") from None
    try:  # before any login: an essential acr we cannot assert fails at once
        policy.requested_acr(params.get("acr_values"), claims_request)
    except policy.UnsupportedEssentialAcr:
        raise refused(
            UnmetAuthenticationRequirementsError,
            "None of the requested essential 'acr' values can be met.",
        ) from None
    hint_sub = resume.hint_sub if resume is not None else None
    if params.get("id_token_hint"):
        try:
            hint_sub = claims.verify_id_token_hint(
                params["id_token_hint"], audience=client.client_id
            )["sub"]
        except claims.InvalidIdTokenHint:
            raise refused(InvalidRequestError, "Invalid 'id_token_hint'.") from None
    _apply_ui_locales(params.get("ui_locales"))

    # 4. authentication
    logged_in_for_this_request = (
        resume is not None
        and user_session is not None
        and user_session.auth_time.timestamp() >= resume.started_at
    )
    login_reason = None
    if user_session is None:
        login_reason = "login"
    elif not logged_in_for_this_request and (
        "login" in prompts
        or (max_age is not None and time.time() - user_session.auth_time.timestamp() > max_age)
    ):
        login_reason = "fresh"
    elif hint_sub is not None and hint_sub != user_session.user.subject:
        login_reason = "other_user"
    if login_reason is not None:
        if "none" in prompts or (login_reason == "other_user" and logged_in_for_this_request):
            raise refused(LoginRequiredError)
        if login_reason == "login" and "create" in prompts:
            return _to_signup(params, resume, hint_sub)
        return _to_login(params, resume, hint_sub, user_session)
    assert user_session is not None
    user = user_session.user

    # 5. the level of authentication: step-up
    if not _level_met(client, user_session, params, claims_request):
        if "none" in prompts:
            raise refused(InteractionRequiredError, "A second factor is required.")
        return _to_step_up(params, resume, hint_sub)

    # 6. profile policy, consent
    if not _profile_allowed(client, user):
        if "none" in prompts:
            raise refused(AccessDeniedError, "The user's profile may not use this client.")
        return _profile_refused_page(params, client, user_session)
    scope = grant.request.scope or ""
    if "consent" in prompts or (
        not client.row.first_party
        and not consent.consent_covers(db.session, user, client.row, scope)
    ):
        if "none" in prompts:
            raise refused(ConsentRequiredError)
        return _consent_page(params, client, user_session, scope)
    return _issue_code(grant, user_session, claims_request)


def _max_age(value: str | None) -> int | None:
    """None when absent, -1 when invalid."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        return -1
    return number if 0 <= number <= 10**9 else -1


def _claims_request(value: str | None) -> dict[str, Any] | None:
    """The `claims` parameter (OIDC Core 5.5) as a dict, None when absent; ValueError when
    malformed."""
    if not value:
        return None
    if len(value) > 4000:
        raise ValueError("claims too long")
    parsed = json.loads(value)
    if not isinstance(parsed, dict) or any(
        k in parsed and not isinstance(parsed[k], dict) for k in ("id_token", "userinfo")
    ):
        raise ValueError("claims is not a claims request")
    return parsed


def _apply_ui_locales(value: str | None) -> None:
    """The first language of `ui_locales` we have becomes the pages' language."""
    for tag in (value or "").split():
        language = tag.split("-")[0].lower()
        if language in settings().languages:
            if session.get("locale") != language:
                session["locale"] = language
                refresh_locale()
            return


def _to_login(
    params: MultiDict[str, str],
    resume: Resume | None,
    hint_sub: str | None,
    user_session: UserSession | None,
) -> Page:
    kept = [(k, v) for k, v in params.items(multi=True) if k not in ("id_token_hint", "resume")]
    started_at = resume.started_at if resume is not None else time.time()
    token = _resume_token(kept, started_at, hint_sub)
    next_url = url_for("oidc_pages.authorize", resume=token)
    if len(next_url) > MAX_NEXT_LENGTH:
        return error_page(_("La demande de connexion est trop longue pour être traitée."))
    hint = params.get("login_hint")
    if hint and "@" in hint:  # an email is no username (and is never looked up: enumeration)
        hint = None
    username = hint or (user_session.user.username if user_session is not None else None)
    if username:
        session[LOGIN_USERNAME_KEY] = username[:USERNAME_MAX]
    db.session.rollback()
    return redirect(url_for("accounts.login", next=next_url))


def _to_signup(params: MultiDict[str, str], resume: Resume | None, hint_sub: str | None) -> Page:
    """`prompt=create` without a session (ADR 0023): the "Autre" signup page, its email
    prefilled from `login_hint` when that is an email, with this request as its `next` (kept
    in the cookie session by the signup pages). Activation in this browser leads to the login
    page, which comes back here; the request still says `prompt=create`, but the session it
    then finds makes it a plain authorization."""
    kept = [(k, v) for k, v in params.items(multi=True) if k not in ("id_token_hint", "resume")]
    started_at = resume.started_at if resume is not None else time.time()
    token = _resume_token(kept, started_at, hint_sub, for_signup=True)
    next_url = url_for("oidc_pages.authorize", resume=token)
    if len(next_url) > MAX_NEXT_LENGTH:
        return error_page(_("La demande de connexion est trop longue pour être traitée."))
    email = _email_hint(params.get("login_hint"))
    if email is not None:
        session[SIGNUP_EMAIL_KEY] = email
    else:
        session.pop(SIGNUP_EMAIL_KEY, None)
    db.session.rollback()
    return redirect(url_for("accounts.signup_autre", next=next_url))


def _email_hint(login_hint: str | None) -> str | None:
    """The `login_hint` when it is an email address (normalised), else None."""
    if not login_hint or len(login_hint) > 254:
        return None
    try:
        return str(validate_email(login_hint, check_deliverability=False).normalized).lower()
    except EmailNotValidError:
        return None


def _level_met(
    client: Client,
    user_session: UserSession,
    params: MultiDict[str, str],
    claims_request: dict[str, Any] | None,
) -> bool:
    """Whether the session's level satisfies what this request needs (idp.mfa.policy).
    Raises UnsupportedEssentialAcr (checked earlier in _decide). A stepped-up session meets
    every level: no policy to read (one query less on every authorization it makes)."""
    if user_session.acr == ACR_ADVANCED:
        return True
    requirement = policy.required_acr(
        db.session,
        client.row,
        user_session.user,
        acr_values=params.get("acr_values"),
        claims_request=claims_request,
    )
    return requirement.satisfied_by(user_session.acr)


def _to_step_up(params: MultiDict[str, str], resume: Resume | None, hint_sub: str | None) -> Page:
    """The second-factor page, coming back here (the request signed in a `resume` token, as
    for the login page) once the session is stepped up, or with `step_up=cancel`."""
    kept = [(k, v) for k, v in params.items(multi=True) if k not in ("id_token_hint", "resume")]
    started_at = resume.started_at if resume is not None else time.time()
    token = _resume_token(kept, started_at, hint_sub)
    next_url = url_for("oidc_pages.authorize", resume=token)
    cancel_url = f"{next_url}&{STEP_UP_MARKER}=cancel"
    if len(cancel_url) > MAX_NEXT_LENGTH:
        return error_page(_("La demande de connexion est trop longue pour être traitée."))
    db.session.rollback()
    return redirect(url_for("mfa.verify", next=next_url, cancel=cancel_url))


def _step_up_cancelled(validated: Validated, params: MultiDict[str, str]) -> Page:
    """« Annuler » on the second-factor page: the client learns that the level it needed was
    not reached: `unmet_authentication_requirements` when it was an essential `acr` claim,
    `access_denied` otherwise (the person declined)."""
    try:
        essential = policy.requested_acr(
            params.get("acr_values"), _claims_request(params.get("claims"))
        ).essential
    except policy.UnsupportedEssentialAcr:
        essential = True
    except ValueError:  # a malformed claims parameter (refused before the step-up anyway)
        essential = False
    redirect_uri = validated.grant.redirect_uri
    error: OAuth2Error
    if essential:
        error = UnmetAuthenticationRequirementsError(
            description="The user did not pass the second factor the request requires.",
            redirect_uri=redirect_uri,
        )
    else:
        error = AccessDeniedError(
            description="The user did not pass the second factor.", redirect_uri=redirect_uri
        )
    return _error_response(validated.request, error)


def _profile_allowed(client: Client, user: User) -> bool:
    from idp.oidc import clients

    return bool(clients.profile_allowed(client.row, user))


def _profile_refused_page(
    params: MultiDict[str, str], client: Client, user_session: UserSession
) -> Page:
    key = consent.keep_pending(
        params, sid=user_session.public_id, kind=consent.PendingKind.PROFILE_REFUSED
    )
    db.session.rollback()
    return (
        render_template(
            "oidc/access_denied.html",
            form=ConfirmForm(formdata=None),
            request_key=key,
            client_name=client.row.name,
            username=user_session.user.username,
            allowed_labels=[profile_label(p) for p in client.row.allowed_profiles],
            admits_delegates=client.row.admits_delegates,
        ),
        403,
    )


def _consent_page(
    params: MultiDict[str, str], client: Client, user_session: UserSession, scope: str
) -> Page:
    key = consent.keep_pending(params, sid=user_session.public_id, kind=consent.PendingKind.CONSENT)
    db.session.rollback()
    return render_template(
        "oidc/consent.html",
        form=ConfirmForm(formdata=None),
        request_key=key,
        client_name=client.row.name,
        username=user_session.user.username,
        descriptions=consent.describe_scopes(claims.scope_list(scope)),
    )


def _issue_code(
    grant: Any, user_session: UserSession, claims_request: dict[str, Any] | None
) -> Page:
    from idp.oidc.account import record_session_client

    oauth_request: Request = grant.request
    oauth_request.user_session = user_session
    oauth_request.claims_request = claims_request
    response = authorization_server.create_authorization_response(
        request=oauth_request, grant_user=user_session.user, grant=grant
    )
    if response.status_code in (302, 303) and "code=" in response.location:
        record_session_client(db.session, user_session.public_id, oauth_request.client.row)
        db.session.commit()
    else:
        db.session.rollback()
    return response


# --- the answer of the consent and policy pages -------------------------------------------------


@pages.post("/authorize/consent", endpoint="consent")
def consent_answer() -> Page:
    """Autoriser / Refuser on the consent page, or « Retourner sur le site » on the policy
    page (CSRF-checked like every form of the IdP)."""
    pending = consent.take_pending(request.form.get("consent_request"))
    if pending is None:
        return error_page(
            _("Cette demande a expiré ou a déjà reçu une réponse. Retournez sur le site."),
            title=_("Demande expirée"),
        )
    user_session = _live_session()
    if user_session is None or user_session.public_id != pending.sid:
        return error_page(
            _("Votre session a changé depuis la demande. Retournez sur le site et recommencez."),
            title=_("Demande expirée"),
        )
    validated = _validated_grant(pending.params, user_session.user)
    if not isinstance(validated, Validated):
        return validated
    grant = validated.grant
    client = validated.client
    allowed = (
        pending.kind == consent.PendingKind.CONSENT
        and request.form.get("decision") == "allow"
        and _profile_allowed(client, user_session.user)
    )
    if not allowed:
        db.session.rollback()
        error = AccessDeniedError(redirect_uri=grant.redirect_uri)
        return _error_response(validated.request, error)
    claims_request = _claims_request(pending.params.get("claims"))
    if not _level_met(client, user_session, pending.params, claims_request):
        # The policy changed while the consent page was open: step up first, then ask again.
        return _to_step_up(pending.params, None, None)
    if not client.row.first_party:  # a first-party client asked with prompt=consent: no record
        consent.record_consent(db.session, user_session.user, client.row, grant.request.scope or "")
    return _issue_code(grant, user_session, claims_request)


# --- /token -------------------------------------------------------------------------------------


@protocol.post("/token")
def token() -> Page:
    """The token endpoint: POST body only (pitfall 10); one commit when tokens are issued."""
    keys.ensure_keys()  # before any write: on SQLite, creating the first keys would wait for it
    response = authorization_server.create_token_response()
    if response.status_code == 200:
        db.session.commit()
    else:
        db.session.rollback()
    return response
