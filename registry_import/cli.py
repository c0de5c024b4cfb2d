"""The `registry-import` console script.

The import itself (reading and validating the councils' files, diff, apply) comes in a later
issue; until then the command says so and exits with status 2, so a scheduled job that calls it
fails loudly instead of silently importing nothing.
"""

from __future__ import annotations

import click

NOT_AVAILABLE = (
    "L'import du registre n'est pas encore disponible. "
    "(registry import: not available yet, see the project's issues.)"
)
EXIT_NOT_AVAILABLE = 2


@click.group(invoke_without_command=True, add_help_option=True)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Import the registry of the Ordre des experts-comptables into Sésame (not available yet)."""
    if ctx.invoked_subcommand is None:
        click.echo(NOT_AVAILABLE, err=True)
        ctx.exit(EXIT_NOT_AVAILABLE)
