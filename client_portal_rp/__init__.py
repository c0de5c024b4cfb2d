"""Client portal of accounting firms: a relying party of Sésame (`client_portal_rp:create_app`).

People log in only through Sésame, with OpenID Connect (code flow + PKCE, relying_party/); the
portal meets the identity provider only over HTTP and never imports `idp`
(tests/client_portal_rp/test_boundaries.py checks it). Configuration comes from PORTAL_*
environment variables (docs/configuration.md), so the two applications can run side by side.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, render_template

from relying_party import RelyingPartyConfigError, current_login
from relying_party import rp_config_from_env as rp_config_from_env
from relying_party.web import cookie_config, create_site

DEV_SECRET_KEY = "dev-portal-secret-not-for-production"  # noqa: S105 - the known dev value
PREFIX = "PORTAL_"
ConfigurationError = RelyingPartyConfigError  # the name the portal's callers know


def build_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The portal's Flask config from the environment (PORTAL_* names, SECRET_KEY fallback)."""
    env = dict(os.environ if env is None else env)
    mode = env.get("PORTAL_ENV") or env.get("SESAME_ENV") or "development"
    if mode not in {"development", "production", "testing"}:
        raise ConfigurationError("PORTAL_ENV must be development, production or testing")
    secret = env.get("PORTAL_SECRET_KEY") or env.get("SECRET_KEY") or DEV_SECRET_KEY
    production = mode == "production"
    if production and (secret == DEV_SECRET_KEY or len(secret) < 32):
        raise ConfigurationError(
            "PORTAL_SECRET_KEY must be a random value of at least 32 characters in production"
        )
    rp = rp_config_from_env(
        env, PREFIX, default_base_url="http://127.0.0.1:5001", production=production
    )
    return {
        **rp,
        **cookie_config("portal_session", rp["PORTAL_BASE_URL"], 1024 * 1024),
        "PORTAL_ENV": mode,
        "SECRET_KEY": secret,
    }


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the portal. `test_config` overrides the environment (tests)."""
    app = create_site(
        __name__, build_config(), test_config, prefix=PREFIX, database_file="portal.sqlite"
    )

    @app.get("/")
    def index() -> str:
        return render_template(
            "index.html", idp_issuer=app.config["PORTAL_IDP_ISSUER"], login=current_login()
        )

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return render_template("not_found.html"), 404

    from client_portal_rp.cli import register_commands

    register_commands(app)
    return app
