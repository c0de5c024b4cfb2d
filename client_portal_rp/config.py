"""The portal's settings from `PORTAL_*` environment variables (docs/configuration.md), so the
portal and the IdP run side by side from one environment. Production refuses the development
secret and plain http (relying_party/settings.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from relying_party import RelyingPartyConfigError
from relying_party import rp_config_from_env as rp_config_from_env
from relying_party.web import cookie_config

DEV_SECRET_KEY = "dev-portal-secret-not-for-production"  # noqa: S105 - the known dev value
PREFIX = "PORTAL_"
LANGUAGES = ("fr", "en")
DEFAULT_MAX_UPLOAD_MB = 25
DEFAULT_FEC_MAX_BYTES = 600_000_000  # a FEC of a few million lines (client_portal_rp/fec/)
ConfigurationError = RelyingPartyConfigError  # the name the portal's callers know


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


def build_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The portal's Flask config from the environment (PORTAL_* names, SECRET_KEY and the
    MAIL_* of the IdP as fallbacks)."""
    env = dict(os.environ if env is None else env)
    mode = env.get("PORTAL_ENV") or env.get("SESAME_ENV") or "development"
    if mode not in {"development", "production", "testing"}:
        raise ConfigurationError("PORTAL_ENV must be development, production or testing")
    secret = env.get("PORTAL_SECRET_KEY") or env.get("SECRET_KEY") or DEV_SECRET_KEY
    production = mode == "production"
    if production and (secret == DEV_SECRET_KEY or len(secret) < 32):
        raise ConfigurationError(
            "PORTAL_SECRET_KEY must be a random value of at least 32 characters in production"
        )
    rp = rp_config_from_env(
        env, PREFIX, default_base_url="http://127.0.0.1:5001", production=production
    )
    max_upload_mb = _positive_int(env, "PORTAL_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)
    storage = env.get("PORTAL_STORAGE", "local")
    if storage not in {"local", "s3"}:
        raise ConfigurationError("PORTAL_STORAGE must be local or s3")
    return {
        **rp,
        # The whole request may carry several files; each is limited while it streams
        # (client_portal_rp/uploads.py). 10 files of the maximum size, plus the form.
        **cookie_config(
            "portal_session", rp["PORTAL_BASE_URL"], (10 * max_upload_mb + 1) * 1024 * 1024
        ),
        "PORTAL_ENV": mode,
        "SECRET_KEY": secret,
        "PORTAL_MAX_UPLOAD_BYTES": max_upload_mb * 1024 * 1024,
        # The firm's FEC upload streams to disk with its own limit (fec/firm_views.py).
        "PORTAL_FEC_MAX_BYTES": _positive_int(env, "PORTAL_FEC_MAX_BYTES", DEFAULT_FEC_MAX_BYTES),
        "PORTAL_STORAGE": storage,
        "PORTAL_STORAGE_PATH": env.get("PORTAL_STORAGE_PATH", ""),
        "PORTAL_S3_BUCKET": env.get("PORTAL_S3_BUCKET", ""),
        "PORTAL_S3_ENDPOINT_URL": env.get("PORTAL_S3_ENDPOINT_URL", ""),
        "PORTAL_S3_REGION": env.get("PORTAL_S3_REGION", "eu-west-3"),
        "PORTAL_MAILBOX_DOMAIN": env.get("PORTAL_MAILBOX_DOMAIN", "depot.portail.localhost"),
        "PORTAL_MAILBOX_AUTHSERV_ID": env.get("PORTAL_MAILBOX_AUTHSERV_ID", ""),
        "PORTAL_LANGUAGES": LANGUAGES,
        "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
        # Email: the portal's own outbox, sent over SMTP (client_portal_rp/mail.py).
        "MAIL_SERVER": env.get("PORTAL_MAIL_SERVER") or env.get("MAIL_SERVER") or "localhost",
        "MAIL_PORT": int(env.get("PORTAL_MAIL_PORT") or env.get("MAIL_PORT") or 25),
        "MAIL_USERNAME": env.get("PORTAL_MAIL_USERNAME") or env.get("MAIL_USERNAME") or "",
        "MAIL_PASSWORD": env.get("PORTAL_MAIL_PASSWORD") or env.get("MAIL_PASSWORD") or "",
        "MAIL_USE_TLS": (env.get("PORTAL_MAIL_USE_TLS") or env.get("MAIL_USE_TLS")) == "1",
        "MAIL_DEFAULT_SENDER": env.get("PORTAL_MAIL_SENDER")
        or "Portail client <portail@portail.localhost>",
        "MAIL_TIMEOUT": 10,
        # Work after the answer (emails, photo jobs) in a thread; tests run it inline.
        "PORTAL_BACKGROUND_INLINE": mode == "testing",
        # The API (client_portal_rp/api/, ADR 0026): the `aud` its access tokens must carry
        # (the RFC 8707 resource a client asks the IdP for), and the requests a token family
        # may make per minute, counted in Redis when REDIS_URL is set (shared by every worker).
        # (empty: PORTAL_BASE_URL + /api/v1)
        "PORTAL_API_AUDIENCE": env.get("PORTAL_API_AUDIENCE", ""),
        "PORTAL_API_RATE_LIMIT": _positive_int(env, "PORTAL_API_RATE_LIMIT", 600),
        "PORTAL_RATELIMIT_STORAGE_URL": env.get("PORTAL_REDIS_URL")
        or env.get("REDIS_URL")
        or "memory://",
    }
