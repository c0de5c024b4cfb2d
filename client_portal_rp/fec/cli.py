"""`portal fec import FILE --company SIREN [--debut AAAA-MM-JJ] [--cloture AAAA-MM-JJ] [--json]`
(stable contract): import a company's FEC for an exercice (client_portal_rp.fec.importer).

Success (warnings included): a French summary — exercice, période, lignes, écritures, encodage,
séparateur, colonnes, total débit / crédit and « équilibré » or the gap, the per-entry balance
check, the warnings with their line numbers, « remplace l'import du … » when the exercice was
imported before — and exit 0. A file with errors: `ligne N : message` on stderr, nothing
applied, exit 1. An unknown company, an unreadable file or a bad date: a French message on
stderr, exit 1. `--json` prints the report as one JSON object on stdout (also on failure,
with `ok: false` and the errors).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from client_portal_rp.formatting import euros

if TYPE_CHECKING:  # polars is imported when a command runs, not by every `portal` start
    from client_portal_rp.fec.importer import ImportReport

CLI_ACTOR = "Ligne de commande (portal)"
PARIS = ZoneInfo("Europe/Paris")


@click.group("fec")
def fec_cli() -> None:
    """The firm's FEC (Fichier des écritures comptables) of its client companies."""


def _date_option(value: str | None, option: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise click.ClickException(
            f"Date non valable pour {option} : « {value} » (AAAA-MM-JJ attendu, par exemple "
            "2025-12-31)."
        ) from None


def _unreadable(path: Path, error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return f"Fichier introuvable : {path}"
    if isinstance(error, IsADirectoryError):
        return f"« {path} » est un dossier, pas un fichier FEC."
    if isinstance(error, PermissionError):
        return f"Lecture du fichier « {path} » refusée (droits insuffisants)."
    return f"Impossible de lire le fichier « {path} »."


@fec_cli.command("import")
@click.argument("file", metavar="FICHIER")
@click.option("--company", "siren", required=True, help="SIREN of the company.")
@click.option("--debut", default=None, help="Start of the exercice (AAAA-MM-JJ).")
@click.option("--cloture", default=None, help="Closing date of the exercice (AAAA-MM-JJ).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_appcontext
def import_command(
    file: str, siren: str, debut: str | None, cloture: str | None, as_json: bool
) -> None:
    """Import FILE as the FEC of the company (replaces the exercice if it was imported)."""
    from client_portal_rp.companies import normalize_siren
    from client_portal_rp.extensions import db
    from client_portal_rp.fec.importer import import_fec
    from client_portal_rp.fec.reporting import import_dates, replaced_at
    from client_portal_rp.models import Company

    start = _date_option(debut, "--debut")
    end = _date_option(cloture, "--cloture")
    company = db.session.scalar(select(Company).where(Company.siren == normalize_siren(siren)))
    if company is None:
        raise click.ClickException(f"Aucune entreprise de SIREN {siren}.")
    path = Path(file)
    before = import_dates(company)
    try:
        with path.open("rb") as source:
            report = import_fec(
                company,
                source,
                filename=path.name,
                actor_label=CLI_ACTOR,
                start=start,
                end=end,
            )
    except OSError as error:
        db.session.rollback()
        raise click.ClickException(_unreadable(path, error)) from None
    replaced = replaced_at(report, before)
    if as_json:
        click.echo(json.dumps(report_json(report, company.siren, replaced), ensure_ascii=False))
    if not report.ok:
        db.session.rollback()
        for problem in report.errors:
            click.echo(str(problem), err=True)
        click.echo("Rien n'a été importé.", err=True)
        raise SystemExit(1)
    if not as_json:
        click.echo(report_text(report, company.name, company.siren, replaced))


def _euros_decimal(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2).quantize(Decimal("0.01")))


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # stored in UTC
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(PARIS)


def report_json(report: ImportReport, siren: str, replaced: datetime | None) -> dict[str, Any]:
    """The machine-readable report: amounts as decimal strings in euros (as `portal
    indicators --json`), dates ISO 8601."""
    from client_portal_rp.fec.reporting import gap

    fec_import = report.fec_import
    return {
        "ok": report.ok,
        "file": report.filename,
        "company": siren,
        "errors": [p.as_dict() for p in report.errors],
        "import_id": fec_import.public_id if fec_import else None,
        "exercice": fec_import.exercice if fec_import else None,
        "period_start": fec_import.period_start.isoformat() if fec_import else None,
        "period_end": fec_import.period_end.isoformat() if fec_import else None,
        "lines": report.line_count,
        "entries": report.entry_count,
        "encoding": report.encoding,
        "separator": report.separator,
        "columns": report.column_count,
        "amounts": report.amounts,
        "total_debit": _euros_decimal(report.total_debit),
        "total_credit": _euros_decimal(report.total_credit),
        "gap": _euros_decimal(gap(report)),
        "balanced": report.ok and report.balanced,
        "unbalanced_entries": report.unbalanced_entries,
        "warning_count": report.warning_count,
        "warnings": [p.as_dict() for p in report.warnings],
        "replaced": report.replaced,
        "replaced_import_at": _local(replaced).isoformat() if replaced else None,
    }


def report_text(
    report: ImportReport, name: str, siren: str, replaced: datetime | None = None
) -> str:
    """The French summary of a successful import."""
    from client_portal_rp.fec.reporting import gap, separator_name

    fec_import = report.fec_import
    assert fec_import is not None
    lines = [
        f"FEC importé pour {name} (SIREN {siren}) : {report.filename}",
        f"Exercice : {fec_import.exercice}",
        f"Période : du {fec_import.period_start:%d/%m/%Y} au {fec_import.period_end:%d/%m/%Y}",
        f"Lignes : {report.line_count}",
        f"Écritures : {report.entry_count}",
        f"Encodage : {report.encoding}",
        f"Séparateur : {separator_name(report.separator)}",
        f"Colonnes : {report.column_count} ({report.amounts})",
        f"Total débit : {euros(report.total_debit)}",
        f"Total crédit : {euros(report.total_credit)}",
    ]
    difference = gap(report)
    if difference == 0:
        lines.append("Balance : équilibré (total débit = total crédit)")
    else:
        lines.append(f"Balance : déséquilibré, écart de {euros(difference)} (débit − crédit)")
    if report.unbalanced_entries == 0:
        lines.append("Écritures équilibrées : toutes")
    elif report.unbalanced_entries == 1:
        lines.append("Écritures déséquilibrées : 1")
    else:
        lines.append(f"Écritures déséquilibrées : {report.unbalanced_entries}")
    if replaced is not None:
        lines.append(f"Cet import remplace l'import du {_local(replaced):%d/%m/%Y à %H:%M}.")
    elif report.replaced:
        lines.append("Cet import remplace l'import précédent de l'exercice.")
    if report.warning_count:
        lines.append(f"Avertissements : {report.warning_count}")
        lines += [f"  {problem}" for problem in report.warnings]
        hidden = report.warning_count - len(report.warnings)
        if hidden > 0:
            lines.append(f"  … et {hidden} autre(s)")
    else:
        lines.append("Avertissements : aucun")
    return "\n".join(lines)
