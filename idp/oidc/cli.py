"""`idp clients ...` and `idp keys ...`: the operator's commands for relying parties and signing
keys. Changes go through idp/oidc/clients.py and idp/oidc/keys.py and leave an audit row
whose actor is "cli".

Refusals print one French line per refused field on stderr and exit with status 2, never a
traceback. A client secret is printed once, by `add` and `rotate-secret`: it is not stored.
"""

from __future__ import annotations

import json
from typing import IO, Any

import click
from flask import Flask
from flask.cli import AppGroup

from idp.errors import DomainError

# NewClient field -> the option that sets it (for the refusal lines).
OPTION_OF_FIELD = {
    "name": "--name",
    "redirect_uris": "--redirect-uri",
    "post_logout_redirect_uris": "--post-logout-uri",
    "allowed_profiles": "--allowed-profiles",
    "backchannel_logout_uri": "--backchannel-logout-uri",
    "auth_method": "--auth-method",
    "jwks_uri": "--jwks-uri",
    "id_token_signed_response_alg": "--id-token-alg",
    "grant_types": "--grant-type",
    "scopes": "--scope",
    "exchange_subject_token_types": "--exchange-subject-token-types",
    "exchange_actor_token_types": "--exchange-actor-token-types",
    "resources": "--resource",
}


class Refused(click.ClickException):
    """Bad input: French lines on stderr, exit status 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Erreur : {self.format_message()}", err=True)


def _refusal(error: DomainError) -> Refused:
    errors: dict[str, list[str]] = getattr(error, "errors", None) or {}
    if not errors:
        return Refused(error.message)
    lines = [
        f"{OPTION_OF_FIELD.get(name, name)} : {message}"
        for name, messages in errors.items()
        for message in messages
    ]
    return Refused(error.message + "\n" + "\n".join(lines))


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _exchange_options(command: Any) -> Any:
    """RFC 8693 allowlists (ADR 0025) on `add` and `update`: comma-separated token types
    (`access_token` or its URN); an empty value empties the list (exchange refused)."""
    for role in ("actor", "subject"):
        command = click.option(
            f"--exchange-{role}-token-types",
            f"exchange_{role}_token_types",
            default=None,
            help=f"Token types the client may present as {role}_token (token-exchange).",
        )(command)
    return command


def _set_exchange_types(client: Any, subject: str | None, actor: str | None) -> list[str]:
    """`update`'s allowlist changes; one output line per list named."""
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.oidc import clients

    changes = clients.set_exchange_token_types(
        db.session,
        client,
        CLI,
        subject_types=_csv(subject) if subject is not None else None,
        actor_types=_csv(actor) if actor is not None else None,
    )
    lines = []
    for role, value in (("subject", subject), ("actor", actor)):
        if value is not None:
            name = f"exchange_{role}_token_types"
            same = "" if name in changes else " (inchangé)"
            lines.append(f"{name} {','.join(getattr(client, name)) or '-'}{same}")
    return lines


def _describe(client: Any) -> dict[str, Any]:
    """What `show` and `list --json` print (never the secret's digest)."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "auth_method": client.token_endpoint_auth_method,
        "public": client.is_public,
        "first_party": client.first_party,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "jwks_uri": client.jwks_uri,
        "grant_types": list(client.grant_types),
        "scopes": list(client.scopes),
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "allowed_profiles": list(client.allowed_profiles),
        "require_mfa": client.require_mfa,
        "accepts_delegations": client.accepts_delegations,
        "admits_delegates": client.admits_delegates,
        "exchange_subject_token_types": list(client.exchange_subject_token_types or []),
        "exchange_actor_token_types": list(client.exchange_actor_token_types or []),
        "resources": list(client.resources or []),
        "created_at": client.created_at.isoformat(),
        "secret_rotated_at": client.secret_rotated_at.isoformat()
        if client.secret_rotated_at
        else None,
        "removed_at": client.disabled_at.isoformat() if client.disabled_at else None,
    }


def _print_secret(client_id: str, secret: str | None, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"client_id": client_id, "client_secret": secret}))
    else:
        click.echo(f"client_id\t{client_id}")
        if secret:
            click.echo(f"client_secret\t{secret}")
    if secret:
        click.echo(
            "Notez ce secret maintenant : il n'est pas conservé et ne sera plus affiché.", err=True
        )


clients_cli = AppGroup("clients", help="Relying parties (partner sites) of the OpenID provider.")


@clients_cli.command("add")
@click.option("--name", required=True, help="Name shown to users (consent, « Mon compte »).")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI.")
@click.option("--post-logout-uri", "post_logout_uris", multiple=True)
@click.option("--public", is_flag=True, help="Public client: no secret, PKCE required.")
@click.option("--first-party", is_flag=True, help="The Order's own site: no consent screen.")
@click.option("--allowed-profiles", default=None, help="Comma-separated profiles; none: all.")
@click.option("--backchannel-logout-uri", default=None)
@click.option(
    "--auth-method",
    default=None,
    help="client_secret_basic (default), client_secret_post, private_key_jwt or none.",
)
@click.option("--jwks-uri", default=None, help="The client's public keys (private_key_jwt).")
@click.option("--id-token-alg", default="RS256", show_default=True, help="RS256 or ES256.")
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    help="authorization_code, refresh_token, client_credentials, token-exchange (RFC 8693) "
    "(default: the first two).",
)
@click.option("--scope", "scopes", multiple=True, help="Allowed scopes (default: openid...).")
@click.option(
    "--require-mfa",
    is_flag=True,
    help="« Sécurité avancée obligatoire »: every login here needs a second factor.",
)
@click.option(
    "--accepts-delegations/--no-accepts-delegations",
    default=False,
    help="A service that delegations may name (ADR 0025).",
)
@click.option(
    "--admits-delegates/--no-admits-delegates",
    default=False,
    help="The allowed profiles also admit their delegates (a valid delegation covering it).",
)
@_exchange_options
@click.option(
    "--resource",
    "resources",
    multiple=True,
    help="An RFC 8707 resource (absolute URI) the client may ask for at /token; repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id", "client_secret"}.')
def add_client(
    name: str,
    redirect_uris: tuple[str, ...],
    post_logout_uris: tuple[str, ...],
    public: bool,
    first_party: bool,
    allowed_profiles: str | None,
    backchannel_logout_uri: str | None,
    auth_method: str | None,
    jwks_uri: str | None,
    id_token_alg: str,
    grant_types: tuple[str, ...],
    scopes: tuple[str, ...],
    require_mfa: bool,
    accepts_delegations: bool,
    admits_delegates: bool,
    exchange_subject_token_types: str | None,
    exchange_actor_token_types: str | None,
    resources: tuple[str, ...],
    as_json: bool,
) -> None:
    """Register a client; its secret is printed once."""
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.oidc import clients

    new = clients.NewClient(
        name=name,
        redirect_uris=list(redirect_uris),
        post_logout_redirect_uris=list(post_logout_uris),
        public=public,
        first_party=first_party,
        allowed_profiles=_csv(allowed_profiles),
        backchannel_logout_uri=backchannel_logout_uri,
        auth_method=auth_method,
        jwks_uri=jwks_uri,
        id_token_signed_response_alg=id_token_alg,
        require_mfa=require_mfa,
        accepts_delegations=accepts_delegations,
        admits_delegates=admits_delegates,
        exchange_subject_token_types=_csv(exchange_subject_token_types),
        exchange_actor_token_types=_csv(exchange_actor_token_types),
        resources=list(resources),
    )
    if grant_types:
        new.grant_types = list(grant_types)
    if scopes:
        new.scopes = list(scopes)
    try:
        client, secret = clients.create_client(db.session, new, CLI)
    except DomainError as error:
        db.session.rollback()
        raise _refusal(error) from error
    db.session.commit()
    _print_secret(client.client_id, secret, as_json)


@clients_cli.command("list")
@click.option("--all", "include_removed", is_flag=True, help="Removed clients too.")
@click.option("--json", "as_json", is_flag=True)
def list_clients(include_removed: bool, as_json: bool) -> None:
    """client_id, name, method, first-party or not, removed or not, second factor required or
    not ("mfa" / "-")."""
    from idp.extensions import db
    from idp.oidc import clients

    found = clients.list_clients(db.session, include_removed=include_removed)
    if as_json:
        click.echo(json.dumps([_describe(client) for client in found], ensure_ascii=False))
        return
    for client in found:
        party = "first-party" if client.first_party else "third-party"
        state = "supprimé" if client.disabled_at else "actif"
        mfa = "mfa" if client.require_mfa else "-"
        click.echo(
            f"{client.client_id}\t{client.name}\t{client.token_endpoint_auth_method}\t"
            f"{party}\t{state}\t{mfa}"
        )


def _find(client_id: str, *, enabled: bool = True) -> Any:
    from idp.extensions import db
    from idp.oidc import clients

    try:
        if enabled:
            return clients.enabled_client(db.session, client_id)
        client = clients.find_client(db.session, client_id)
        if client is None:
            raise clients.ClientNotFound()
        return client
    except DomainError as error:
        raise Refused(f"{error.message} ({client_id})") from error


@clients_cli.command("show")
@click.argument("client_id")
def show_client(client_id: str) -> None:
    """Everything registered for a client (JSON), never its secret."""
    client = _find(client_id, enabled=False)
    click.echo(json.dumps(_describe(client), ensure_ascii=False, indent=2))


@clients_cli.command("remove")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove_client(client_id: str, yes: bool) -> None:
    """Remove a client: it can no longer log anyone in, and its tokens are revoked."""
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.oidc import clients

    client = _find(client_id)
    if not yes and not click.confirm(
        f"Supprimer « {client.name} » ({client.client_id}) et révoquer ses jetons ?"
    ):
        raise Refused("Rien n'a été supprimé.")
    try:
        revoked = clients.remove_client(db.session, client, CLI)
    except DomainError as error:
        db.session.rollback()
        raise _refusal(error) from error
    db.session.commit()
    click.echo(f"{client.client_id}\tsupprimé\t{revoked} autorisation(s) révoquée(s)")


@clients_cli.command("update")
@click.argument("client_id")
@click.option(
    "--require-mfa/--no-require-mfa",
    "require_mfa",
    default=None,
    help="« Sécurité avancée obligatoire »: every login here needs a second factor (or not).",
)
@click.option(
    "--accepts-delegations/--no-accepts-delegations",
    "accepts_delegations",
    default=None,
    help="A service that delegations may name (or no longer).",
)
@click.option(
    "--admits-delegates/--no-admits-delegates",
    "admits_delegates",
    default=None,
    help="The allowed profiles also admit their delegates (or no longer).",
)
@_exchange_options
@click.option(
    "--resource",
    "resources",
    multiple=True,
    help="The RFC 8707 resources the client may ask for, replacing its list; repeatable.",
)
@click.option("--no-resources", is_flag=True, help="The client may ask for no resource.")
def update_client(
    client_id: str,
    require_mfa: bool | None,
    accepts_delegations: bool | None,
    admits_delegates: bool | None,
    exchange_subject_token_types: str | None,
    exchange_actor_token_types: str | None,
    resources: tuple[str, ...],
    no_resources: bool,
) -> None:
    """Change a client's settings (audited when something changes)."""
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.oidc import clients

    exchange_types = (exchange_subject_token_types, exchange_actor_token_types)
    if resources and no_resources:
        raise Refused("--resource et --no-resources s'excluent : choisissez l'un ou l'autre.")
    if (
        require_mfa is None
        and accepts_delegations is None
        and admits_delegates is None
        and exchange_types == (None, None)
        and not resources
        and not no_resources
    ):
        raise Refused(
            "Rien à modifier : indiquez --require-mfa, --accepts-delegations, "
            "--admits-delegates (ou leur forme --no-…), --exchange-subject-token-types, "
            "--exchange-actor-token-types, --resource ou --no-resources."
        )
    client = _find(client_id)
    lines = []
    try:
        if require_mfa is not None:
            changed = clients.set_require_mfa(db.session, client, require_mfa, CLI)
            state = "exigée" if require_mfa else "non exigée"
            lines.append(f"sécurité avancée {state}{'' if changed else ' (inchangé)'}")
        if accepts_delegations is not None or admits_delegates is not None:
            changes = clients.set_delegation_settings(
                db.session,
                client,
                CLI,
                accepts_delegations=accepts_delegations,
                admits_delegates=admits_delegates,
            )
            if accepts_delegations is not None:
                state = "acceptées" if accepts_delegations else "non acceptées"
                same = "" if "accepts_delegations" in changes else " (inchangé)"
                lines.append(f"délégations {state}{same}")
            if admits_delegates is not None:
                state = "admis" if admits_delegates else "non admis"
                same = "" if "admits_delegates" in changes else " (inchangé)"
                lines.append(f"délégataires {state}{same}")
        if exchange_types != (None, None):
            lines.extend(_set_exchange_types(client, *exchange_types))
        if resources or no_resources:
            changed_to = clients.set_resources(db.session, client, CLI, list(resources))
            same = "" if changed_to is not None else " (inchangé)"
            lines.append(f"resources {' '.join(client.resources) or '-'}{same}")
    except DomainError as error:
        db.session.rollback()
        raise _refusal(error) from error
    db.session.commit()
    for line in lines:
        click.echo(f"{client.client_id}\t{line}")


@clients_cli.command("rotate-secret")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id", "client_secret"}.')
def rotate_secret(client_id: str, as_json: bool) -> None:
    """Replace a client's secret (the old one stops working at once); printed once."""
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.oidc import clients

    client = _find(client_id)
    try:
        secret = clients.rotate_secret(db.session, client, CLI)
    except DomainError as error:
        db.session.rollback()
        raise _refusal(error) from error
    db.session.commit()
    _print_secret(client.client_id, secret, as_json)


keys_cli = AppGroup("keys", help="Signing keys of the OpenID provider.")


@keys_cli.command("rotate")
@click.option(
    "--force",
    is_flag=True,
    help="Promote the next key even if clients may not have seen it yet (compromised key).",
)
def rotate_keys(force: bool) -> None:
    """next -> current, current -> previous, a new next key; retire expired previous keys."""
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.oidc import keys

    keys.ensure_keys()
    try:
        outcome = keys.rotate(db.session, actor=CLI, force=force)
    except DomainError as error:
        db.session.rollback()
        raise Refused(error.message) from error
    db.session.commit()
    for alg, kid in outcome.promoted.items():
        click.echo(f"{alg}\tcurrent\t{kid}")
    for alg, kid in outcome.created.items():
        click.echo(f"{alg}\tnext\t{kid}")
    for kid in outcome.retired:
        click.echo(f"-\tretired\t{kid}")


@keys_cli.command("list")
@click.option("--all", "include_retired", is_flag=True, help="Retired keys too.")
def list_keys(include_retired: bool) -> None:
    """alg, state, kid, created, activated, deactivated (no private part, ever)."""
    from idp.extensions import db
    from idp.oidc import keys

    keys.ensure_keys()
    for row in keys.listed_keys(db.session, include_retired=include_retired):
        click.echo(
            "\t".join(
                [
                    row.alg,
                    row.state,
                    row.kid,
                    row.created_at.isoformat(timespec="seconds"),
                    row.activated_at.isoformat(timespec="seconds") if row.activated_at else "-",
                    row.deactivated_at.isoformat(timespec="seconds") if row.deactivated_at else "-",
                ]
            )
        )


def register(app: Flask) -> None:
    from idp.oidc.logout import oidc_cli  # idp oidc deliver-logouts
    from idp.oidc.tokens import purge_command

    oidc_cli.add_command(purge_command)  # idp oidc purge
    app.cli.add_command(clients_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(oidc_cli)
