"""Throttling of guesses and of email requests (docs/security.md 2, 8 and 10), on the storage of
Flask-Limiter (Redis when REDIS_URL is set, shared by every process; memory otherwise).

A throttle is a named family of limits ("5 per 15 minutes;10 per hour;20 per day": the delay
grows with persistence) applied to one identifier at a time (a canonical username, an IP).
It counts in fixed windows with atomic increments, so that a slot is *taken* before the guarded
work and given back after it when that work should not count (a successful login):

    with login_failures_per_account.attempt(username) as slot:
        verify(...)          # raises -> the failure stays counted
        slot.refund()        # success -> not a failure

Sixteen concurrent guesses against a limit of five get five through, never more: the check and
the count are one atomic INCR (the former check-then-hit let eight through). Keys hash the
identifier, whether or not an account exists, so a lock reveals nothing. See ADR 0006.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from limits import RateLimitItem, parse_many

from idp.config import settings
from idp.errors import DomainError
from idp.extensions import limiter


class TooManyAttempts(DomainError):
    """Raised when throttled; `retry_after` is in seconds."""

    status = 429

    def __init__(self, retry_after: int, hint: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        minutes = max(1, -(-self.retry_after // 60))
        message = str(
            lazy_ngettext(
                "Trop de tentatives. Réessayez dans %(num)d minute.",
                "Trop de tentatives. Réessayez dans %(num)d minutes.",
                minutes,
            )
        )
        super().__init__(f"{message} {hint}" if hint else message)


RESET_UNLOCKS = _l(
    "Vous pouvez aussi choisir un nouveau mot de passe avec « Mot de passe oublié » : "
    "cela débloque aussi le compte."
)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


@dataclass
class Slot:
    """A taken slot; `refund()` gives it back (the attempt did not count)."""

    throttle: Throttle
    identifier: str
    windows: list[tuple[str, int]]
    refunded: bool = False

    def refund(self) -> None:
        if self.refunded:
            return
        self.refunded = True
        storage = limiter.storage
        for key, expiry in self.windows:
            storage.incr(key, expiry, amount=-1)


class Throttle:
    """A named family of limits (a `Throttles` setting) applied to one identifier at a time."""

    def __init__(self, name: str, setting: str, *, hint: str | None = None) -> None:
        self.name = name
        self.setting = setting
        self.hint = hint

    def _items(self) -> list[RateLimitItem]:
        return list(parse_many(getattr(settings().throttles, self.setting)))

    def _enabled(self) -> bool:
        return settings().ratelimit_enabled

    def _key(self, item: RateLimitItem, identifier: str, window: int) -> str:
        return f"{self.name}/{item.amount}/{item.get_expiry()}/{_digest(identifier)}/{window}"

    def acquire(self, identifier: str) -> Slot:
        """Take a slot in every limit, atomically; raise TooManyAttempts (and take nothing)
        when one of them is full."""
        slot = Slot(self, identifier, [])
        if not self._enabled():
            return slot
        now = time.time()
        retry_after = 0.0
        storage = limiter.storage
        for item in self._items():
            period = item.get_expiry()
            window = math.floor(now / period)
            key = self._key(item, identifier, window)
            expiry = max(1, math.ceil((window + 1) * period - now))
            slot.windows.append((key, expiry))
            if storage.incr(key, expiry) > item.amount:
                retry_after = max(retry_after, (window + 1) * period - now)
        if retry_after > 0:
            slot.refund()
            raise TooManyAttempts(math.ceil(retry_after), str(self.hint) if self.hint else None)
        return slot

    @contextlib.contextmanager
    def attempt(self, identifier: str) -> Iterator[Slot]:
        """`acquire`, for a block: an exception inside keeps the slot taken (a failure)."""
        yield self.acquire(identifier)

    def consume(self, identifier: str) -> None:
        """Count one action that is limited whether it succeeds or not (an email request)."""
        self.acquire(identifier)

    def is_exhausted(self, identifier: str) -> bool:
        """Whether the next `acquire` would be refused (read only)."""
        if not self._enabled():
            return False
        now = time.time()
        storage = limiter.storage
        for item in self._items():
            period = item.get_expiry()
            key = self._key(item, identifier, math.floor(now / period))
            if storage.get(key) >= item.amount:
                return True
        return False

    def clear(self, identifier: str) -> None:
        """Forget the identifier's count in the current windows (a password reset unlocks)."""
        if not self._enabled():
            return
        now = time.time()
        for item in self._items():
            period = item.get_expiry()
            limiter.storage.clear(self._key(item, identifier, math.floor(now / period)))


login_failures_per_account = Throttle(
    "login-fail-account", "login_failures_per_account", hint=RESET_UNLOCKS
)
login_failures_per_ip = Throttle("login-fail-ip", "login_failures_per_ip")
email_sends_per_account = Throttle("email-account", "email_sends_per_account")
email_sends_per_ip = Throttle("email-ip", "email_sends_per_ip")
signups_per_ip = Throttle("signup-ip", "signups_per_ip")
rejected_forms_per_ip = Throttle("rejected-form-ip", "rejected_forms_per_ip")
