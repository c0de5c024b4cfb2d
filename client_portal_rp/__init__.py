"""Client portal of accounting firms: a relying party of Sésame (`client_portal_rp:create_app`).

People log in only through Sésame, with OpenID Connect (code flow + PKCE, relying_party/); the
portal meets the identity provider only over HTTP and never imports `idp`
(tests/client_portal_rp/test_boundaries.py checks it). Its own database and migrations hold the
firms, client companies, accesses, deposits and archives (docs/adr/0024-client-portal.md).
Configuration comes from PORTAL_* environment variables (client_portal_rp/config.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from client_portal_rp.config import DEV_SECRET_KEY as DEV_SECRET_KEY
from client_portal_rp.config import PREFIX
from client_portal_rp.config import ConfigurationError as ConfigurationError
from client_portal_rp.config import build_config as build_config
from relying_party.web import create_site

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")
DATABASE_FILE = "portal.sqlite"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the portal. `test_config` overrides the environment (tests)."""
    from apiflask import APIFlask

    from client_portal_rp.accounts import INVITATION_SESSION_KEY, on_login
    from client_portal_rp.api import APP_OPTIONS

    app = create_site(
        __name__,
        build_config(),
        test_config,
        prefix=PREFIX,
        database_file=DATABASE_FILE,
        on_login=on_login,
        carry=(INVITATION_SESSION_KEY, "locale"),
        app_class=APIFlask,  # the API's OpenAPI document (client_portal_rp/api/)
        app_options=APP_OPTIONS,
    )
    app.config.setdefault(
        "SQLALCHEMY_DATABASE_URI",
        app.config.get("PORTAL_DATABASE_URL") or f"sqlite:///{app.instance_path}/{DATABASE_FILE}",
    )
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app))
    _init_extensions(app)

    from client_portal_rp.formatting import register_filters
    from client_portal_rp.web import init_web

    init_web(app)
    register_filters(app)
    from client_portal_rp.cli import register_commands

    register_commands(app)
    return app


def _engine_options(app: Flask) -> dict[str, Any]:
    uri = str(app.config["SQLALCHEMY_DATABASE_URI"])
    if uri.startswith("sqlite"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        return {"connect_args": {"timeout": 15}}
    return {"pool_pre_ping": True}


def _init_extensions(app: Flask) -> None:
    from client_portal_rp import (
        database,  # noqa: F401 - SQLite pragmas on connect
        models,  # noqa: F401 - the tables, for migrations
    )
    from client_portal_rp.extensions import babel, db, migrate
    from client_portal_rp.storage import init_blob_store
    from client_portal_rp.web import select_locale

    db.init_app(app)
    init_blob_store(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    babel.init_app(
        app, locale_selector=select_locale, default_translation_directories="translations"
    )
