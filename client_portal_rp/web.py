"""The portal's pages that belong to no module: home (the person's companies), a company's home
(its modules), the firm's home, language, error pages; and the registration of the modules'
blueprints (access/, deposits/, archives/, firm/)."""

from __future__ import annotations

import logging
import secrets

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from client_portal_rp.accounts import current_user
from client_portal_rp.extensions import db
from client_portal_rp.models import Firm, Module
from client_portal_rp.tenancy import Access, companies_of, company_view, staff_firm_ids
from relying_party.views import safe_next

log = logging.getLogger("client_portal_rp")

main = Blueprint("main", __name__)


def select_locale() -> str:
    """The chosen language (session), else the browser's among ours, else French."""
    languages = list(current_app.config.get("PORTAL_LANGUAGES", ("fr", "en")))
    if not has_request_context():
        return languages[0]
    chosen = session.get("locale")
    if chosen in languages:
        return str(chosen)
    return request.accept_languages.best_match(languages) or languages[0]


@main.get("/")
def index() -> str | Response:
    user = current_user()
    if user is None:
        return render_template("index.html", idp_issuer=current_app.config["PORTAL_IDP_ISSUER"])
    accesses = companies_of(user)
    firms = db.session.query(Firm).filter(Firm.id.in_(staff_firm_ids(user))).all()
    if len(accesses) == 1 and not firms:
        return redirect(url_for("main.company", company_id=accesses[0].company.public_id))
    return render_template("home.html", accesses=accesses, firms=firms, user=user)


@main.get("/entreprises/<company_id>/")
@company_view()
def company(access: Access) -> str:
    return render_template("company.html", access=access, modules=list(Module))


@main.get("/entreprises/<company_id>/compta")
@company_view(Module.COMPTA)
def compta(access: Access) -> tuple[str, int] | Response:
    """« Consultez votre compta en ligne »: the key indicators of an exercice from the FEC the
    firm imported (`?exercice=`, `?format=csv|xlsx`: client_portal_rp/fec/page.py)."""
    from client_portal_rp.fec.page import indicators_page

    return indicators_page(access)


@main.post("/langue/<code>")
def set_language(code: str) -> Response:
    from flask_wtf import FlaskForm

    if FlaskForm().validate_on_submit() and code in current_app.config["PORTAL_LANGUAGES"]:
        session["locale"] = code
    return redirect(safe_next(request.form.get("next")) or url_for("main.index"), code=303)


@main.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


def init_web(app: Flask) -> None:
    from client_portal_rp.access.views import bp as access_bp
    from client_portal_rp.archives.views import bp as archives_bp
    from client_portal_rp.deposits.views import bp as deposits_bp
    from client_portal_rp.fec.firm_views import bp as fec_firm_bp
    from client_portal_rp.fec.views import bp as fec_bp
    from client_portal_rp.firm.views import bp as firm_bp
    from client_portal_rp.pwa import bp as pwa_bp

    app.register_blueprint(main)
    for blueprint in (access_bp, deposits_bp, archives_bp, firm_bp, fec_bp, fec_firm_bp, pwa_bp):
        app.register_blueprint(blueprint)
    # The sso blueprint's `_home()` and the templates know the home as "index".
    app.add_url_rule("/", endpoint="index", view_func=index)

    @app.before_request
    def forget_cached_people() -> None:
        """Who is logged in is cached in `g` for one request. In use every request has its own
        app context; a test that keeps one pushed would otherwise carry a person over from one
        request (one test client) to the next."""
        # _flask_babel: the locale; csrf_token: Flask-WTF's token of this session
        for cached in (
            "portal_user",
            "rp_login",
            "_flask_babel",
            "csrf_token",
            "api_token",
            "api_rate_limit",
            "api_labels",
            "access",
            "no_offline_copy",
        ):
            g.pop(cached, None)

    from client_portal_rp.archives.views import human_size

    @app.context_processor
    def portal_context() -> dict[str, object]:
        return {
            "human_size": human_size,  # « 1,2 Mo » / "1.2 MB": one way for every page
            "portal_user": current_user,
            "get_locale": get_locale,
            "format_date": format_date,
            "format_datetime": format_datetime,
            "languages": app.config["PORTAL_LANGUAGES"],
            "Module": Module,
        }

    from werkzeug.exceptions import HTTPException

    from client_portal_rp.api import api_error, init_api, is_api_request

    init_api(app)

    @app.after_request
    def offline_copy_policy(response: Response) -> Response:
        if g.get("no_offline_copy"):
            response.headers["X-Portail-Hors-Ligne"] = "non"
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> HTTPException | Response:
        """Under /api/v1, problem+json; elsewhere Werkzeug's page (the codes below have ours)."""
        return api_error(error) if is_api_request() else error

    @app.errorhandler(404)
    def not_found(error: HTTPException) -> tuple[str, int] | Response:
        if is_api_request():
            return api_error(error)
        return render_template("not_found.html"), 404

    @app.errorhandler(413)
    def too_large(error: HTTPException) -> tuple[str, int] | Response:
        if is_api_request():
            return api_error(error)
        limit_mb = app.config["PORTAL_MAX_UPLOAD_BYTES"] // (1024 * 1024)
        return render_template(
            "forbidden.html",
            title=_("Envoi trop volumineux"),
            message=_(
                "L'envoi dépasse la taille autorisée (%(limit)s Mo par fichier). Envoyez "
                "moins de fichiers à la fois, ou des fichiers plus petits.",
                limit=limit_mb,
            ),
        ), 413

    @app.errorhandler(500)
    def server_error(error: Exception) -> tuple[str, int] | Response:
        request_id = g.get("request_id") or secrets.token_hex(6)
        log.error("500 request_id=%s", request_id)
        db.session.rollback()
        if is_api_request():
            from client_portal_rp.api.problems import problem_response

            return problem_response(500, _("Erreur interne"), extra={"request_id": request_id})
        return render_template("server_error.html", request_id=request_id), 500
