"""Configuration from the environment; production refuses unsafe settings; SQLite pragmas."""

import pytest
from sqlalchemy import text

from idp import create_app
from idp.config import DEV_SECRET_KEY, ConfigurationError, build_config
from idp.extensions import db

STRONG_SECRET = "k" * 48
HTTPS = "https://sesame.example"


def test_config_reads_the_environment():
    cfg = build_config(
        {
            "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/prod",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "SECRET_KEY": STRONG_SECRET,
            "IDP_ISSUER": "https://sesame.example/",
            "MAIL_SERVER": "smtp.example",
            "MAIL_PORT": "587",
            "ARGON2_MEMORY_COST": "131072",
        }
    )
    assert cfg["SQLALCHEMY_DATABASE_URI"].endswith("/prod")
    assert cfg["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    assert cfg["IDP_ISSUER"] == "https://sesame.example"
    assert cfg["MAIL_SERVER"] == "smtp.example"
    assert cfg["MAIL_PORT"] == 587
    assert cfg["ARGON2_MEMORY_COST"] == 131072
    assert cfg["SESSION_COOKIE_SECURE"] is True


def test_config_development_defaults_are_runnable(tmp_path):
    cfg = build_config({}, instance_path=str(tmp_path))
    assert cfg["SECRET_KEY"] == DEV_SECRET_KEY
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/idp.sqlite"
    assert cfg["RATELIMIT_STORAGE_URI"] == "memory://"
    assert cfg["SESSION_COOKIE_SECURE"] is False


@pytest.mark.parametrize(
    "env",
    [
        {"SESAME_ENV": "production", "IDP_ISSUER": HTTPS},
        {"SESAME_ENV": "production", "IDP_ISSUER": HTTPS, "SECRET_KEY": DEV_SECRET_KEY},
        {"SESAME_ENV": "production", "IDP_ISSUER": HTTPS, "SECRET_KEY": "short"},
        {"SESAME_ENV": "production", "IDP_ISSUER": "http://x.example", "SECRET_KEY": STRONG_SECRET},
        {"SESAME_ENV": "production", "IDP_ISSUER": HTTPS, "SECRET_KEY": STRONG_SECRET},
        {"SESAME_ENV": "staging"},
        {"MAIL_PORT": "vingt-cinq"},
        {"RATELIMIT_ENABLED": "peut-être"},
    ],
)
def test_config_refuses_unsafe_or_malformed_settings(env):
    with pytest.raises(ConfigurationError):
        build_config(env)


def test_config_production_starts_with_a_real_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("SESAME_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("IDP_ISSUER", "https://sesame.example")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/15")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/p.sqlite")
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    monkeypatch.setenv("SECRET_KEY", DEV_SECRET_KEY)
    with pytest.raises(ConfigurationError):
        create_app()


def test_config_sqlite_runs_with_wal_foreign_keys_and_busy_timeout(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite pragmas only")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 15000
