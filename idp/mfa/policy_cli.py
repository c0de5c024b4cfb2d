"""`idp mfa policy`: the Order's per-profile MFA policy (ADR 0022). Without options, lists every
profile and whether its holders need a second factor at partner sites; `--profile P --on` /
`--off` changes one (audited `mfa_profile_policy_changed`, actor: the CLI). An unknown profile
is refused with a French line and exit status 1."""

from __future__ import annotations

from typing import IO, Any

import click
from flask.cli import AppGroup


class Refused(click.ClickException):
    """A French line on stderr, exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Erreur : {self.format_message()}", err=True)


mfa_cli = AppGroup("mfa", help="Second-factor policies.")


@mfa_cli.command("policy")
@click.option("--profile", default=None, help="A profile code (idp.profiles.catalog).")
@click.option(
    "--on/--off",
    "required",
    default=None,
    help="Holders of the profile need (or no longer need) a second factor at partner sites.",
)
def policy(profile: str | None, required: bool | None) -> None:
    """List the per-profile MFA policy, or change it for one profile."""
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.mfa import policy as mfa_policy
    from idp.profiles.catalog import Profile

    if (profile is None) != (required is None):
        raise click.UsageError("--profile et --on/--off vont ensemble.")
    if profile is not None and required is not None:
        try:
            changed = mfa_policy.set_profile_policy(db.session, profile, required, actor=CLI)
        except (mfa_policy.UnknownProfile, mfa_policy.PolicyChangedMeanwhile) as error:
            db.session.rollback()
            raise Refused(error.message) from error
        db.session.commit()
        state = "exigée" if required else "non exigée"
        note = "" if changed else " (inchangé)"
        click.echo(f"{profile}\tsécurité avancée {state}{note}")
        return
    policed = mfa_policy.profiles_requiring_mfa(db.session)
    for known in Profile:
        state = "exigée" if known.value in policed else "non exigée"
        click.echo(f"{known.value}\tsécurité avancée {state}")
