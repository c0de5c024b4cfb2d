"""What the OpenID provider stores: clients, signing keys, authorization codes, grants (token
families), refresh tokens, revoked access tokens, consents and back-channel logout deliveries.

Secrets never stored in clear: client secrets, codes and refresh tokens are SHA-256 digests
(hex, 64 chars) of the value handed out; access tokens are RFC 9068 JWTs that are not stored at
all, only their revocation (`RevokedAccessToken`, kept until the token would have expired) and
their grant's (`Grant.revoked_at`). Private keys are encrypted at rest (idp/oidc/keys.py).
See docs/adr/0021-oidc-provider.md.
"""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.database import UTCDateTime, new_public_id, sql_in_list, utcnow
from idp.extensions import db

DIGEST_LENGTH = 64  # hex SHA-256


def new_client_id() -> str:
    """128 random bits in hex: never starts with `-`, so a command line never reads a client_id
    as an option (`idp clients remove <client_id>`)."""
    return secrets.token_hex(16)


class ClientAuthMethod(enum.StrEnum):
    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name
    CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105 - a method name
    PRIVATE_KEY_JWT = "private_key_jwt"
    NONE = "none"  # public clients (PKCE required)


class OAuthClient(db.Model):  # type: ignore[name-defined]
    """A relying party (partner site). `client_id` is public and never changes."""

    __tablename__ = "oauth_clients"
    __table_args__ = (
        CheckConstraint(
            f"token_endpoint_auth_method IN ({sql_in_list(ClientAuthMethod)})",
            name="auth_method_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True, default=new_client_id)
    name: Mapped[str] = mapped_column(String(120))
    secret_digest: Mapped[str | None] = mapped_column(String(DIGEST_LENGTH))  # None: public
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(32), default=ClientAuthMethod.CLIENT_SECRET_BASIC.value
    )
    jwks_uri: Mapped[str | None] = mapped_column(String(500))  # private_key_jwt
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)  # matched exactly
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    grant_types: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["authorization_code", "refresh_token"]
    )
    scopes: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["openid", "profile", "email", "offline_access"]
    )
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    first_party: Mapped[bool] = mapped_column(default=False)  # skips consent
    # Profiles (idp.profiles.catalog values) allowed to use the client; empty: everyone.
    allowed_profiles: Mapped[list[str]] = mapped_column(JSON, default=list)
    # "MFA always": every login at this client needs a second factor (ADR 0022).
    require_mfa: Mapped[bool] = mapped_column(default=False)
    # Delegations (ADR 0025): a service a delegation may name; and a site whose
    # `allowed_profiles` also admit the holders of a delegation from such a profile.
    accepts_delegations: Mapped[bool] = mapped_column(default=False)
    admits_delegates: Mapped[bool] = mapped_column(default=False)
    # RFC 8693 token exchange: the token types this client may present (empty: none).
    exchange_subject_token_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    exchange_actor_token_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    # RFC 8707: the resources (absolute URIs, matched exactly) the client may name at /token;
    # they join its access tokens' `aud` (ADR 0028). Empty: none.
    resources: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == ClientAuthMethod.NONE.value

    def __repr__(self) -> str:
        return f"<OAuthClient {self.client_id} {self.name!r}>"


class KeyState(enum.StrEnum):
    NEXT = "next"  # published in JWKS, signs nothing yet
    CURRENT = "current"  # signs (one per algorithm)
    PREVIOUS = "previous"  # published until every token it signed has expired
    RETIRED = "retired"  # no longer published


class SigningKey(db.Model):  # type: ignore[name-defined]
    __tablename__ = "oidc_signing_keys"
    __table_args__ = (
        CheckConstraint(f"state IN ({sql_in_list(KeyState)})", name="state_known"),
        Index("ix_oidc_signing_keys_alg_state", "alg", "state"),
        # At most one current and one next key per algorithm: two processes creating the
        # first keys at once, or rotating at once, cannot both win (idp/oidc/keys.py).
        Index(
            "uq_oidc_signing_keys_one_current",
            "alg",
            unique=True,
            sqlite_where=text("state = 'current'"),
            postgresql_where=text("state = 'current'"),
        ),
        Index(
            "uq_oidc_signing_keys_one_next",
            "alg",
            unique=True,
            sqlite_where=text("state = 'next'"),
            postgresql_where=text("state = 'next'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(8))  # RS256 or ES256
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_encrypted: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token of the PEM
    state: Mapped[str] = mapped_column(String(16), default=KeyState.NEXT.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # became previous


class AuthorizationCode(db.Model):  # type: ignore[name-defined]
    """A code lives 60 s and is redeemed once: `used_at` is set by one conditional UPDATE; a
    second redemption revokes the grant the first one created (`grant_id`)."""

    __tablename__ = "oauth_authorization_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_digest: Mapped[str] = mapped_column(String(DIGEST_LENGTH), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_public_id: Mapped[str] = mapped_column(String(32))  # the IdP session: `sid`
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    claims_request: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    acr: Mapped[str] = mapped_column(String(64), default="")
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_grants.id", ondelete="SET NULL"))


class Grant(db.Model):  # type: ignore[name-defined]
    """A token family: what one code redemption (or one client_credentials request) started.
    Every refresh token and access token of the family names it; revoking it revokes them all
    at once (reuse of a refresh token, reuse of a code, consent withdrawn, session ended)."""

    __tablename__ = "oauth_grants"
    __table_args__ = (
        Index("ix_oauth_grants_user_id_client_id", "user_id", "client_id"),
        Index("ix_oauth_grants_session_public_id", "session_public_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_public_id: Mapped[str | None] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(Text)
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime())  # kept by refreshes
    acr: Mapped[str] = mapped_column(String(64), default="")
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(String(40))

    client: Mapped[OAuthClient] = relationship()


class RefreshToken(db.Model):  # type: ignore[name-defined]
    """Rotated on every use: the use claims the row (`used_at` set by one conditional UPDATE);
    a token presented again after its use revokes its whole grant."""

    __tablename__ = "oauth_refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(DIGEST_LENGTH), unique=True)
    grant_id: Mapped[int] = mapped_column(
        ForeignKey("oauth_grants.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    grant: Mapped[Grant] = relationship()


class RevokedAccessToken(db.Model):  # type: ignore[name-defined]
    """An access token revoked on its own (RFC 7009): its `jti`, until it expires anyway."""

    __tablename__ = "oauth_revoked_access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Consent(db.Model):  # type: ignore[name-defined]
    """What a user allowed a third-party client to read; listed and revocable on « Mon compte »
    (« Applications connectées »). Revoking it revokes the client's grants of the user."""

    __tablename__ = "oauth_consents"
    __table_args__ = (Index("uq_oauth_consents_user_client", "user_id", "client_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    client: Mapped[OAuthClient] = relationship()


class SessionClient(db.Model):  # type: ignore[name-defined]
    """Which clients an IdP session was used for: « Mon compte » names them, and a logout sends
    each one a back-channel logout token."""

    __tablename__ = "oidc_session_clients"
    __table_args__ = (
        Index(
            "uq_oidc_session_clients_session_client",
            "session_public_id",
            "client_id",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_public_id: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    client: Mapped[OAuthClient] = relationship()


class BackchannelLogout(db.Model):  # type: ignore[name-defined]
    """A logout token waiting to be POSTed to a client's back-channel logout URI: an outbox
    like the email one (idp/mail), so a slow or dead partner site never blocks a logout."""

    __tablename__ = "oidc_backchannel_logouts"
    __table_args__ = (Index("ix_oidc_backchannel_logouts_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    session_public_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(300))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    given_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    client: Mapped[OAuthClient] = relationship()
