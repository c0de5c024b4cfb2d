"""The demonstration data of `make run`: loaded through the IdP's own CLI (`demo load`), so the
development server exercises the same code path an operator would."""

from __future__ import annotations

from idp.accounts.models import UserStatus
from idp.demo import DEMO_ACCOUNTS, DEMO_SIGNUP_HINTS, DemoAccount


def active_demo_account() -> DemoAccount:
    """The account a new developer logs in with (profile « Autre », active)."""
    return next(a for a in DEMO_ACCOUNTS if a.status == UserStatus.ACTIVE)


def pending_demo_account() -> DemoAccount | None:
    """An account waiting for activation: its email lands in the local mailbox."""
    return next((a for a in DEMO_ACCOUNTS if a.status == UserStatus.PENDING), None)


def council_demo_account() -> str:
    """The username of the demo council's import administrator."""
    return next(a.username for a in DEMO_ACCOUNTS if a.council_admin is not None)


def signup_hints() -> tuple[tuple[str, str, str, str], ...]:
    """(profile, letters to type, birth date, what happens) for trying signup by profile."""
    return DEMO_SIGNUP_HINTS


def load_command() -> list[str]:
    """Arguments after `python -m flask --app idp:create_app`."""
    return ["demo", "load"]
