"""The `portal` console script: Flask's CLI (run, routes, shell, `db upgrade` from
Flask-Migrate) and the portal's own commands.

    portal companies add --siren SIREN --name NAME [--firm FIRM] [--json]
    portal companies list [--json]
    portal firms add --name NAME [--json]
    portal invite --email EMAIL (--company SIREN [--role admin|user] [--modules ...] | --firm FIRM)
    portal mail deliver
    portal jobs run
    portal requests remind                       (daily: a monthly reminder per open request)
    portal mailbox receive [--recipient ADDR] < message   (the mail server's pipe transport)
    portal indicators --company SIREN [--exercice AAAA] [--json]   (from the imported FEC)
    portal fec import FILE --company SIREN [--debut D] [--cloture D] [--json]   (fec/cli.py)

Errors a person can fix exit with status 1 and a French message on stderr.
"""

from __future__ import annotations

import json
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

CLI_ACTOR = "Ligne de commande (portal)"


def _create_app() -> Flask:
    from client_portal_rp import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def main() -> None:
    """Client portal of accounting firms (a relying party of Sésame)."""


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _company_json(company: Any) -> dict[str, Any]:
    return {
        "id": company.public_id,
        "siren": company.siren,
        "name": company.name,
        "firm": company.firm.name,
        "firm_id": company.firm.public_id,
        "exercice_start": company.exercice_start.isoformat() if company.exercice_start else None,
        "exercice_end": company.exercice_end.isoformat() if company.exercice_end else None,
        "advanced_modules": sorted(m.value for m in company.advanced()),
    }


def _resolve_firm(reference: str | None) -> Any:
    """--firm by public id or name (an unknown name creates the firm); omitted: the only firm,
    or a first firm « Mon cabinet » on an empty database."""
    from client_portal_rp.companies import create_firm, find_firm
    from client_portal_rp.extensions import db
    from client_portal_rp.models import Firm

    if reference:
        return find_firm(reference) or create_firm(reference)
    firms = db.session.scalars(select(Firm).order_by(Firm.id)).all()
    if not firms:
        return create_firm("Mon cabinet")
    if len(firms) > 1:
        names = ", ".join(f"« {f.name} »" for f in firms)
        _fail(f"Plusieurs cabinets existent ({names}) : précisez --firm.")
    return firms[0]


@click.group("companies")
def companies_group() -> None:
    """Client companies."""


@companies_group.command("add")
@click.option("--siren", required=True, help="SIREN (9 chiffres).")
@click.option("--name", required=True, help="Raison sociale.")
@click.option("--firm", default=None, help="Cabinet (identifiant ou nom).")
@click.option("--exercice-start", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--exercice-end", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the company as JSON.")
@with_appcontext
def companies_add(
    siren: str,
    name: str,
    firm: str | None,
    exercice_start: Any,
    exercice_end: Any,
    as_json: bool,
) -> None:
    """Add a client company; an existing SIREN is an error (exit 1)."""
    from client_portal_rp.companies import CompanyError, add_company
    from client_portal_rp.extensions import db

    try:
        company = add_company(
            _resolve_firm(firm),
            siren=siren,
            name=name,
            exercice_start=exercice_start.date() if exercice_start else None,
            exercice_end=exercice_end.date() if exercice_end else None,
            actor_label=CLI_ACTOR,
        )
        db.session.commit()
    except CompanyError as error:
        db.session.rollback()
        _fail(error.message)
        return
    if as_json:
        click.echo(json.dumps(_company_json(company), ensure_ascii=False))
    else:
        click.echo(f"{company.siren}\t{company.name}\t{company.public_id}")


@companies_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def companies_list(as_json: bool) -> None:
    """List the client companies."""
    from client_portal_rp.extensions import db
    from client_portal_rp.models import Company

    companies = db.session.scalars(select(Company).order_by(Company.name)).all()
    if as_json:
        click.echo(json.dumps([_company_json(c) for c in companies], ensure_ascii=False))
        return
    for company in companies:
        click.echo(f"{company.siren}\t{company.name}\t{company.firm.name}\t{company.public_id}")


@click.group("firms")
def firms_group() -> None:
    """Accounting firms (cabinets)."""


@firms_group.command("add")
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def firms_add(name: str, as_json: bool) -> None:
    """Add a firm (with the default deposit types)."""
    from client_portal_rp.companies import CompanyError, create_firm, find_firm
    from client_portal_rp.extensions import db

    if find_firm(name) is not None:
        _fail(f"Le cabinet « {name} » existe déjà.")
    try:
        firm = create_firm(name)
        db.session.commit()
    except CompanyError as error:
        _fail(error.message)
        return
    if as_json:
        click.echo(json.dumps({"id": firm.public_id, "name": firm.name}, ensure_ascii=False))
    else:
        click.echo(f"{firm.name}\t{firm.public_id}")


@click.command("invite")
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option("--company", "siren", default=None, help="SIREN of the company.")
@click.option("--role", type=click.Choice(["admin", "user"]), default="user")
@click.option(
    "--modules",
    default="depot,compta,archives",
    help="Comma-separated: depot, compta, archives.",
)
@click.option("--firm", default=None, help="Invite to the firm's staff instead.")
@click.option("--no-email", is_flag=True, help="Do not send the email (print the link).")
@with_appcontext
def invite_command(
    email: str,
    name: str,
    siren: str | None,
    role: str,
    modules: str,
    firm: str | None,
    no_email: bool,
) -> None:
    """Invite a person by email to a company (--company) or to a firm's staff (--firm)."""
    from client_portal_rp.access.services import send_invitation
    from client_portal_rp.companies import find_firm, normalize_siren
    from client_portal_rp.extensions import db
    from client_portal_rp.invitations import invite
    from client_portal_rp.models import Company, Module, Role

    if bool(siren) == bool(firm):
        _fail("Précisez --company SIREN (un utilisateur) ou --firm CABINET (le cabinet).")
    wanted = {m.strip() for m in modules.split(",") if m.strip()}
    unknown = wanted - {m.value for m in Module}
    if unknown:
        _fail(f"Module inconnu : {', '.join(sorted(unknown))} (depot, compta, archives).")
    if siren:
        company = db.session.scalar(select(Company).where(Company.siren == normalize_siren(siren)))
        if company is None:
            _fail(f"Aucune entreprise de SIREN {siren}.")
            return
        target_firm = company.firm
    else:
        company = None
        target_firm = find_firm(firm or "")
        if target_firm is None:
            _fail(f"Aucun cabinet « {firm} ».")
            return
    with current_app.test_request_context(base_url=current_app.config["PORTAL_BASE_URL"]):
        new = invite(
            firm=target_firm,
            company=company,
            email=email,
            name=name,
            role=Role(role),
            modules={Module(m) for m in wanted},
            invited_by=None,
            actor_label=CLI_ACTOR,
        )
        link = send_invitation(new, inviter_name=CLI_ACTOR, send=not no_email)
        db.session.commit()
    if not no_email:
        from client_portal_rp.mail import deliver_pending

        deliver_pending()  # no response here to send it after: now (or later, if SMTP is down)
    click.echo(link)


@click.group("mail")
def mail_group() -> None:
    """The portal's email outbox."""


@mail_group.command("deliver")
@with_appcontext
def mail_deliver() -> None:
    """Send the emails that are due (after an SMTP outage, for instance)."""
    from client_portal_rp.mail import deliver_pending

    click.echo(f"{deliver_pending(limit=1000)} message(s) sent")


@click.group("jobs")
def jobs_group() -> None:
    """Work done after the answer (photo renditions, thumbnails)."""


@jobs_group.command("run")
@with_appcontext
def jobs_run() -> None:
    """Process the deposits whose photo job is pending."""
    from client_portal_rp.deposits.jobs import run_pending

    click.echo(f"{run_pending()} deposit(s) processed")


@click.command("indicators")
@click.option("--company", "siren", required=True, help="SIREN of the company.")
@click.option("--exercice", default=None, help="Year the exercice closes (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="Print the indicators as JSON.")
@with_appcontext
def indicators_command(siren: str, exercice: str | None, as_json: bool) -> None:
    """Key indicators of a company's exercice from its imported FEC, beside the previous one
    (stable contract: `--json` prints client_portal_rp.fec.indicators.as_json)."""
    from client_portal_rp.companies import normalize_siren
    from client_portal_rp.extensions import db
    from client_portal_rp.fec.indicators import as_json as indicators_json
    from client_portal_rp.fec.indicators import exercices_of, indicators
    from client_portal_rp.fec.paging import FecReadError, parse_exercice
    from client_portal_rp.models import Company

    company = db.session.scalar(select(Company).where(Company.siren == normalize_siren(siren)))
    if company is None:
        _fail(f"Aucune entreprise de SIREN {siren}.")
        return
    try:
        year = parse_exercice(exercice)
    except FecReadError as error:
        _fail(error.message)
        return
    if year is None:
        years = exercices_of(company)
        if not years:
            _fail(f"Aucun FEC importé pour {company.name} (SIREN {company.siren}).")
            return
        year = years[0]
    found = indicators(company, year)
    if found is None:
        _fail(f"Aucun FEC importé pour {company.name} (SIREN {company.siren}), exercice {year}.")
        return
    if as_json:
        click.echo(json.dumps(indicators_json(found), ensure_ascii=False, indent=2))
    else:
        click.echo(_indicators_text(company.name, found))


def _indicators_text(name: str, ind: Any) -> str:
    """The indicators as a French table for a terminal: totals beside the previous exercice,
    then the months."""
    from client_portal_rp.fec.indicators import DISPLAY_KEYS, LABELS, change_words
    from client_portal_rp.formatting import euros

    current, previous = ind.current, ind.previous
    lines = [
        f"{name} — exercice {current.exercice}, du {current.period_start:%d/%m/%Y} "
        f"au {current.period_end:%d/%m/%Y}",
        "",
    ]
    head = ["Indicateur", f"Exercice {current.exercice}"]
    if previous is not None:
        head += [f"Exercice {previous.exercice}", "Variation"]
    rows = [head]
    for key in DISPLAY_KEYS:
        row = [str(LABELS[key]), euros(current.totals[key])]
        if previous is not None:
            row += [euros(previous.totals[key]), change_words(ind, key)]
        rows.append(row)
    lines += _columns(rows)
    monthly = ("chiffre_affaires", "charges", "resultat", "tresorerie_nette")
    rows = [["Mois", *(str(LABELS[k]) for k in monthly)]]
    rows += [[f"{m.month:%m/%Y}", *(euros(m.figures[k]) for k in monthly)] for m in current.months]
    lines += ["", "Par mois (trésorerie nette en fin de mois)", *_columns(rows)]
    return "\n".join(lines)


def _columns(rows: list[list[str]]) -> list[str]:
    """Rows (the first is the header) as aligned columns: amounts right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = [len(rows) > 1 and rows[1][i].endswith("€") for i in range(len(widths))]
    return [
        "  ".join(
            cell.rjust(widths[i]) if right[i] else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]


def register_commands(app: Flask) -> None:
    from client_portal_rp.demo import demo_cli
    from client_portal_rp.deposits.mailbox import mailbox_cli
    from client_portal_rp.deposits.requests import requests_cli
    from client_portal_rp.fec.cli import fec_cli

    for command in (
        companies_group,
        firms_group,
        invite_command,
        mail_group,
        jobs_group,
        demo_cli,
        requests_cli,
        mailbox_cli,
        indicators_command,
        fec_cli,
    ):
        app.cli.add_command(command)
