"""Alembic migrations (idp db upgrade) build exactly the schema the models describe."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from idp import create_app
from idp.extensions import db
from tests.helpers import base_config


@pytest.fixture
def empty_app(own_database_url: str) -> Iterator[Flask]:
    """An app on an empty database."""
    app = create_app(base_config(own_database_url))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_migrations_keep_the_app_loggers_enabled(empty_app):
    """Alembic's env.py configures logging from alembic.ini: the loggers the app created
    before (idp.web's, which logs 500s with their request id) must keep working."""
    web_logger = logging.getLogger("idp.web")
    upgrade()
    assert not web_logger.disabled


def test_migrations_upgrade_matches_the_models_and_downgrades(empty_app):
    upgrade()
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []
    # the immutability trigger is part of the migrated schema too
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (subject, username, email, given_name, family_name, profile, "
                "status, locale, created_at) VALUES ('s1', 'jean', 'j@x.example', 'J', 'D', "
                "'autre', 'active', 'fr', CURRENT_TIMESTAMP)"
            )
        )
    with pytest.raises(Exception, match="immutable"), db.engine.begin() as conn:
        conn.execute(text("UPDATE users SET username = 'pirate' WHERE subject = 's1'"))
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM users"))
    downgrade(revision="base")
    with db.engine.connect() as conn:
        tables = db.inspect(conn).get_table_names()
    assert set(tables) <= {"alembic_version"}
