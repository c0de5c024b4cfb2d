"""Configuration of the identity provider, read from environment variables.

One object, built once per app. Development defaults are safe to run on a laptop; production
(`SESAME_ENV=production`) refuses to start with the development secret or without an issuer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

DEV_SECRET_KEY = "dev-secret-not-for-production"  # noqa: S105 - the known development value


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable application."""


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc


def _env_bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def default_sqlite_url(instance_path: str) -> str:
    return "sqlite:///" + str(Path(instance_path) / "idp.sqlite")


@dataclass(frozen=True)
class Argon2Parameters:
    """argon2id cost parameters (RFC 9106 section 4, second recommended option by default).

    See docs/adr/0003-argon2-parameters.md for the choice and the measured cost.
    """

    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4


def build_config(
    env: dict[str, str] | None = None, instance_path: str = "instance"
) -> dict[str, Any]:
    """Return the Flask config mapping for the given environment."""
    env = dict(os.environ if env is None else env)
    mode = env.get("SESAME_ENV", "development")
    if mode not in {"development", "production", "testing"}:
        raise ConfigurationError("SESAME_ENV must be development, production or testing")
    secret = env.get("SECRET_KEY") or DEV_SECRET_KEY
    issuer = env.get("IDP_ISSUER", "http://127.0.0.1:5000").rstrip("/")
    https = issuer.startswith("https://")
    if mode == "production":
        if secret == DEV_SECRET_KEY or len(secret) < 32:
            raise ConfigurationError(
                "SECRET_KEY must be set to a random value of at least 32 characters in production"
            )
        if not https:
            raise ConfigurationError("IDP_ISSUER must be an https:// URL in production")
        if not env.get("REDIS_URL"):
            # In-memory throttles are per process: N workers would multiply every limit by N.
            raise ConfigurationError("REDIS_URL must be set in production (shared rate limits)")
    cfg: dict[str, Any] = {
        "SESAME_ENV": mode,
        "SECRET_KEY": secret,
        "IDP_ISSUER": issuer,
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL") or default_sqlite_url(instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SQLITE_BUSY_TIMEOUT_MS": _env_int(env, "SQLITE_BUSY_TIMEOUT_MS", 15000),
        "REDIS_URL": env.get("REDIS_URL") or None,
        # Sessions: the cookie only carries a random server-side session token (ADR 0002).
        "SESSION_COOKIE_NAME": "sesame_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_DOMAIN": None,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=_env_int(env, "SESSION_ABSOLUTE_HOURS", 12)),
        "SESSION_IDLE_MINUTES": _env_int(env, "SESSION_IDLE_MINUTES", 30),
        "SESSION_ABSOLUTE_HOURS": _env_int(env, "SESSION_ABSOLUTE_HOURS", 12),
        "WTF_CSRF_TIME_LIMIT": None,  # bound to the session instead of a clock
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        # Passwords
        "ARGON2_TIME_COST": _env_int(env, "ARGON2_TIME_COST", Argon2Parameters.time_cost),
        "ARGON2_MEMORY_COST": _env_int(env, "ARGON2_MEMORY_COST", Argon2Parameters.memory_cost_kib),
        "ARGON2_PARALLELISM": _env_int(env, "ARGON2_PARALLELISM", Argon2Parameters.parallelism),
        "PASSWORD_MIN_LENGTH": 12,
        "PASSWORD_MAX_LENGTH": 256,
        # Tokens
        "ACTIVATION_TOKEN_MAX_AGE": _env_int(env, "ACTIVATION_TOKEN_MAX_AGE", 48 * 3600),
        "RESET_TOKEN_MAX_AGE": _env_int(env, "RESET_TOKEN_MAX_AGE", 3600),
        # Throttling (limits syntax; several limits make a growing delay)
        "RATELIMIT_ENABLED": _env_bool(env, "RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI")
        or env.get("REDIS_URL")
        or "memory://",
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX", "sesame"),
        # The storage's own prefix: it namespaces the throttles' keys, and limiter.reset()
        # deletes only "<prefix>:*" (several apps or test workers may share one Redis).
        "RATELIMIT_STORAGE_OPTIONS": {
            "key_prefix": env.get("RATELIMIT_KEY_PREFIX", "sesame") + ":LIMITS"
        },
        "RATELIMIT_HEADERS_ENABLED": False,
        "LOGIN_FAILURES_PER_ACCOUNT": env.get(
            "LOGIN_FAILURES_PER_ACCOUNT", "5 per 15 minutes;10 per hour;20 per day"
        ),
        "LOGIN_FAILURES_PER_IP": env.get("LOGIN_FAILURES_PER_IP", "50 per 15 minutes;200 per day"),
        "EMAIL_SENDS_PER_ACCOUNT": env.get("EMAIL_SENDS_PER_ACCOUNT", "3 per hour;10 per day"),
        "EMAIL_SENDS_PER_IP": env.get("EMAIL_SENDS_PER_IP", "20 per hour"),
        "SIGNUPS_PER_IP": env.get("SIGNUPS_PER_IP", "10 per hour"),
        # Reverse proxy: number of trusted X-Forwarded-* hops (0 = none)
        "PROXY_FIX_HOPS": _env_int(env, "PROXY_FIX_HOPS", 0),
        # Mail
        "MAIL_SERVER": env.get("MAIL_SERVER", "127.0.0.1"),
        "MAIL_PORT": _env_int(env, "MAIL_PORT", 1025),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _env_bool(env, "MAIL_USE_TLS", False),
        "MAIL_USE_SSL": _env_bool(env, "MAIL_USE_SSL", False),
        "MAIL_TIMEOUT": _env_int(env, "MAIL_TIMEOUT", 10),
        "MAIL_DEFAULT_SENDER": env.get("MAIL_DEFAULT_SENDER", "Sésame <no-reply@sesame.localhost>"),
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_MAX_ATTEMPTS": _env_int(env, "MAIL_MAX_ATTEMPTS", 12),
        # I18n
        "BABEL_DEFAULT_LOCALE": "fr",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
        "LANGUAGES": ["fr", "en"],
    }
    cfg.update(https_settings(issuer))
    return cfg


def https_settings(issuer: str) -> dict[str, Any]:
    """Settings that follow from serving the issuer over https (re-derived when tests or
    benchmarks override IDP_ISSUER in code)."""
    https = issuer.startswith("https://")
    return {
        "SESSION_COOKIE_SECURE": https,
        "PREFERRED_URL_SCHEME": "https" if https else "http",
        "WTF_CSRF_SSL_STRICT": https,
    }
