"""Absolute URLs for emails and protocol documents, always built on IDP_ISSUER.

Never from the request's Host header: a forged Host would otherwise put an attacker's domain in
a password-reset link (reset poisoning).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for


def external_url(endpoint: str, **values: Any) -> str:
    return current_app.config["IDP_ISSUER"] + url_for(endpoint, _external=False, **values)
