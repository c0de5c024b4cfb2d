"""The security headers of our relying parties (the portal, the sample partner sites).

No 'unsafe-inline' anywhere: styles and scripts come from static files only. `form-action` names
the IdP too: Chrome applies it to the redirect that follows a form POST, and the logout button
posts to the site, which then redirects to the IdP's end-session endpoint.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from werkzeug.wrappers import Response


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
