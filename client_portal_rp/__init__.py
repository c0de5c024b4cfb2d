"""Client portal of accounting firms: a relying party of Sésame (`client_portal_rp:create_app`).

It meets the identity provider only over HTTP (OpenID Connect): it never imports `idp`
(tests/client_portal_rp/test_boundaries.py checks it). Configuration comes from PORTAL_*
environment variables, so the two applications can run side by side with different settings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, render_template
from werkzeug.wrappers import Response

DEV_SECRET_KEY = "dev-portal-secret-not-for-production"  # noqa: S105 - the known dev value

# No 'unsafe-inline' anywhere: styles and scripts come from static files only.
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
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable portal."""


def build_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The portal's Flask config from the environment (PORTAL_* names, SECRET_KEY fallback)."""
    env = dict(os.environ if env is None else env)
    mode = env.get("PORTAL_ENV") or env.get("SESAME_ENV") or "development"
    if mode not in {"development", "production", "testing"}:
        raise ConfigurationError("PORTAL_ENV must be development, production or testing")
    secret = env.get("PORTAL_SECRET_KEY") or env.get("SECRET_KEY") or DEV_SECRET_KEY
    issuer = env.get("PORTAL_IDP_ISSUER", "http://127.0.0.1:5000").rstrip("/")
    base_url = env.get("PORTAL_BASE_URL", "http://127.0.0.1:5001").rstrip("/")
    https = base_url.startswith("https://")
    if mode == "production":
        if secret == DEV_SECRET_KEY or len(secret) < 32:
            raise ConfigurationError(
                "PORTAL_SECRET_KEY must be a random value of at least 32 characters in production"
            )
        if not https or not issuer.startswith("https://"):
            raise ConfigurationError(
                "PORTAL_BASE_URL and PORTAL_IDP_ISSUER must be https:// URLs in production"
            )
    return {
        "PORTAL_ENV": mode,
        "SECRET_KEY": secret,
        "PORTAL_IDP_ISSUER": issuer,
        "PORTAL_BASE_URL": base_url,
        "SESSION_COOKIE_NAME": "portal_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": https,
        "PREFERRED_URL_SCHEME": "https" if https else "http",
        "MAX_CONTENT_LENGTH": 1024 * 1024,
    }


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the portal. `test_config` overrides the environment (tests)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(build_config())
    if test_config:
        app.config.update(test_config)
    if not app.debug and not app.testing:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if app.config["SESSION_COOKIE_SECURE"]:
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if "text/html" in (response.content_type or ""):
            headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def index() -> str:
        return render_template("index.html", idp_issuer=app.config["PORTAL_IDP_ISSUER"])

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return render_template("not_found.html"), 404

    from client_portal_rp.cli import register_commands

    register_commands(app)
    return app
