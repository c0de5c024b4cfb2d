"""`idp mfa …`: the Order's per-profile MFA policy (ADR 0022). Placeholder until the step-up
work fills it."""

from __future__ import annotations

from flask.cli import AppGroup

mfa_cli = AppGroup("mfa", help="Second-factor policies.")
