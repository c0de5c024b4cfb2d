"""What our relying parties (the portal, the sample partner sites) share as Flask apps: the
factory's common part, the cookie settings and the security headers.

No 'unsafe-inline' anywhere: styles and scripts come from static files only. `form-action` names
the IdP too: Chrome applies it to the redirect that follows a form POST, and the logout button
posts to the site, which then redirects to the IdP's end-session endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.wrappers import Response

from relying_party.views import init_relying_party


def create_site(
    import_name: str,
    config: Mapping[str, Any],
    test_config: Mapping[str, Any] | None,
    *,
    prefix: str,
    database_file: str,
    app_class: type[Flask] = Flask,
    app_options: Mapping[str, Any] | None = None,
    **rp_options: Any,
) -> Flask:
    """A relying party's app: `config` (from the environment) overridden by `test_config`,
    logging, the security headers, and login through Sésame (`<prefix>*` settings;
    `rp_options` go to `init_relying_party`). `app_class` and `app_options`: a Flask subclass
    and its own arguments (the portal is an APIFlask app, for its API's OpenAPI document)."""
    app = app_class(import_name, instance_relative_config=True, **dict(app_options or {}))
    app.config.update(config)
    if test_config:
        app.config.update(test_config)
    if not app.debug and not app.testing:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    install_security_headers(
        app,
        idp_issuer=app.config[f"{prefix}IDP_ISSUER"],
        https=bool(app.config["SESSION_COOKIE_SECURE"]),
    )
    init_relying_party(app, prefix, database_file=database_file, **rp_options)
    return app


def cookie_config(cookie_name: str, base_url: str, max_content_length: int) -> dict[str, Any]:
    """Flask settings of a site's session cookie and requests. Sites on one host share cookies
    whatever their port: each site names its own cookie."""
    https = base_url.startswith("https://")
    return {
        "SESSION_COOKIE_NAME": cookie_name,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": https,
        "PREFERRED_URL_SCHEME": "https" if https else "http",
        "MAX_CONTENT_LENGTH": max_content_length,
    }


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(idp_issuer: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            f"form-action 'self' {origin(idp_issuer)}",
            "frame-ancestors 'none'",
        ]
    )


def install_security_headers(app: Flask, *, idp_issuer: str, https: bool) -> None:
    csp = content_security_policy(idp_issuer)

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", csp)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        # same-origin: other sites (the IdP included) get no Referer; the site's own form
        # posts keep theirs, which Flask-WTF requires under https (WTF_CSRF_SSL_STRICT).
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if https:
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if "text/html" in (response.content_type or ""):
            headers["Cache-Control"] = "no-store"
        return response
