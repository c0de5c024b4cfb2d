"""A relying party's settings: `<PREFIX>_*` environment variables into its Flask config, then
one frozen `RelyingPartySettings` the views read.

Each site has its own prefix (`PORTAL_` for the portal, `PARTNER_` for the sample sites) so the
sites and the IdP can run side by side from one environment. The variables are listed in
docs/configuration.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

AUTH_METHODS = ("client_secret_basic", "client_secret_post")
DEFAULT_SCOPES = "openid profile email ordre"  # the IdP drops what a client may not have
DEFAULT_ISSUER = "http://127.0.0.1:5000"
DEFAULT_SESSION_HOURS = 12


class RelyingPartyConfigError(RuntimeError):
    """The environment does not describe a runnable relying party."""


def _positive_int(raw: str, name: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise RelyingPartyConfigError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


def rp_config_from_env(
    env: Mapping[str, str], prefix: str, *, default_base_url: str, production: bool
) -> dict[str, Any]:
    """The Flask config entries of a relying party (keys `<prefix>IDP_ISSUER`, ...).

    In production the client must be registered (id and secret set) and both URLs be https.
    Elsewhere an unregistered site still serves its pages, with login shown as unavailable.
    """
    issuer = env.get(f"{prefix}IDP_ISSUER", DEFAULT_ISSUER).rstrip("/")
    base_url = env.get(f"{prefix}BASE_URL", default_base_url).rstrip("/")
    client_id = env.get(f"{prefix}CLIENT_ID", "")
    client_secret = env.get(f"{prefix}CLIENT_SECRET", "")
    auth_method = env.get(f"{prefix}CLIENT_AUTH_METHOD", "client_secret_basic")
    if auth_method not in AUTH_METHODS:
        raise RelyingPartyConfigError(
            f"{prefix}CLIENT_AUTH_METHOD must be one of {', '.join(AUTH_METHODS)}"
        )
    if production:
        if not base_url.startswith("https://") or not issuer.startswith("https://"):
            raise RelyingPartyConfigError(
                f"{prefix}BASE_URL and {prefix}IDP_ISSUER must be https:// URLs in production"
            )
        if not client_id or not client_secret:
            raise RelyingPartyConfigError(
                f"{prefix}CLIENT_ID and {prefix}CLIENT_SECRET are required in production "
                "(`idp clients add ... --json` prints them)"
            )
    return {
        f"{prefix}IDP_ISSUER": issuer,
        f"{prefix}BASE_URL": base_url,
        f"{prefix}CLIENT_ID": client_id,
        f"{prefix}CLIENT_SECRET": client_secret,
        f"{prefix}CLIENT_AUTH_METHOD": auth_method,
        f"{prefix}SCOPES": " ".join(env.get(f"{prefix}SCOPES", DEFAULT_SCOPES).split()),
        f"{prefix}DATABASE_URL": env.get(f"{prefix}DATABASE_URL", ""),
        f"{prefix}SESSION_HOURS": _positive_int(
            env.get(f"{prefix}SESSION_HOURS", str(DEFAULT_SESSION_HOURS)),
            f"{prefix}SESSION_HOURS",
        ),
    }


@dataclass(frozen=True)
class RelyingPartySettings:
    """What the login views need, read once from the app's config."""

    issuer: str
    base_url: str
    client_id: str
    client_secret: str
    auth_method: str
    scopes: str
    database_url: str
    session_hours: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any], prefix: str) -> RelyingPartySettings:
        return cls(
            issuer=str(config[f"{prefix}IDP_ISSUER"]).rstrip("/"),
            base_url=str(config[f"{prefix}BASE_URL"]).rstrip("/"),
            client_id=str(config.get(f"{prefix}CLIENT_ID") or ""),
            client_secret=str(config.get(f"{prefix}CLIENT_SECRET") or ""),
            auth_method=str(config.get(f"{prefix}CLIENT_AUTH_METHOD") or AUTH_METHODS[0]),
            scopes=str(config.get(f"{prefix}SCOPES") or DEFAULT_SCOPES),
            database_url=str(config.get(f"{prefix}DATABASE_URL") or ""),
            session_hours=int(config.get(f"{prefix}SESSION_HOURS") or DEFAULT_SESSION_HOURS),
        )

    @property
    def configured(self) -> bool:
        """A registered client: login can be offered."""
        return bool(self.client_id and self.client_secret)

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.base_url}/logged-out"

    @property
    def backchannel_logout_uri(self) -> str:
        return f"{self.base_url}/backchannel-logout"

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")
