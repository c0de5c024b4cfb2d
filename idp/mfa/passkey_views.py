"""Placeholder: filled by the work on passkeys (WebAuthn). ADR 0022."""

from __future__ import annotations

from idp.mfa.web import bp  # noqa: F401
