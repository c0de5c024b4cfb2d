"""`idp users reset-mfa USERNAME`: the Order's procedure for a user who lost every factor
(ADR 0022). Placeholder until the security-page work fills it."""

from __future__ import annotations

import click


@click.command("reset-mfa")
@click.argument("username")
def reset_mfa(username: str) -> None:
    """Remove every second factor of USERNAME (after verifying their identity out of band)."""
    raise click.ClickException("not built yet")
