"""Rate limits per token family (`AccessToken.limit_key`), with the IETF `RateLimit-Policy` and
`RateLimit` response headers (draft-ietf-httpapi-ratelimit-headers) and 429 + `Retry-After` past
the limit. Counted by the `limits` library (Flask-Limiter's own) in Redis when REDIS_URL is set,
in memory otherwise (one process: development and the SQLite tests)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from flask import Flask, current_app
from limits import RateLimitItemPerMinute
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

log = logging.getLogger("client_portal_rp.api")
POLICY_NAME = "jeton"
EXTENSION = "portal.api.ratelimit"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_in: int  # seconds until the window starts again
    counted: bool = True  # False: the counter store was unreachable (no headers then)

    def headers(self) -> dict[str, str]:
        if not self.counted:
            return {}
        return {
            "RateLimit-Policy": f'"{POLICY_NAME}";q={self.limit};w=60',
            "RateLimit": f'"{POLICY_NAME}";r={self.remaining};t={self.reset_in}',
        }


class TokenRateLimiter:
    def __init__(self, storage: Storage, per_minute: int) -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self.limiter = FixedWindowRateLimiter(storage)

    def hit(self, key: str) -> Verdict:
        """Count one request. When the store (Redis) cannot be reached the request is let
        through uncounted and logged: this limit shares the API fairly, it guards no secret
        (the IdP's throttles, which do, fail closed), and a Redis restart must not take the
        API down with it (docs/security.md 55)."""
        try:
            allowed = self.limiter.hit(self.item, "portal-api", key)
            stats = self.limiter.get_window_stats(self.item, "portal-api", key)
        except Exception as error:  # redis' ConnectionError, TimeoutError...
            log.warning("API rate limit not counted (store unreachable): %s", error)
            return Verdict(True, self.item.amount, self.item.amount, 60, counted=False)
        reset_in = max(0, math.ceil(stats.reset_time - time.time()))
        return Verdict(allowed, self.item.amount, max(0, stats.remaining), reset_in)


def init_rate_limiter(app: Flask) -> None:
    storage = storage_from_string(app.config["PORTAL_RATELIMIT_STORAGE_URL"])
    assert isinstance(storage, Storage), "a synchronous storage (memory://, redis://)"
    app.extensions[EXTENSION] = TokenRateLimiter(storage, int(app.config["PORTAL_API_RATE_LIMIT"]))


def rate_limiter() -> TokenRateLimiter:
    limiter: TokenRateLimiter = current_app.extensions[EXTENSION]
    return limiter
