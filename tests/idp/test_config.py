"""Configuration from the environment; production (the default) refuses unsafe settings;
SQLite pragmas."""

import pytest
from sqlalchemy import text

from idp import create_app
from idp.config import DEV_SECRET_KEY, ConfigurationError, Environment, Settings
from idp.extensions import db

STRONG_SECRET = "Zq3-8vKp_Lr2xN7wYt5mBf9cHd4jGs6aUe1oRi0TlQz"
HTTPS = "https://sesame.example"
PRODUCTION = {
    "SESAME_ENV": "production",
    "SECRET_KEY": STRONG_SECRET,
    "IDP_ISSUER": HTTPS,
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "OIDC_KEY_ENCRYPTION_KEY": "kE7-vQ2_Rn9xW4yTb6mZf1cJd8hGs3aUp5oLi0TeNq",
}


def test_config_reads_the_environment():
    settings = Settings.from_env(
        {
            **PRODUCTION,
            "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/prod",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "IDP_ISSUER": "https://sesame.example/",
            "MAIL_SERVER": "smtp.example",
            "MAIL_PORT": "587",
            "ARGON2_MEMORY_COST": "131072",
        }
    )
    cfg = settings.flask_config()
    assert cfg["SQLALCHEMY_DATABASE_URI"].endswith("/prod")
    assert cfg["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    assert cfg["IDP_ISSUER"] == "https://sesame.example"
    assert cfg["MAIL_SERVER"] == "smtp.example"
    assert cfg["MAIL_PORT"] == 587
    assert settings.argon2.memory_cost_kib == 131072
    assert cfg["SESSION_COOKIE_SECURE"] is True


def test_config_unset_environment_means_production():
    with pytest.raises(ConfigurationError, match="production"):
        Settings.from_env({})


def test_config_development_defaults_are_runnable(tmp_path):
    settings = Settings.from_env({"SESAME_ENV": "development"}, instance_path=str(tmp_path))
    cfg = settings.flask_config()
    assert settings.environment == Environment.DEVELOPMENT
    assert cfg["SECRET_KEY"] == DEV_SECRET_KEY
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/idp.sqlite"
    assert cfg["RATELIMIT_STORAGE_URI"] == "memory://"
    assert cfg["SESSION_COOKIE_SECURE"] is False
    assert cfg["SESSION_COOKIE_NAME"] == "sesame_session"


def test_config_derived_values_follow_the_issuer():
    settings = Settings.from_env({"SESAME_ENV": "testing", "IDP_ISSUER": "http://idp.test"})
    https = settings.replace(issuer=HTTPS)
    assert https.flask_config()["SESSION_COOKIE_SECURE"] is True
    assert https.session_cookie_name == "__Host-sesame_session"
    assert https.flask_config()["WTF_CSRF_SSL_STRICT"] is True
    assert settings.flask_config()["SESSION_COOKIE_NAME"] == "sesame_session"


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"SECRET_KEY": ""}, id="no-secret"),
        pytest.param({"SECRET_KEY": DEV_SECRET_KEY}, id="development-secret"),
        pytest.param({"SECRET_KEY": "short"}, id="short-secret"),
        pytest.param({"SECRET_KEY": " " * 32}, id="32-spaces"),
        pytest.param({"SECRET_KEY": "ab" * 24}, id="low-entropy-secret"),
        pytest.param({"IDP_ISSUER": "http://x.example"}, id="http-issuer"),
        pytest.param({"REDIS_URL": ""}, id="no-redis"),
        pytest.param({"RATELIMIT_STORAGE_URI": "memory://"}, id="memory-throttles"),
        pytest.param({"RATELIMIT_ENABLED": "0"}, id="throttling-disabled"),
        pytest.param({"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "8192"}, id="weak-argon2"),
        pytest.param({"ARGON2_MEMORY_COST": "8192"}, id="argon2-8-mib"),
        pytest.param({"MAIL_USERNAME": "u", "MAIL_PASSWORD": "p"}, id="smtp-auth-in-clear"),
        pytest.param({"OIDC_KEY_ENCRYPTION_KEY": ""}, id="no-key-encryption-key"),
        pytest.param({"OIDC_KEY_ENCRYPTION_KEY": "short"}, id="short-key-encryption-key"),
        pytest.param({"OIDC_KEY_ENCRYPTION_KEY": STRONG_SECRET}, id="kek-is-the-secret-key"),
        pytest.param({"OIDC_ACCESS_TOKEN_LIFETIME": "3600"}, id="hour-long-access-tokens"),
    ],
)
def test_config_production_refuses_each_unsafe_setting(env):
    Settings.from_env(PRODUCTION)  # the baseline is accepted
    with pytest.raises(ConfigurationError):
        Settings.from_env({**PRODUCTION, **env})


def test_config_production_accepts_smtp_credentials_over_tls():
    Settings.from_env({**PRODUCTION, "MAIL_USERNAME": "u", "MAIL_USE_TLS": "1"})


@pytest.mark.parametrize(
    "env",
    [{"SESAME_ENV": "staging"}, {"MAIL_PORT": "vingt-cinq"}, {"RATELIMIT_ENABLED": "peut-être"}],
)
def test_config_refuses_malformed_settings(env):
    with pytest.raises(ConfigurationError):
        Settings.from_env({"SESAME_ENV": "development", **env})


def test_config_production_starts_with_a_real_secret(monkeypatch, tmp_path):
    for key, value in PRODUCTION.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/p.sqlite")
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-sesame_session"
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
