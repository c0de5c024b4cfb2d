"""Absolute URLs for emails and protocol documents, always built on IDP_ISSUER.

Never from the request's Host header: a forged Host would otherwise put an attacker's domain in
a password-reset link (reset poisoning). Works in requests, CLI commands and workers alike.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from idp.config import settings


def external_url(endpoint: str, **values: Any) -> str:
    adapter = current_app.url_map.bind("issuer.invalid", script_name="/")
    path = adapter.build(endpoint, values, force_external=False)
    return settings().issuer + path
