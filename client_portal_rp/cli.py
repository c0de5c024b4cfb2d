"""The `portal` console script: Flask's CLI (run, routes, shell) for the client portal."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup


def _create_app() -> Flask:
    from client_portal_rp import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def main() -> None:
    """Client portal of accounting firms (a relying party of Sésame)."""


def register_commands(app: Flask) -> None:
    """The portal's own commands (none yet: its models and OIDC client come later)."""
