"""The `mfa` blueprint: the second-factor page (views.py), « Sécurité avancée » on « Mon compte »
(security_views.py) and passkeys (passkey_views.py)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("mfa", __name__)


def init_mfa(app: Flask) -> None:
    from idp.mfa import passkey_views, security_views, views  # noqa: F401 - routes on bp

    app.register_blueprint(bp)
