"""The demonstration data of `make run`: loaded through the IdP's own CLI (`demo load`), so the
development server exercises the same code path an operator would."""

from __future__ import annotations

from idp.accounts.models import UserStatus
from idp.demo import DEMO_ACCOUNTS, DemoAccount


def active_demo_account() -> DemoAccount:
    """The account a new developer logs in with (profile « Autre », active)."""
    return next(a for a in DEMO_ACCOUNTS if a.status == UserStatus.ACTIVE)


def pending_demo_account() -> DemoAccount | None:
    """An account waiting for activation: its email lands in the local mailbox."""
    return next((a for a in DEMO_ACCOUNTS if a.status == UserStatus.PENDING), None)


def load_command() -> list[str]:
    """Arguments after `python -m flask --app idp:create_app`."""
    return ["demo", "load"]
