"""Rows the logout and « Mon compte » tests build directly (clients, grants, consents, the
sessions' clients), so they do not depend on the authorization flow of another module."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from werkzeug.wrappers import Request, Response

from idp.accounts.models import User, UserSession
from idp.database import utcnow
from idp.extensions import db
from idp.oidc.account import record_session_client
from idp.oidc.models import Consent, Grant, OAuthClient
from tests.helpers import serving

_seq = count(1)


def create_oauth_client(
    name: str | None = None,
    *,
    first_party: bool = False,
    post_logout_redirect_uris: list[str] | None = None,
    backchannel_logout_uri: str | None = None,
    redirect_uris: list[str] | None = None,
    id_token_alg: str = "RS256",
    disabled: bool = False,
) -> OAuthClient:
    n = next(_seq)
    client = OAuthClient(
        name=name or f"Site partenaire {n}",
        redirect_uris=redirect_uris or [f"https://rp{n}.example/callback"],
        post_logout_redirect_uris=post_logout_redirect_uris or [],
        backchannel_logout_uri=backchannel_logout_uri,
        first_party=first_party,
        id_token_signed_response_alg=id_token_alg,
        disabled_at=utcnow() if disabled else None,
    )
    db.session.add(client)
    db.session.commit()
    return client


def create_grant(
    user: User, client: OAuthClient, user_session: UserSession | None, *, scope: str = "openid"
) -> Grant:
    grant = Grant(
        client_id=client.id,
        user_id=user.id,
        session_public_id=user_session.public_id if user_session else None,
        scope=scope,
        auth_time=utcnow(),
    )
    db.session.add(grant)
    db.session.commit()
    return grant


def use_session_for(user_session: UserSession, *clients: OAuthClient) -> None:
    for client in clients:
        record_session_client(db.session, user_session.public_id, client)
    db.session.commit()


def create_consent(user: User, client: OAuthClient, scopes: list[str]) -> Consent:
    consent = Consent(user_id=user.id, client_id=client.id, scopes=scopes)
    db.session.add(consent)
    db.session.commit()
    return consent


# --- ID token hints, signed as the IdP signs ID tokens (or not) --------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_id_token(
    client_id: str,
    *,
    sub: str,
    sid: str | None,
    alg: str = "RS256",
    lifetime: int = 600,
    header: dict[str, Any] | None = None,
    without: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """An ID token as the IdP issues it (our issuer, our current key); claims overridable,
    `without` names claims to leave out."""
    from joserfc import jwt

    from idp.config import settings
    from idp.oidc.keys import current_signing_key

    key = current_signing_key(alg)
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": settings().issuer,
        "sub": sub,
        "aud": client_id,
        "iat": now,
        "exp": now + lifetime,
        "auth_time": now,
        **({"sid": sid} if sid else {}),
        **claims,
    }
    for name in without:
        body.pop(name, None)
    return jwt.encode({"alg": alg, "kid": key.kid, **(header or {})}, body, key, algorithms=[alg])


def unsigned_token(claims: dict[str, Any], header: dict[str, Any]) -> str:
    """A JWS with whatever header, and an empty signature (alg none)."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


def hmac_token(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """HS256 with `secret` as the key (the "public key as HMAC secret" attack)."""
    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'kid': kid, 'typ': 'JWT'}).encode())}."
        f"{b64(json.dumps(claims).encode())}"
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def token_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    head, body, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(head))),
        json.loads(base64.urlsafe_b64decode(pad(body))),
        signature,
    )


# --- a relying party's back-channel logout endpoint on loopback ----------------------------------


@dataclass
class LogoutReceiver:
    """What a back-channel logout URI received. `status` is its answer; `delay` seconds are
    slept before answering (a hung site)."""

    status: int = 200
    delay: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        form = request.form.to_dict(flat=False)
        with self.lock:
            self.received.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "content_type": request.content_type,
                    "form": form,
                }
            )
        if self.delay:
            time.sleep(self.delay)
        response = Response(b"", status=self.status)
        if self.status in (301, 302, 303, 307, 308):
            response.headers["Location"] = "http://127.0.0.1:9/elsewhere"
        return response(environ, start_response)

    def tokens(self) -> list[str]:
        with self.lock:
            return [r["form"]["logout_token"][0] for r in self.received]


@contextmanager
def logout_receiver(**options: Any) -> Iterator[tuple[LogoutReceiver, str]]:
    """A live back-channel logout endpoint on 127.0.0.1; yields it and its URI."""
    receiver = LogoutReceiver(**options)
    with serving(receiver) as base:
        yield receiver, base + "/backchannel-logout"
