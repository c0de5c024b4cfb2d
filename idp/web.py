"""Cross-cutting web concerns: request ids, security headers, error pages, language."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from flask import (
    Blueprint,
    Flask,
    g,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from idp.config import settings
from idp.extensions import csrf, db

log = logging.getLogger("idp.web")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# No 'unsafe-inline' anywhere; no form-action: Chrome applies it to the redirects that follow a
# form POST, and the OIDC flows redirect to registered client origins after the login form.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


FALLBACK_500 = (
    "<!doctype html><html lang=fr><meta charset=utf-8><title>Erreur du serveur</title>"
    "<h1>Une erreur est survenue de notre côté</h1>"
    "<p>Réessayez dans quelques instants. Numéro à communiquer au support : {request_id}</p>"
)


class ProtocolBlueprint(Blueprint):
    """A blueprint of protocol endpoints (OIDC, APIs), declared as such once: its views are
    exempt from the forms' CSRF token (their clients authenticate otherwise: client secrets,
    bearer tokens, PKCE) and its errors are JSON, never HTML pages."""

    json_errors = True

    def register(self, app: Any, options: dict[str, Any]) -> None:
        csrf.exempt(self)
        super().register(app, options)


def _is_protocol_request() -> bool:
    from flask import current_app

    blueprint = current_app.blueprints.get(request.blueprint or "")
    if blueprint is not None:
        return bool(getattr(blueprint, "json_errors", False))
    # No route matched (a 404 or 405): the path's prefix tells whose URL it was.
    return any(
        getattr(bp, "json_errors", False)
        and bp.url_prefix
        and (request.path == bp.url_prefix or request.path.startswith(bp.url_prefix + "/"))
        for bp in current_app.blueprints.values()
    )


def select_locale() -> str:
    """Chosen language (cookie session), else the browser's among ours, else French."""
    languages = list(settings().languages)
    if not has_request_context():
        return languages[0]  # CLI, workers: French, the product's language
    chosen = session.get("locale")
    if chosen in languages:
        return str(chosen)
    return request.accept_languages.best_match(languages) or languages[0]


def current_request_id() -> str:
    """This request's id: the proxy's X-Request-ID when well formed, else a random one.

    Assigned lazily too, so an error raised by an earlier before_request function (CSRF,
    body too large) is still logged and shown with an id.
    """
    if "request_id" not in g:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)
    return str(g.request_id)


def init_web(app: Flask) -> None:
    def assign_request_id() -> None:
        current_request_id()

    # First of all before_request functions: CSRFProtect's runs before any registered later.
    app.before_request_funcs.setdefault(None, []).insert(0, assign_request_id)

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        # same-origin, not no-referrer: under https Flask-WTF (WTF_CSRF_SSL_STRICT) refuses a
        # form POST without a same-origin Referer, and no-referrer made browsers send none:
        # every form of an https deployment was refused. Other sites still get no Referer.
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if request.is_secure or settings().https:
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if "text/html" in (response.content_type or ""):
            headers["Cache-Control"] = "no-store"
        headers["X-Request-ID"] = current_request_id()
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        db.session.rollback()
        return (  # protocol blueprints are exempt: a CSRF error is always a page's
            render_template(
                "errors/error.html",
                title=_("Formulaire expiré"),
                message=_(
                    "Le formulaire a expiré ou ne vient pas de cette page. "
                    "Rechargez la page et recommencez."
                ),
            ),
            400,
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int] | HTTPException | Response:
        code = error.code or 500
        if code >= 500:
            return internal_error(error)
        if _is_protocol_request():
            return json_error(code, error.name)
        messages = {
            400: (_("Requête invalide"), _("La requête n'a pas pu être traitée.")),
            403: (_("Accès refusé"), _("Vous n'avez pas accès à cette page.")),
            404: (_("Page introuvable"), _("Cette page n'existe pas ou plus.")),
            405: (_("Méthode non autorisée"), _("Cette action n'est pas possible ici.")),
            413: (_("Envoi trop volumineux"), _("Les données envoyées sont trop volumineuses.")),
            429: (_("Trop de requêtes"), _("Trop de requêtes. Patientez puis réessayez.")),
        }
        title, message = messages.get(code, (_("Erreur"), _("La requête n'a pas abouti.")))
        return render_template("errors/error.html", title=title, message=message), code

    @app.errorhandler(Exception)
    def internal_error(error: Exception) -> tuple[str, int]:
        if isinstance(error, HTTPException) and (error.code or 500) < 500:
            return http_error(error)  # type: ignore[return-value]
        request_id = current_request_id()
        log.exception("unhandled error, request_id=%s", request_id)
        try:
            db.session.rollback()
        except Exception:
            log.exception("rollback failed, request_id=%s", request_id)
        if has_request_context() and _is_protocol_request():
            return json_error(500, "server_error", request_id=request_id)  # type: ignore[return-value]
        try:
            return render_template("errors/500.html", request_id=request_id), 500
        except Exception:  # the page itself failed: a plain page still carries the id
            log.exception("error page failed, request_id=%s", request_id)
            return FALLBACK_500.format(request_id=escape(request_id)), 500

    @app.post("/language/<code>")
    def set_language(code: str) -> Response:
        from idp.accounts.auth import safe_next_url
        from idp.accounts.forms import ConfirmForm

        if ConfirmForm().validate_on_submit() and code in settings().languages:
            session["locale"] = code
        return redirect(safe_next_url(request.form.get("next"), url_for("accounts.index")))

    @app.template_filter("device_label")
    def device_label(user_agent: str | None) -> str:
        return describe_user_agent(user_agent)

    from flask_babel import format_datetime, get_locale

    from idp.audit.labels import actor_label, event_label
    from idp.profiles.catalog import profile_label

    app.add_template_filter(event_label, "event_label")
    app.add_template_filter(actor_label, "actor_label")

    app.jinja_env.globals.update(
        profile_label=profile_label, get_locale=get_locale, format_datetime=format_datetime
    )

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}


# RFC 6749 section 5.2 style: a machine-readable code and a French description.
_JSON_ERRORS = {
    400: "invalid_request",
    401: "invalid_client",
    403: "access_denied",
    404: "not_found",
    405: "invalid_request",
    413: "invalid_request",
    429: "slow_down",
}


def json_error(code: int, description: str, **extra: str) -> Response:
    error = "server_error" if code >= 500 else _JSON_ERRORS.get(code, "invalid_request")
    response = jsonify({"error": error, "error_description": description, **extra})
    response.status_code = code
    return response


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def describe_user_agent(user_agent: str | None) -> str:
    """A short human label ("Firefox sur Windows") for the sessions and logins lists."""
    if not user_agent:
        return _("Appareil inconnu")
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser and system:
        return _("%(browser)s sur %(system)s", browser=browser, system=system)
    return browser or system or user_agent[:40]
