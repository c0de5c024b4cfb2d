"""Sésame identity provider: the application factory `idp:create_app`."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from idp.config import build_config, https_settings
from idp.database import sqlite_engine_options
from idp.extensions import babel, csrf, db, limiter, mailer, migrate

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the IdP. `test_config` overrides the environment (tests, benchmarks)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(build_config(instance_path=app.instance_path))
    if test_config:
        if "IDP_ISSUER" in test_config:
            app.config.update(https_settings(str(test_config["IDP_ISSUER"])))
        app.config.update(test_config)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        os.makedirs(app.instance_path, exist_ok=True)
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
        options.update(sqlite_engine_options(app.config["SQLITE_BUSY_TIMEOUT_MS"]))
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    if app.config["PROXY_FIX_HOPS"]:
        hops = app.config["PROXY_FIX_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    if not app.debug and not app.testing:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )

    _import_models()
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    csrf.init_app(app)
    mailer.init_app(app)
    limiter.init_app(app)

    from idp.web import init_web, select_locale

    babel.init_app(
        app, locale_selector=select_locale, default_translation_directories="translations"
    )
    init_web(app)

    from idp.accounts.views import bp as accounts_bp

    app.register_blueprint(accounts_bp)

    from idp.pages.views import bp as pages_bp

    app.register_blueprint(pages_bp)

    from idp.cli import register_commands

    register_commands(app)

    @app.context_processor
    def inject_user() -> dict[str, Any]:
        from flask import has_request_context
        from sqlalchemy.exc import SQLAlchemyError

        if not has_request_context():  # emails rendered from the CLI or a worker
            return {}

        from idp.accounts.auth import current_user
        from idp.accounts.forms import ConfirmForm

        try:
            user = current_user()
        except SQLAlchemyError:  # the error page must render even with the database down
            db.session.rollback()
            user = None
        return {"current_user": user, "confirm_form": ConfirmForm(formdata=None)}

    return app


def _import_models() -> None:
    """Every model module, so metadata (create_all, Alembic autogenerate) sees all tables."""
    import idp.accounts.models
    import idp.audit.models
    import idp.mail.models  # noqa: F401
