"""The `registry-import` console script: a regional council's file into the Order's registry.

    registry-import FILE --council CODE [--full] [--dry-run] [--allow-partial] [--report out.csv]

It builds the IdP app from the environment as the `idp` command does (DATABASE_URL,
SECRET_KEY, SESAME_ENV...), runs `registry_import.service.import_file` on its database in one
transaction, prints a French summary on stdout and every bad row on stderr
(`ligne 12 : date de naissance impossible (31/02/1980)`). See docs/adr/0018-registry-import.md.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click
from flask import Flask

EXIT_OK = 0
EXIT_BAD_ROWS = 1
EXIT_USAGE = 2  # also: unknown council, unreadable or refused file, bad configuration
EXIT_INTERNAL = 3

EXIT_CODES_HELP = """\b
Exit codes:
  0  imported (or, with --dry-run, checked): every row was valid;
     "Aucun changement" when the registry already held the file
  1  some rows are bad (listed on stderr): nothing was applied,
     or with --allow-partial only the valid rows were
  2  usage error, unknown council, configuration error, or the file
     was refused as a whole (unreadable, unknown or mixed encoding,
     missing required column)
  3  unexpected error: nothing was applied
"""


def _create_app() -> Flask:
    from idp import create_app
    from idp.config import ConfigurationError

    try:
        return create_app()
    except ConfigurationError as error:  # one line, no stack trace
        click.echo(f"registry-import : {error}", err=True)
        sys.exit(EXIT_USAGE)


@click.command(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option(
    "--council",
    "council_code",
    required=True,
    metavar="CODE",
    help="Code of the regional council the file belongs to (IDF, ARA, PACA..., any case).",
)
@click.option(
    "--full",
    is_flag=True,
    help="The file lists the council's whole registry: its entries absent from the file "
    "are struck off (status radié; never deleted).",
)
@click.option("--dry-run", is_flag=True, help="Read, check and compare; change nothing.")
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Apply the valid rows even when some rows are bad (they are listed and skipped).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the report (one line per error and per change) to this CSV file "
    "(UTF-8 with BOM, ';': opens in Excel).",
)
def main(
    file: Path,
    council_code: str,
    full: bool,
    dry_run: bool,
    allow_partial: bool,
    report_path: Path | None,
) -> None:
    """Import FILE, a regional council's registry file (CSV in UTF-8, Windows-1252 or
    ISO-8859-15 with ';', ',' or tab; or XLSX), into Sésame's registry.

    Messages are in French. The whole import is one transaction: if it is interrupted,
    the registry stays as it was.
    """
    app = _create_app()
    with app.app_context():
        sys.exit(_run(file, council_code, full, dry_run, allow_partial, report_path))


def _run(
    file: Path,
    council_code: str,
    full: bool,
    dry_run: bool,
    allow_partial: bool,
    report_path: Path | None,
) -> int:
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.registry.services import UnknownCouncil, councils
    from registry_import import report
    from registry_import.service import import_file

    try:
        outcome = import_file(
            db.session,
            file,
            file_name=file.name,
            council_code=council_code,
            actor=CLI,
            full=full,
            dry_run=dry_run,
            allow_partial=allow_partial,
        )
    except UnknownCouncil:
        db.session.rollback()
        codes = ", ".join(sorted(c.code for c in councils(db.session)))
        click.echo(
            f"registry-import : conseil régional inconnu « {council_code} » (codes : {codes}).",
            err=True,
        )
        return EXIT_USAGE
    except Exception:  # a bug or the database gone: nothing was committed
        db.session.rollback()
        click.echo("registry-import : erreur inattendue, rien n'a été appliqué.", err=True)
        click.echo(traceback.format_exc(), err=True)
        return EXIT_INTERNAL
    db.session.commit()

    record = outcome.record
    for error in outcome.errors:
        click.echo(str(error), err=True)
    if report_path is not None:
        report.write(record.report_csv, report_path)
    if outcome.file_error is not None:
        click.echo(f"registry-import : fichier refusé : {outcome.file_error}", err=True)
        click.echo(f"Fichier refusé ({file.name}) : {outcome.file_error}")
        return EXIT_USAGE

    summary = record.summary
    rows = record.rows_total or 0
    click.echo(f"Fichier : {file.name} ({summary.get('file', '')}), {_lines(rows)}")
    click.echo(f"Conseil régional : {record.council.name} ({record.council.code})")
    if outcome.ignored_columns:
        click.echo("Colonnes ignorées : " + ", ".join(outcome.ignored_columns))
    click.echo(f"Ajoutées : {record.added}")
    click.echo(f"Modifiées : {record.changed}")
    click.echo(f"Inchangées : {record.unchanged}")
    click.echo(f"Radiées : {record.struck_off}")
    click.echo(f"Rejetées : {record.rejected}")
    click.echo(outcome.message)
    if outcome.errors and not allow_partial:
        click.echo("(--allow-partial applique les lignes valides et liste les autres.)")
    click.echo(f"Import n° {record.public_id} ({record.status}).")
    return EXIT_BAD_ROWS if outcome.errors else EXIT_OK


def _lines(count: int) -> str:
    return f"{count} ligne de données" if count < 2 else f"{count} lignes de données"


if __name__ == "__main__":  # pragma: no cover
    main()
