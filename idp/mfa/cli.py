"""`idp users reset-mfa USERNAME`: the Order's procedure for a user who lost every factor and
every recovery code (ADR 0022), run once the administrators verified the person's identity
out of band. Audited with the CLI as actor; the user is told by email."""

from __future__ import annotations

import click


@click.command("reset-mfa")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset_mfa(username: str, yes: bool) -> None:
    """Remove every second factor of USERNAME (after verifying their identity out of band)."""
    from idp.accounts import services
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.mfa import factors

    user = services.get_user_by_username(db.session, username)
    if user is None:
        raise click.ClickException(f"Aucun compte avec l'identifiant « {username} ».")
    held = factors.factors_of(db.session, user)
    if not held.has_second_factor and not held.recovery_codes_left and not user.mfa_always:
        click.echo(f"{user.username} : aucun second facteur, rien à retirer.")
        return
    if not yes:
        click.confirm(
            f"Retirer tous les seconds facteurs de « {user.username} » ({user.email}) ? "
            "L'identité de la personne a-t-elle été vérifiée ?",
            abort=True,
        )
    factors.reset_all(db.session, user, actor=CLI)
    db.session.commit()
    click.echo(
        f"{user.username} : seconds facteurs retirés (application d'authentification : "
        f"{'oui' if held.totp else 'non'}, clés d'accès : {len(held.passkeys)}, codes de "
        f"secours : {held.recovery_codes_left}) ; un email l'en informe."
    )
