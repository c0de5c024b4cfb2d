"""The `sso` blueprint: login through Sésame, the callback, logout, back-channel logout.

Authlib's Flask client (`authlib.integrations.flask_client.OAuth`) does the protocol: discovery
through `server_metadata_url`, `state`, `nonce`, PKCE S256, the code exchange with the client's
registered authentication method, and the ID token's validation (signature from the JWKS, `iss`,
`aud`, `exp`, `nonce`, `at_hash`). What it leaves to us, and this module adds:
- RFC 9207: the authorization response's `iss` must be the IdP (also on errors), or a mix-up
  attack could hand us another server's code;
- userinfo merged into the ID token's claims only when its `sub` is the ID token's;
- the local login record (relying_party/logins.py) and `current_login()`;
- RP-initiated logout: the local login ends first, then the browser goes to the IdP's
  `end_session_endpoint` with `id_token_hint`, `post_logout_redirect_uri`, `state`, `client_id`;
- back-channel logout (relying_party/logout_token.py): 200 when done, 400 for a bad token,
  503 when the IdP's keys cannot be fetched (the IdP's delivery queue tries again).
Every failure a person can meet is a French page, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from relying_party.logins import ACR_ADVANCED, Login, LoginStore
from relying_party.logout_token import LogoutTokenInvalid, verify_logout_token
from relying_party.settings import RelyingPartySettings

log = logging.getLogger("relying_party")

EXTENSION = "relying_party"
SESSION_KEY = "rp_login"  # the cookie's login id (relying_party/logins.py)
NEXT_KEY = "rp_next"  # where to go after the login (a path of this site)
HTTP_TIMEOUT_SECONDS = 10
# Claims about the token rather than the person: not kept with the login.
TOKEN_CLAIMS = {"nonce", "at_hash", "c_hash", "aud", "azp", "iss", "exp", "iat", "jti"}

sso = Blueprint("sso", __name__)
csrf = CSRFProtect()

# Errors the IdP may send back to the callback, in words (anything else: the generic message).
IDP_ERRORS = {
    "access_denied": (
        "Connexion refusée",
        "Sésame n'a pas ouvert ce site à votre compte : vous avez refusé de partager vos "
        "informations, ou votre profil n'y donne pas accès. Sésame vous a indiqué pourquoi.",
    ),
    "login_required": (
        "Connexion nécessaire",
        "Vous n'êtes pas connecté à Sésame. Connectez-vous pour continuer.",
    ),
    "consent_required": (
        "Accord nécessaire",
        "Sésame demande votre accord avant de partager vos informations avec ce site.",
    ),
    "unmet_authentication_requirements": (
        "Sécurité avancée non atteinte",
        "Ce site demande la sécurité avancée de Sésame (votre mot de passe et un second "
        "facteur), et la connexion s'est arrêtée avant. Recommencez, et confirmez-la avec "
        "votre application d'authentification ou votre clé d'accès.",
    ),
    "interaction_required": (
        "Confirmation nécessaire",
        "Sésame doit vous demander une confirmation (votre second facteur) avant d'ouvrir ce "
        "site. Connectez-vous pour continuer.",
    ),
    "temporarily_unavailable": (
        "Sésame momentanément indisponible",
        "Sésame ne peut pas répondre pour l'instant. Réessayez dans quelques minutes.",
    ),
}
GENERIC_ERROR = (
    "Connexion impossible",
    "La connexion avec Sésame n'a pas abouti. Recommencez depuis ce site ; si cela se "
    "reproduit, signalez-le au support en indiquant l'heure.",
)
UNREACHABLE = (
    "Sésame injoignable",
    "Ce site n'arrive pas à joindre Sésame pour l'instant. Réessayez dans quelques minutes.",
)


@dataclass
class RelyingParty:
    """One site's relying party: its settings, its login records, its Authlib client."""

    settings: RelyingPartySettings
    store: LoginStore
    oauth: Any  # FlaskOAuth2App (Authlib ships no type hints)
    home_endpoint: str
    error_template: str
    # Called in the callback's request once the login is recorded (the portal refreshes its
    # user and accepts invitations); session keys in `carry` survive the login's new cookie.
    on_login: Callable[[Login], None] | None = None
    carry: tuple[str, ...] = ()

    def metadata(self) -> dict[str, Any]:
        """The IdP's discovery document (fetched once, then cached by Authlib); its `issuer`
        must be the configured one (OpenID Connect Discovery 1.0, section 4.3)."""
        metadata: dict[str, Any] = self.oauth.load_server_metadata()
        if metadata.get("issuer") != self.settings.issuer:
            raise IssuerMismatch(f"discovery issuer {metadata.get('issuer')!r}")
        return metadata

    def jwks(self, force: bool) -> dict[str, Any]:
        self.metadata()
        return dict(self.oauth.fetch_jwk_set(force=force))


class IssuerMismatch(Exception):
    """The IdP answered as another issuer than the configured one."""


def init_relying_party(
    app: Flask,
    prefix: str,
    *,
    database_file: str,
    home_endpoint: str = "index",
    error_template: str = "sso_error.html",
    on_login: Callable[[Login], None] | None = None,
    carry: tuple[str, ...] = (),
) -> RelyingParty:
    """Wire login through Sésame into `app` from its `<prefix>*` config (settings.py); the
    logins go to `<prefix>DATABASE_URL`, else to `database_file` in the app's instance
    folder."""
    settings = RelyingPartySettings.from_config(app.config, prefix)
    database_url = settings.database_url or f"sqlite:///{app.instance_path}/{database_file}"
    oauth = OAuth(app)
    client = oauth.register(
        name="sesame",
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=settings.discovery_url,
        client_kwargs={
            "scope": settings.scopes,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": settings.auth_method,
            "default_timeout": HTTP_TIMEOUT_SECONDS,
        },
    )
    rp = RelyingParty(
        settings=settings,
        store=LoginStore(database_url, settings.issuer, settings.client_id),
        oauth=client,
        home_endpoint=home_endpoint,
        error_template=error_template,
        on_login=on_login,
        carry=carry,
    )
    app.extensions[EXTENSION] = rp
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # a logout button left open for hours
    csrf.init_app(app)
    app.register_blueprint(sso)
    app.context_processor(lambda: {"current_login": current_login, "sso_configured": rp_ready})

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> tuple[str, int]:
        return error_page(
            "Formulaire expiré",
            "Ce formulaire n'est plus valable (page trop ancienne, ou cookies bloqués). "
            "Rechargez la page et recommencez.",
            400,
        )

    return rp


def relying_party() -> RelyingParty:
    rp: RelyingParty = current_app.extensions[EXTENSION]
    return rp


def rp_ready() -> bool:
    return relying_party().settings.configured


def current_login() -> Login | None:
    """Who is logged in on this site (cached for the request); None once the login has ended,
    here or by a back-channel logout from the IdP."""
    if "rp_login" not in g:
        login_id = session.get(SESSION_KEY)
        login = relying_party().store.find(login_id) if isinstance(login_id, str) else None
        if login_id is not None and login is None:
            session.pop(SESSION_KEY, None)  # ended elsewhere or expired: forget it
        g.rp_login = login
    found: Login | None = g.rp_login
    return found


def error_page(title: str, message: str, status: int) -> tuple[str, int]:
    return render_template(relying_party().error_template, title=title, message=message), status


def _home() -> Response:
    return redirect(url_for(relying_party().home_endpoint), code=303)


def safe_next(target: str | None) -> str | None:
    """A path of this site to return to after login; anything else (another host, `//host`,
    backslashes, control characters) is dropped."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 for c in target) or len(target) > 2000:
        return None
    return target


def authorization_params() -> dict[str, str]:
    """What `/login` may add to the authorization request: `level=advanced` asks for
    "sécurité avancée" (`acr_values`, step-up), `signup=1` for the IdP's account creation
    (`prompt=create`), `login_hint` an email to prefill."""
    params: dict[str, str] = {}
    if request.args.get("level") == "advanced":
        params["acr_values"] = ACR_ADVANCED
    if request.args.get("signup") == "1":
        params["prompt"] = "create"
    hint = request.args.get("login_hint", "")
    if hint and len(hint) <= 320 and "@" in hint:
        params["login_hint"] = hint
    return params


@sso.get("/login")
def login() -> Response | tuple[str, int]:
    rp = relying_party()
    if not rp.settings.configured:
        return error_page(
            "Connexion indisponible",
            "Ce site n'est pas encore enregistré auprès de Sésame : la connexion n'est pas "
            "possible pour l'instant.",
            503,
        )
    try:
        rp.metadata()
        response: Response = rp.oauth.authorize_redirect(
            rp.settings.redirect_uri, **authorization_params()
        )
    except (requests.RequestException, ValueError, IssuerMismatch) as error:
        log.warning("login: discovery at %s failed: %r", rp.settings.discovery_url, error)
        return error_page(*UNREACHABLE, 503)
    next_path = safe_next(request.args.get("next"))
    if next_path:
        session[NEXT_KEY] = next_path
    else:
        session.pop(NEXT_KEY, None)
    return response


@sso.get("/callback")
def callback() -> Response | tuple[str, int]:
    rp = relying_party()
    if not rp.settings.configured:
        return _home()
    try:
        metadata = rp.metadata()
    except (requests.RequestException, ValueError, IssuerMismatch) as error:
        log.warning("callback: discovery failed: %r", error)
        return error_page(*UNREACHABLE, 503)
    issuer = request.args.get("iss")
    if (issuer is None and metadata.get("authorization_response_iss_parameter_supported")) or (
        issuer is not None and issuer != metadata["issuer"]
    ):
        log.warning("callback: iss %r, expected %r (RFC 9207)", issuer, metadata["issuer"])
        return error_page(*GENERIC_ERROR, 400)
    if "error" in request.args:
        code = request.args.get("error", "")
        log.info("callback: the IdP answered %s (%s)", code, request.args.get("error_description"))
        _forget_state(rp)  # this attempt is over
        return error_page(*IDP_ERRORS.get(code, GENERIC_ERROR), 400)
    try:
        token = rp.oauth.authorize_access_token()
    except MismatchingStateError:
        return error_page(
            "Demande de connexion expirée",
            "Cette réponse de Sésame ne correspond à aucune connexion en cours sur ce site "
            "(lien ancien, ou ouvert dans un autre navigateur). Recommencez la connexion.",
            400,
        )
    except requests.RequestException as error:
        log.warning("callback: token endpoint unreachable: %r", error)
        return error_page(*UNREACHABLE, 503)
    except (AuthlibBaseError, JoseError, ValueError, KeyError) as error:
        log.warning("callback: code exchange or ID token refused: %r", error)
        return error_page(*GENERIC_ERROR, 400)
    if not token.get("userinfo") or not token.get("id_token"):
        log.warning("callback: no ID token in the token response")
        return error_page(*GENERIC_ERROR, 400)
    claims = _claims(rp, token)
    previous = session.get(SESSION_KEY)
    if isinstance(previous, str):
        rp.store.end(previous, "replaced")
    login_id = rp.store.start(
        subject=claims["sub"],
        sid=claims.get("sid"),
        claims=claims,
        id_token=token["id_token"],
        hours=rp.settings.session_hours,
    )
    carried = {key: session[key] for key in (*rp.carry, NEXT_KEY) if key in session}
    session.clear()  # a new cookie content at login: nothing planted before survives
    session[SESSION_KEY] = login_id
    next_path = carried.pop(NEXT_KEY, None)
    session.update(carried)
    if rp.on_login is not None:
        login = rp.store.find(login_id)
        if login is not None:
            rp.on_login(login)
    if isinstance(next_path, str) and safe_next(next_path):
        return redirect(next_path, code=303)
    return _home()


def _forget_state(rp: RelyingParty) -> None:
    state = request.args.get("state")
    if state:
        rp.oauth.framework.clear_state_data(session, state)


def _claims(rp: RelyingParty, token: dict[str, Any]) -> dict[str, Any]:
    """The validated ID token's claims about the person, completed by userinfo when it
    answers for the same `sub` (OpenID Connect Core 5.3.2); the ID token wins otherwise."""
    claims = {k: v for k, v in dict(token["userinfo"]).items() if k not in TOKEN_CLAIMS}
    try:
        info = dict(rp.oauth.userinfo(token=token))
    except (requests.RequestException, AuthlibBaseError, ValueError) as error:
        log.warning("callback: userinfo failed, the ID token's claims only: %r", error)
        return claims
    if info.get("sub") != claims["sub"]:
        log.warning("callback: userinfo answered for another sub: ignored")
        return claims
    return {**info, **claims}


@sso.post("/logout")
def logout() -> Response:
    """End the login here, then at the IdP (which ends it on the other sites by back-channel
    logout). The local end comes first: an IdP that cannot be reached leaves no login open."""
    rp = relying_party()
    login = current_login()
    login_id = session.get(SESSION_KEY)
    session.clear()
    if isinstance(login_id, str):
        rp.store.end(login_id, "logout")
    if login is None:
        return _home()
    try:
        rp.metadata()
        response: Response = rp.oauth.logout_redirect(
            post_logout_redirect_uri=rp.settings.post_logout_redirect_uri,
            id_token_hint=login.id_token,
            client_id=rp.settings.client_id,
        )
    except (requests.RequestException, ValueError, RuntimeError, IssuerMismatch) as error:
        log.warning("logout: no end_session_endpoint reachable: %r", error)
        flash(
            "Vous êtes déconnecté de ce site. Sésame n'a pas pu être joint : "
            "votre session Sésame est peut-être encore ouverte.",
            "warning",
        )
        return _home()
    return response


@sso.get("/logged-out")
def logged_out() -> Response:
    """Where the IdP sends the browser back after logout; the `state` says it is our logout."""
    rp = relying_party()
    try:
        rp.oauth.validate_logout_response()
    except AuthlibBaseError:
        return _home()
    flash("Vous êtes déconnecté de ce site et de Sésame.", "success")
    return _home()


@sso.post("/backchannel-logout")
@csrf.exempt
def backchannel_logout() -> tuple[Response | str, int, dict[str, str]]:
    """A logout token from the IdP, server to server (no cookie, no CSRF token)."""
    rp = relying_party()
    headers = {"Cache-Control": "no-store"}
    if not rp.settings.configured:
        return _bad_logout_token("this site is not registered"), 400, headers
    try:
        logout_request = verify_logout_token(
            request.form.get("logout_token", ""),
            issuer=rp.settings.issuer,
            client_id=rp.settings.client_id,
            jwks=rp.jwks,
        )
    except LogoutTokenInvalid as error:
        log.warning("back-channel logout refused: %s", error.reason)
        return _bad_logout_token(error.reason), 400, headers
    except (requests.RequestException, ValueError, IssuerMismatch) as error:
        log.warning("back-channel logout: the IdP's keys are unreachable: %r", error)
        return jsonify(error="temporarily_unavailable"), 503, headers
    ended = rp.store.end_for_logout_token(sid=logout_request.sid, subject=logout_request.subject)
    log.info(
        "back-channel logout: sid=%s sub=%s jti=%s, %d login(s) ended",
        logout_request.sid,
        logout_request.subject,
        logout_request.jti,
        ended,
    )
    return "", 200, headers


def _bad_logout_token(reason: str) -> Response:
    return jsonify(error="invalid_request", error_description=f"logout_token: {reason}")
