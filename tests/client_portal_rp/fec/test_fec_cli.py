"""`portal fec import FILE --company SIREN [--debut] [--cloture] [--json]` (stable contract),
through click's runner in-process: the French summary of a real sample, errors with their line
numbers on stderr (exit 1, nothing applied), warnings (exit 0), refusals in French."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import func, select

from client_portal_rp.extensions import db
from client_portal_rp.models import Company, FecImport
from tests.client_portal_rp.conftest import make_firm
from tests.client_portal_rp.fec.support import fec_bytes, line, sale, sample

SAMPLE = "123456789FEC20500930.txt"


@pytest.fixture
def app_ctx(portal_app: Flask) -> Iterator[Flask]:
    with portal_app.app_context():
        yield portal_app


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["fec", "import", *args])


def company(siren: str = "123456789") -> Company:
    """Created directly: the samples' SIRENs carry no Luhn key."""
    target = Company(firm=make_firm(), name="Société Exemple", siren=siren)
    db.session.add(target)
    db.session.commit()
    return target


def imports() -> int:
    return int(db.session.scalar(select(func.count()).select_from(FecImport)) or 0)


def test_fec_import_prints_the_french_summary_of_a_sample(app_ctx: Flask) -> None:
    target = company()
    result = run(app_ctx, str(sample(SAMPLE)), "--company", "123 456 789")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "FEC importé pour Société Exemple (SIREN 123456789)" in out
    # The file is named for 30/09/2050 but its entries run from April 2022 to April 2023.
    assert "Exercice : 2023" in out
    assert "Période : du 01/04/2022 au 30/04/2023" in out
    assert "Lignes : 10756" in out
    assert "Écritures équilibrées : toutes" in out
    assert "Avertissements : 1" in out and "(30/09/2050) ne correspond pas" in out
    assert "Encodage : UTF-8" in out
    assert "Colonnes : " in out
    assert "Balance : équilibré" in out
    stored = db.session.scalars(select(FecImport).where(FecImport.company_id == target.id)).all()
    assert len(stored) == 1
    assert f"Lignes : {stored[0].line_count}" in out
    assert "Total débit : " in out and "Total crédit : " in out
    assert result.stderr == ""


def test_fec_import_again_says_what_it_replaces(app_ctx: Flask, tmp_path: Path) -> None:
    company("552100554")
    path = tmp_path / "export.txt"
    path.write_bytes(fec_bytes(sale("1", "20250110", "10,00")))
    first = run(app_ctx, str(path), "--company", "552100554", "--cloture", "2025-12-31")
    assert first.exit_code == 0, first.output
    assert "remplace" not in first.stdout
    again = run(app_ctx, str(path), "--company", "552100554", "--cloture", "2025-12-31")
    assert again.exit_code == 0, again.output
    assert "Cet import remplace l'import du " in again.stdout
    assert imports() == 1


def test_fec_import_error_names_the_line_and_applies_nothing(
    app_ctx: Flask, tmp_path: Path
) -> None:
    company("552100554")
    path = tmp_path / "export.txt"
    path.write_bytes(fec_bytes([*sale("1", "20250110", "10,00"), line(num="3", debit="abc")]))
    result = run(app_ctx, str(path), "--company", "552100554")
    assert result.exit_code == 1
    assert "ligne 4 : Debit : montant illisible" in result.stderr
    assert "Rien n'a été importé." in result.stderr
    assert "Traceback" not in result.output
    assert imports() == 0


def test_fec_import_with_warnings_exits_0_and_lists_them(app_ctx: Flask, tmp_path: Path) -> None:
    company("552100554")
    unbalanced = [
        line(num="1", day="20250110", account="411000", aux="C1", debit="100,00"),
        line(num="1", day="20250110", account="706000", credit="90,00"),
    ]
    path = tmp_path / "export.txt"
    path.write_bytes(fec_bytes(unbalanced))
    result = run(app_ctx, str(path), "--company", "552100554")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Balance : déséquilibré, écart de 10,00\u00a0€" in out
    assert "Écritures déséquilibrées : 1" in out
    assert "Avertissements : " in out
    assert "  ligne 2 : " in out  # the unbalanced entry, by its first line
    assert imports() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--company", "999999999"), "Aucune entreprise de SIREN 999999999."),
        (("--company", "552100554", "--debut", "01/01/2025"), "Date non valable pour --debut"),
    ],
)
def test_fec_import_refusals_are_french(
    app_ctx: Flask, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    company("552100554")
    path = tmp_path / "export.txt"
    path.write_bytes(fec_bytes(sale("1", "20250110", "10,00")))
    result = run(app_ctx, str(path), *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert imports() == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [("absent.txt", "Fichier introuvable : "), (".", "est un dossier, pas un fichier FEC.")],
)
def test_fec_import_unreadable_file_is_a_french_message(
    app_ctx: Flask, tmp_path: Path, name: str, message: str
) -> None:
    company("552100554")
    result = run(app_ctx, str(tmp_path / name), "--company", "552100554")
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_fec_import_json_is_machine_readable(app_ctx: Flask) -> None:
    company()
    result = run(app_ctx, str(sample(SAMPLE)), "--company", "123456789", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["errors"] == []
    assert data["exercice"] == 2023 and data["period_start"] == "2022-04-01"
    assert data["period_end"] == "2023-04-30"
    assert data["total_debit"] == data["total_credit"] == "8258083.73"
    assert data["gap"] == "0.00" and data["balanced"] is True
    assert data["unbalanced_entries"] == 0
    assert data["lines"] == 10756 and data["entries"] == 4001
    assert data["encoding"] == "UTF-8" and data["separator"] == "\t"
    assert data["columns"] == 18 and data["amounts"] == "Debit/Credit"
    assert data["warning_count"] == 1 and data["warnings"][0]["line"] is None
    assert data["replaced"] is False and data["replaced_import_at"] is None
    assert isinstance(data["warnings"], list)


def test_fec_import_json_on_error_carries_the_errors(app_ctx: Flask, tmp_path: Path) -> None:
    company("552100554")
    path = tmp_path / "export.txt"
    path.write_bytes(fec_bytes([*sale("1", "20250110", "10,00"), line(num="3", day="2025")]))
    result = run(app_ctx, str(path), "--company", "552100554", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["errors"] == [
        {"line": 4, "message": "EcritureDate : date invalide (AAAAMMJJ attendu)"}
    ]
    assert imports() == 0
