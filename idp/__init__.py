"""Sésame identity provider: the application factory `idp:create_app`."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from idp.config import ENVIRONMENT_VARIABLES, SETTINGS_EXTENSION, Settings
from idp.extensions import babel, csrf, db, limiter, mailer, migrate

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")


def create_app(test_config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the IdP from the environment.

    `test_config` (tests, benchmarks) is a `Settings`, or a mapping whose environment-variable
    keys (`DATABASE_URL`, `IDP_ISSUER`...) override the environment and whose other keys
    (`TESTING`...) are plain Flask settings.
    """
    app = Flask(__name__, instance_relative_config=True)
    settings = _settings(test_config, app.instance_path)
    app.extensions[SETTINGS_EXTENSION] = settings
    app.config.update(settings.flask_config())
    if isinstance(test_config, Mapping):
        app.config.update({k: v for k, v in test_config.items() if k not in ENVIRONMENT_VARIABLES})
    if settings.is_sqlite:
        os.makedirs(app.instance_path, exist_ok=True)
    if settings.proxy_fix_hops:
        hops = settings.proxy_fix_hops
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
    _drop_limiter_request_hooks(app)

    from idp.accounts.auth import init_session_housekeeping
    from idp.accounts.services import init_password_hasher
    from idp.web import init_web, select_locale

    babel.init_app(
        app, locale_selector=select_locale, default_translation_directories="translations"
    )
    init_password_hasher(app)

    from idp.accounts.views import bp as accounts_bp
    from idp.pages.views import bp as pages_bp
    from idp.profiles.views import bp as profiles_bp
    from idp.registry.views import bp as registry_admin_bp

    app.register_blueprint(accounts_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(registry_admin_bp)
    app.register_blueprint(profiles_bp)
    from idp.mfa.web import init_mfa
    from idp.oidc.web import init_oidc

    init_mfa(app)
    init_oidc(app)
    from idp.delegation.web import init_delegations

    init_delegations(app)
    init_web(app)
    init_session_housekeeping(app)

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


def _drop_limiter_request_hooks(app: Flask) -> None:
    """Flask-Limiter is used for its storage only (idp/throttling.py): no route declares one of
    its limits, yet it checks every request before the view and touches every response. Its
    per-request hooks cost 25 % of a JWKS request and 11 % of a token request
    (bench/README.md, `bench/oidc_endpoints.py --profile`); its teardown hook stays."""

    def ours(hook: Any) -> bool:
        owner = getattr(hook, "__self__", None)
        if owner is None and isinstance(hook, functools.partial):
            owner = hook.args[0] if hook.args else None
        return owner is not limiter

    before: Any = app.before_request_funcs.get(None, [])
    after: Any = app.after_request_funcs.get(None, [])
    app.before_request_funcs[None] = [hook for hook in before if ours(hook)]
    app.after_request_funcs[None] = [hook for hook in after if ours(hook)]


def _settings(test_config: Settings | Mapping[str, Any] | None, instance_path: str) -> Settings:
    if isinstance(test_config, Settings):
        return test_config
    env = dict(os.environ)
    for key, value in (test_config or {}).items():
        if key in ENVIRONMENT_VARIABLES:
            env[key] = "" if value is None else str(value)
    return Settings.from_env(env, instance_path=instance_path)


def _import_models() -> None:
    """Every model module, so metadata (create_all, Alembic autogenerate) sees all tables."""
    import idp.accounts.email_requests
    import idp.accounts.models
    import idp.audit.models
    import idp.delegation.models
    import idp.mail.models
    import idp.mfa.models
    import idp.oidc.models
    import idp.profiles.models
    import idp.registry.models  # noqa: F401
