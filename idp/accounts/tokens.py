"""Signed, purpose-bound, expiring tokens for emails (docs/security.md 8 and 9).

One `TokenService` per purpose: the purpose is the itsdangerous salt, so an activation token is
never a valid reset token. Single use comes from a fingerprint of the state the token is meant
to change (the status for activation, the password hash for reset): once the change is made the
fingerprint no longer matches.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from idp.accounts.errors import TokenExpired, TokenInvalid


def state_fingerprint(*parts: str | None) -> str:
    """Short digest of account state; a token carrying it dies when the state changes."""
    digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()
    return digest[:22]


def fingerprints_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class TokenService:
    secret_key: str
    purpose: str
    max_age: int

    @property
    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt=f"sesame.{self.purpose}")

    def dumps(self, payload: dict[str, Any]) -> str:
        return self._serializer.dumps(payload)

    def loads(self, token: str) -> dict[str, Any]:
        if not token or len(token) > 1024:
            raise TokenInvalid()
        try:
            data = self._serializer.loads(token, max_age=self.max_age)
        except SignatureExpired as exc:
            raise TokenExpired() from exc
        except BadSignature as exc:
            raise TokenInvalid() from exc
        if not isinstance(data, dict):
            raise TokenInvalid()
        return data
