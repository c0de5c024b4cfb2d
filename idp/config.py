"""Configuration of the identity provider: one typed `Settings` object read from the environment.

`Settings.from_env()` reads every variable once; values that follow from others (the session
cookie's name and `Secure` flag under https, the throttle storage, the SQLite engine options)
are derived properties, so overriding the issuer in a test re-derives them by construction.
`Settings.flask_config()` is the mapping Flask and its extensions read.

The safe side is the default: with `SESAME_ENV` unset the app runs as production and refuses
unsafe settings (`check_production`). `make run` says "development", the tests "testing".
See docs/configuration.md for every variable.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import current_app

DEV_SECRET_KEY = "dev-secret-not-for-production"  # noqa: S105 - the known development value
SETTINGS_EXTENSION = "sesame.settings"


class ConfigurationError(RuntimeError):
    """The environment does not describe a runnable application."""


class Environment(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"
    TESTING = "testing"


@dataclass(frozen=True)
class Argon2Parameters:
    """argon2id cost parameters (RFC 9106 section 4, second recommended option by default).

    The one representation of the cost: the hasher, the configuration and the benchmark all
    use it. See docs/adr/0003-argon2-parameters.md for the choice and the measured cost.
    """

    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4

    def env(self) -> dict[str, str]:
        """The environment variables that describe these parameters."""
        return {
            "ARGON2_TIME_COST": str(self.time_cost),
            "ARGON2_MEMORY_COST": str(self.memory_cost_kib),
            "ARGON2_PARALLELISM": str(self.parallelism),
        }

    def describe(self) -> str:
        return (
            f"argon2id t={self.time_cost} m={self.memory_cost_kib} KiB "
            f"({self.memory_cost_kib / 1024:g} MiB) p={self.parallelism}"
        )

    def is_below_production_floor(self) -> bool:
        """OWASP's minimum for argon2id: m=19 MiB with t=2 (or more memory with t=1)."""
        return self.memory_cost_kib < PRODUCTION_ARGON2_FLOOR.memory_cost_kib or (
            self.time_cost < PRODUCTION_ARGON2_FLOOR.time_cost
        )


PRODUCTION_ARGON2_FLOOR = Argon2Parameters(time_cost=2, memory_cost_kib=19456, parallelism=1)
# The cheapest cost argon2 accepts: tests exercise the logic, bench/login.py measures the real one.
TESTING_ARGON2 = Argon2Parameters(time_cost=1, memory_cost_kib=8, parallelism=1)


@dataclass(frozen=True)
class Throttles:
    """Limits in the `limits` syntax; several limits make the delay grow (ADR 0006)."""

    login_failures_per_account: str = "5 per 15 minutes;10 per hour;20 per day"
    login_failures_per_ip: str = "50 per 15 minutes;200 per day"
    email_sends_per_account: str = "3 per hour;10 per day"
    email_sends_per_ip: str = "20 per hour"
    signups_per_ip: str = "10 per hour"
    rejected_forms_per_ip: str = "60 per 15 minutes"
    # Registry signup (docs/security.md 10): wrong birth dates lock the entry for the window,
    # per entry and per IP; the name search (autocomplete and its plain form) per IP.
    registry_match_failures_per_entry: str = "5 per hour;10 per day"
    registry_match_failures_per_ip: str = "5 per hour;20 per day"
    registry_searches_per_ip: str = "120 per minute;2000 per day"
    # Second factors (ADR 0022): wrong TOTP or recovery codes, per account and per IP.
    otp_failures_per_account: str = "5 per 15 minutes;10 per hour;20 per day"
    otp_failures_per_ip: str = "50 per 15 minutes;200 per day"


@dataclass(frozen=True)
class MailSettings:
    server: str = "127.0.0.1"
    port: int = 1025
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    use_ssl: bool = False
    timeout: int = 10
    default_sender: str = "Sésame <no-reply@sesame.localhost>"
    max_attempts: int = 12


@dataclass(frozen=True)
class OidcSettings:
    """The OpenID provider (docs/adr/0021-oidc-provider.md). Lifetimes in seconds."""

    # Encrypts the signing keys' private parts at rest; required in production, distinct from
    # SECRET_KEY. Unset elsewhere: derived from SECRET_KEY.
    key_encryption_key: str | None = None
    access_token_lifetime: int = 600  # at most 10 minutes (docs/security.md 31)
    id_token_lifetime: int = 600
    refresh_token_lifetime: int = 30 * 24 * 3600
    code_lifetime: int = 60
    # Plain-http redirect URIs allowed for loopback hosts only (development and tests).
    allow_insecure_transport: bool = False
    backchannel_timeout: int = 5
    backchannel_max_attempts: int = 8


@dataclass(frozen=True)
class MfaSettings:
    """Second factors and step-up (docs/adr/0022-second-factors-and-step-up.md). Seconds."""

    # Changing a factor needs an authentication (password or factor) at most this old.
    recent_auth: int = 10 * 60
    # Between a correct password and the second factor of a login that needs one.
    pending_login: int = 5 * 60
    totp_issuer: str = "Sésame"
    # WebAuthn relying party id; defaults to the issuer's host name.
    webauthn_rp_id: str | None = None


@dataclass(frozen=True)
class Settings:
    environment: Environment
    secret_key: str
    issuer: str
    database_url: str
    redis_url: str | None = None
    ratelimit_storage_url: str | None = None
    ratelimit_enabled: bool = True
    ratelimit_key_prefix: str = "sesame"
    argon2: Argon2Parameters = field(default_factory=Argon2Parameters)
    throttles: Throttles = field(default_factory=Throttles)
    mail: MailSettings = field(default_factory=MailSettings)
    oidc: OidcSettings = field(default_factory=OidcSettings)
    mfa: MfaSettings = field(default_factory=MfaSettings)
    session_idle: timedelta = timedelta(minutes=30)
    session_absolute: timedelta = timedelta(hours=12)
    activation_token_max_age: int = 48 * 3600
    reset_token_max_age: int = 3600
    proxy_fix_hops: int = 0
    sqlite_busy_timeout_ms: int = 15000
    support_email: str = "support@sesame.localhost"
    legal_publisher: str | None = None
    legal_host: str | None = None
    languages: tuple[str, ...] = ("fr", "en")

    # --- derived values ------------------------------------------------------------------

    @property
    def https(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def is_production(self) -> bool:
        return self.environment == Environment.PRODUCTION

    @property
    def session_cookie_name(self) -> str:
        """`__Host-` under https: the browser then refuses it without Secure, or with a Domain
        or a Path other than / (no subdomain can plant or read it)."""
        return "__Host-sesame_session" if self.https else "sesame_session"

    @property
    def throttle_storage_url(self) -> str:
        return self.ratelimit_storage_url or self.redis_url or "memory://"

    @property
    def webauthn_rp_id(self) -> str:
        """The passkeys' relying party id: the issuer's host unless set (WEBAUTHN_RP_ID)."""
        return self.mfa.webauthn_rp_id or urlsplit(self.issuer).hostname or "localhost"

    @property
    def issuer_origin(self) -> str:
        """The origin of the IdP's pages (the WebAuthn `origin` a browser reports)."""
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def default_locale(self) -> str:
        return self.languages[0]

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    # --- reading and checking ------------------------------------------------------------

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, instance_path: str = "instance"
    ) -> Settings:
        """Read the environment (or `env`); raise ConfigurationError on malformed values and,
        in production, on unsafe ones."""
        reader = _EnvReader(dict(os.environ if env is None else env))
        raw_mode = reader.text("SESAME_ENV") or Environment.PRODUCTION.value
        try:
            environment = Environment(raw_mode)
        except ValueError as exc:
            raise ConfigurationError(
                "SESAME_ENV must be production (the default), development or testing"
            ) from exc
        defaults = Throttles()
        settings = cls(
            environment=environment,
            secret_key=reader.text("SECRET_KEY") or DEV_SECRET_KEY,
            issuer=(reader.text("IDP_ISSUER") or "http://127.0.0.1:5000").rstrip("/"),
            database_url=reader.text("DATABASE_URL")
            or "sqlite:///" + str(Path(instance_path) / "idp.sqlite"),
            redis_url=reader.text("REDIS_URL"),
            ratelimit_storage_url=reader.text("RATELIMIT_STORAGE_URI"),
            ratelimit_enabled=reader.boolean("RATELIMIT_ENABLED", True),
            ratelimit_key_prefix=reader.text("RATELIMIT_KEY_PREFIX") or "sesame",
            argon2=Argon2Parameters(
                time_cost=reader.integer("ARGON2_TIME_COST", Argon2Parameters.time_cost),
                memory_cost_kib=reader.integer(
                    "ARGON2_MEMORY_COST", Argon2Parameters.memory_cost_kib
                ),
                parallelism=reader.integer("ARGON2_PARALLELISM", Argon2Parameters.parallelism),
            ),
            throttles=Throttles(
                **{
                    f.name: reader.text(f.name.upper()) or getattr(defaults, f.name)
                    for f in dataclasses.fields(Throttles)
                }
            ),
            mail=MailSettings(
                server=reader.text("MAIL_SERVER") or MailSettings.server,
                port=reader.integer("MAIL_PORT", MailSettings.port),
                username=reader.text("MAIL_USERNAME"),
                password=reader.text("MAIL_PASSWORD"),
                use_tls=reader.boolean("MAIL_USE_TLS", False),
                use_ssl=reader.boolean("MAIL_USE_SSL", False),
                timeout=reader.integer("MAIL_TIMEOUT", MailSettings.timeout),
                default_sender=reader.text("MAIL_DEFAULT_SENDER") or MailSettings.default_sender,
                max_attempts=reader.integer("MAIL_MAX_ATTEMPTS", MailSettings.max_attempts),
            ),
            oidc=OidcSettings(
                key_encryption_key=reader.text("OIDC_KEY_ENCRYPTION_KEY"),
                access_token_lifetime=reader.integer(
                    "OIDC_ACCESS_TOKEN_LIFETIME", OidcSettings.access_token_lifetime
                ),
                id_token_lifetime=reader.integer(
                    "OIDC_ID_TOKEN_LIFETIME", OidcSettings.id_token_lifetime
                ),
                refresh_token_lifetime=reader.integer(
                    "OIDC_REFRESH_TOKEN_LIFETIME", OidcSettings.refresh_token_lifetime
                ),
                code_lifetime=reader.integer("OIDC_CODE_LIFETIME", OidcSettings.code_lifetime),
                allow_insecure_transport=environment != Environment.PRODUCTION,
                backchannel_timeout=reader.integer(
                    "OIDC_BACKCHANNEL_TIMEOUT", OidcSettings.backchannel_timeout
                ),
                backchannel_max_attempts=reader.integer(
                    "OIDC_BACKCHANNEL_MAX_ATTEMPTS", OidcSettings.backchannel_max_attempts
                ),
            ),
            mfa=MfaSettings(
                recent_auth=reader.integer("MFA_RECENT_AUTH_SECONDS", MfaSettings.recent_auth),
                pending_login=reader.integer(
                    "MFA_PENDING_LOGIN_SECONDS", MfaSettings.pending_login
                ),
                totp_issuer=reader.text("MFA_TOTP_ISSUER") or MfaSettings.totp_issuer,
                webauthn_rp_id=reader.text("WEBAUTHN_RP_ID"),
            ),
            session_idle=timedelta(minutes=reader.integer("SESSION_IDLE_MINUTES", 30)),
            session_absolute=timedelta(hours=reader.integer("SESSION_ABSOLUTE_HOURS", 12)),
            activation_token_max_age=reader.integer("ACTIVATION_TOKEN_MAX_AGE", 48 * 3600),
            reset_token_max_age=reader.integer("RESET_TOKEN_MAX_AGE", 3600),
            proxy_fix_hops=reader.integer("PROXY_FIX_HOPS", 0),
            sqlite_busy_timeout_ms=reader.integer("SQLITE_BUSY_TIMEOUT_MS", 15000),
            support_email=reader.text("SUPPORT_EMAIL") or "support@sesame.localhost",
            legal_publisher=reader.text("LEGAL_PUBLISHER"),
            legal_host=reader.text("LEGAL_HOST"),
        )
        if settings.is_production:
            settings.check_production()
        return settings

    def check_production(self) -> None:
        """Refuse what would be a hole in production (each case has a test)."""
        problems = []
        secret = self.secret_key
        if secret == DEV_SECRET_KEY or len(secret.strip()) < 32 or len(set(secret)) < 16:
            problems.append(
                "SECRET_KEY must be a random value of at least 32 characters "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if not self.https:
            problems.append("IDP_ISSUER must be an https:// URL")
        if not self.redis_url:
            problems.append("REDIS_URL must be set (every worker must share the throttles)")
        if not self.throttle_storage_url.startswith(("redis://", "rediss://", "redis+")):
            problems.append("the throttle storage must be Redis (RATELIMIT_STORAGE_URI)")
        if not self.ratelimit_enabled:
            problems.append("RATELIMIT_ENABLED=0 is refused (guessing would be unthrottled)")
        if self.argon2.is_below_production_floor():
            problems.append(
                f"argon2 parameters below the floor ({PRODUCTION_ARGON2_FLOOR.describe()})"
            )
        kek = self.oidc.key_encryption_key
        if not kek or len(kek.strip()) < 32 or kek == secret:
            problems.append(
                "OIDC_KEY_ENCRYPTION_KEY must be a random value of at least 32 characters, "
                "distinct from SECRET_KEY (it encrypts the signing keys at rest)"
            )
        if self.oidc.access_token_lifetime > 600:
            problems.append("OIDC_ACCESS_TOKEN_LIFETIME must be at most 600 seconds")
        if self.mail.username and not (self.mail.use_tls or self.mail.use_ssl):
            problems.append("SMTP credentials need MAIL_USE_TLS=1 or MAIL_USE_SSL=1")
        if problems:
            raise ConfigurationError("Refusing to start in production: " + "; ".join(problems))

    # --- what Flask and its extensions read -------------------------------------------------

    def flask_config(self) -> dict[str, Any]:
        engine_options: dict[str, Any] = {"pool_pre_ping": True}
        if self.is_sqlite:
            engine_options["connect_args"] = {"timeout": self.sqlite_busy_timeout_ms / 1000}
        return {
            "SESAME_ENV": self.environment.value,
            "SECRET_KEY": self.secret_key,
            "IDP_ISSUER": self.issuer,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "SESSION_COOKIE_NAME": self.session_cookie_name,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.https,
            "SESSION_COOKIE_DOMAIN": None,
            "SESSION_COOKIE_PATH": "/",
            "PERMANENT_SESSION_LIFETIME": self.session_absolute,
            "PREFERRED_URL_SCHEME": "https" if self.https else "http",
            "WTF_CSRF_TIME_LIMIT": None,  # bound to the session instead of a clock
            "WTF_CSRF_SSL_STRICT": self.https,
            "MAX_CONTENT_LENGTH": 1024 * 1024,
            "RATELIMIT_ENABLED": self.ratelimit_enabled,
            "RATELIMIT_STORAGE_URI": self.throttle_storage_url,
            "RATELIMIT_STRATEGY": "moving-window",
            "RATELIMIT_KEY_PREFIX": self.ratelimit_key_prefix,
            # The storage's own prefix namespaces every key, and limiter.reset() deletes only
            # "<prefix>:*" (several apps or test workers may share one Redis).
            "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": self.ratelimit_key_prefix + ":LIMITS"},
            "RATELIMIT_HEADERS_ENABLED": False,
            "MAIL_SERVER": self.mail.server,
            "MAIL_PORT": self.mail.port,
            "MAIL_USERNAME": self.mail.username,
            "MAIL_PASSWORD": self.mail.password,
            "MAIL_USE_TLS": self.mail.use_tls,
            "MAIL_USE_SSL": self.mail.use_ssl,
            "MAIL_TIMEOUT": self.mail.timeout,
            "MAIL_DEFAULT_SENDER": self.mail.default_sender,
            "MAIL_SUPPRESS_SEND": False,
            "BABEL_DEFAULT_LOCALE": self.default_locale,
            "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
        }


# Every variable `Settings.from_env` reads (docs/configuration.md): create_app() tells a test's
# environment override from a plain Flask setting with it.
ENVIRONMENT_VARIABLES = frozenset(
    {
        "SESAME_ENV",
        "SECRET_KEY",
        "IDP_ISSUER",
        "DATABASE_URL",
        "REDIS_URL",
        "RATELIMIT_STORAGE_URI",
        "RATELIMIT_ENABLED",
        "RATELIMIT_KEY_PREFIX",
        "ARGON2_TIME_COST",
        "ARGON2_MEMORY_COST",
        "ARGON2_PARALLELISM",
        *(f.name.upper() for f in dataclasses.fields(Throttles)),
        "MAIL_SERVER",
        "MAIL_PORT",
        "MAIL_USERNAME",
        "MAIL_PASSWORD",
        "MAIL_USE_TLS",
        "MAIL_USE_SSL",
        "MAIL_TIMEOUT",
        "MAIL_DEFAULT_SENDER",
        "MAIL_MAX_ATTEMPTS",
        "OIDC_KEY_ENCRYPTION_KEY",
        "OIDC_ACCESS_TOKEN_LIFETIME",
        "OIDC_ID_TOKEN_LIFETIME",
        "OIDC_REFRESH_TOKEN_LIFETIME",
        "OIDC_CODE_LIFETIME",
        "OIDC_BACKCHANNEL_TIMEOUT",
        "OIDC_BACKCHANNEL_MAX_ATTEMPTS",
        "SESSION_IDLE_MINUTES",
        "SESSION_ABSOLUTE_HOURS",
        "ACTIVATION_TOKEN_MAX_AGE",
        "RESET_TOKEN_MAX_AGE",
        "PROXY_FIX_HOPS",
        "SQLITE_BUSY_TIMEOUT_MS",
        "SUPPORT_EMAIL",
        "MFA_RECENT_AUTH_SECONDS",
        "MFA_PENDING_LOGIN_SECONDS",
        "MFA_TOTP_ISSUER",
        "WEBAUTHN_RP_ID",
        "LEGAL_PUBLISHER",
        "LEGAL_HOST",
    }
)


def settings() -> Settings:
    """The current app's settings."""
    value: Settings = current_app.extensions[SETTINGS_EXTENSION]
    return value


class _EnvReader:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def text(self, name: str) -> str | None:
        assert name in ENVIRONMENT_VARIABLES, f"{name} missing from ENVIRONMENT_VARIABLES"
        raw = self.env.get(name)
        return None if raw is None or raw == "" else str(raw)

    def integer(self, name: str, default: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigurationError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")
