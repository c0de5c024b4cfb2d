"""Throttling of guesses (SECURITY.md 2 and 8), on Flask-Limiter's storage.

Route decorators count every request; guessing must count failures only, per account and per
client IP, so this module drives the `limits` strategy behind Flask-Limiter directly. The storage
is Redis when REDIS_URL is set (shared by every process), memory otherwise. Several limits in one
setting ("5 per 15 minutes;10 per hour;20 per day") make the delay grow with persistence.

Keys use the canonical username whether or not an account exists, so a lock reveals nothing.
"""

from __future__ import annotations

import hashlib
import time

from flask import current_app
from limits import RateLimitItem, parse_many

from idp.accounts.errors import TooManyAttempts
from idp.extensions import limiter


def _key(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class Throttle:
    """A named family of limits (a config key) applied to one identifier at a time."""

    def __init__(self, name: str, config_key: str) -> None:
        self.name = name
        self.config_key = config_key

    def _items(self) -> list[RateLimitItem]:
        return list(parse_many(current_app.config[self.config_key]))

    def _enabled(self) -> bool:
        return bool(current_app.config.get("RATELIMIT_ENABLED", True))

    def check(self, identifier: str) -> None:
        """Raise TooManyAttempts if any limit is exhausted for this identifier."""
        if not self._enabled():
            return
        strategy = limiter.limiter
        retry_after = 0.0
        for item in self._items():
            if not strategy.test(item, self.name, _key(identifier)):
                reset_at = strategy.get_window_stats(item, self.name, _key(identifier)).reset_time
                retry_after = max(retry_after, reset_at - time.time())
        if retry_after > 0:
            raise TooManyAttempts(int(retry_after) + 1)

    def hit(self, identifier: str) -> None:
        """Count one event (a failure, an email sent) against every limit."""
        if not self._enabled():
            return
        for item in self._items():
            limiter.limiter.hit(item, self.name, _key(identifier))

    def consume(self, identifier: str) -> None:
        """Check then count: for actions limited whether they succeed or not."""
        self.check(identifier)
        self.hit(identifier)

    def clear(self, identifier: str) -> None:
        if not self._enabled():
            return
        for item in self._items():
            limiter.limiter.clear(item, self.name, _key(identifier))


login_failures_per_account = Throttle("login-fail-account", "LOGIN_FAILURES_PER_ACCOUNT")
login_failures_per_ip = Throttle("login-fail-ip", "LOGIN_FAILURES_PER_IP")
email_sends_per_account = Throttle("email-account", "EMAIL_SENDS_PER_ACCOUNT")
email_sends_per_ip = Throttle("email-ip", "EMAIL_SENDS_PER_IP")
signups_per_ip = Throttle("signup-ip", "SIGNUPS_PER_IP")
