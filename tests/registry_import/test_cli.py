"""The `registry-import` console script, run as councils run it: its own process on a real
database (docs/security.md 40-45), and killed mid-write (42)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text

from idp.audit.models import AuditEvent, AuditEventType
from idp.extensions import db
from idp.registry.models import ImportStatus, RegistryImport
from registry_import.apply import PAUSE_ENV, PAUSE_MARKER
from registry_import.cli import main
from tests.registry_import.files import (
    REGISTRY_IMPORT,
    cli_env,
    csv_bytes,
    entries,
    member,
    members,
    registry_dump,
    run_cli,
    run_import,
    xlsx_bytes,
)


def _imports(app: Flask) -> list[RegistryImport]:
    with app.app_context():
        records = list(db.session.scalars(select(RegistryImport).order_by(RegistryImport.id)))
        db.session.expunge_all()
        return records


def test_registry_import_cli_help_documents_exit_codes() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["--help"])

    assert result.exit_code == 0
    assert "--council CODE" in result.output and "--allow-partial" in result.output
    for line in ("0  imported", "1  some rows are bad", "2  usage error", "3  unexpected"):
        assert line in result.output


def test_registry_import_cli_imports_then_says_nothing_changed(
    committed_app: Flask, own_database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "IDF.csv"
    source.write_bytes(csv_bytes(members(3), encoding="cp1252"))

    first = run_cli(own_database_url, source, "--council", "idf", cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    assert "Fichier : IDF.csv (CSV, Windows-1252, séparateur point-virgule), 3 lignes" in (
        first.stdout
    )
    assert "Conseil régional : Paris Île-de-France (IDF)" in first.stdout
    assert "Ajoutées : 3\n" in first.stdout
    assert "Import appliqué : 3 ajoutées, 0 modifiée, 0 radiée." in first.stdout

    again = run_cli(own_database_url, source, "--council", "IDF", cwd=tmp_path)

    assert again.returncode == 0, again.stderr
    assert "Inchangées : 3\n" in again.stdout
    assert "Aucun changement : le registre est déjà à jour." in again.stdout
    records = _imports(committed_app)
    assert [(r.status, r.added, r.unchanged, r.actor_kind) for r in records] == [
        (ImportStatus.APPLIED, 3, 0, "cli"),
        (ImportStatus.APPLIED, 0, 3, "cli"),
    ]
    with committed_app.app_context():
        assert len(entries()) == 3
        applied = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.event_type == AuditEventType.REGISTRY_IMPORT_APPLIED.value
            )
        ).all()
        assert [e.actor_kind for e in applied] == ["cli", "cli"]


def test_registry_import_cli_bad_rows_exit_1_on_stderr_and_apply_nothing(
    committed_app: Flask, own_database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "IDF.csv"
    rows = [member("100001"), member("100002", birth="31/02/1980"), member("100003")]
    source.write_bytes(csv_bytes(rows))
    report = tmp_path / "rapport.csv"

    refused = run_cli(
        own_database_url, source, "--council", "IDF", "--report", report, cwd=tmp_path
    )

    assert refused.returncode == 1
    assert refused.stderr == "ligne 3 : date de naissance impossible (31/02/1980)\n"
    assert "Import refusé : 1 ligne en erreur, rien n'a été appliqué." in refused.stdout
    assert "--allow-partial" in refused.stdout
    raw = report.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfligne;num\xc3\xa9ro d'inscription;type;")
    assert "3;100002;erreur;;;;date de naissance impossible (31/02/1980)" in raw.decode("utf-8")
    with committed_app.app_context():
        assert entries() == {}

    partial = run_cli(own_database_url, source, "--council", "IDF", "--allow-partial", cwd=tmp_path)

    assert partial.returncode == 1
    assert partial.stderr == "ligne 3 : date de naissance impossible (31/02/1980)\n"
    assert "Ajoutées : 2\n" in partial.stdout and "Rejetées : 1\n" in partial.stdout
    with committed_app.app_context():
        assert set(entries()) == {"100001", "100003"}
    statuses = [r.status for r in _imports(committed_app)]
    assert statuses == [ImportStatus.REFUSED, ImportStatus.APPLIED]


def test_registry_import_cli_dry_run_and_full(
    committed_app: Flask, own_database_url: str, tmp_path: Path
) -> None:
    with committed_app.app_context():
        run_import(csv_bytes(members(4)))
    source = tmp_path / "IDF.xlsx"
    source.write_bytes(xlsx_bytes(members(4)[:3]))

    dry = run_cli(own_database_url, source, "--council", "IDF", "--full", "--dry-run", cwd=tmp_path)

    assert dry.returncode == 0, dry.stderr
    assert "Radiées : 1\n" in dry.stdout and "Simulation, rien n'a été enregistré" in dry.stdout
    with committed_app.app_context():
        assert entries()["100004"].status == "inscrit"

    full = run_cli(own_database_url, source, "--council", "IDF", "--full", cwd=tmp_path)

    assert full.returncode == 0, full.stderr
    assert "Fichier : IDF.xlsx (XLSX)" in full.stdout and "Radiées : 1\n" in full.stdout
    with committed_app.app_context():
        assert entries()["100004"].status == "radie"


@pytest.mark.parametrize(
    ("args", "content", "stderr"),
    [
        (["--council", "XYZ"], None, "registry-import : conseil régional inconnu « XYZ » (codes"),
        ([], None, "Missing option '--council'"),
        (
            ["--council", "IDF"],
            "Lefèvre;Jean\r\n".encode("utf-16"),
            "registry-import : fichier refusé : le fichier est en UTF-16",
        ),
        (
            ["--council", "IDF"],
            "Nom;Prénom\r\nLefèvre;Jean\r\n".encode(),
            "registry-import : fichier refusé : colonnes obligatoires absentes",
        ),
    ],
    ids=["unknown-council", "no-council", "utf16", "missing-columns"],
)
def test_registry_import_cli_exit_2_for_usage_council_and_unreadable_files(
    committed_app: Flask,
    own_database_url: str,
    tmp_path: Path,
    args: list[str],
    content: bytes | None,
    stderr: str,
) -> None:
    source = tmp_path / "IDF.csv"
    source.write_bytes(content if content is not None else csv_bytes([member()]))

    completed = run_cli(own_database_url, source, *args, cwd=tmp_path)

    assert completed.returncode == 2
    assert stderr in completed.stderr
    with committed_app.app_context():
        assert entries() == {}


def test_registry_import_cli_exit_2_for_a_missing_file(
    own_database_url: str, tmp_path: Path
) -> None:
    completed = run_cli(own_database_url, tmp_path / "absent.csv", "--council", "IDF", cwd=tmp_path)

    assert completed.returncode == 2 and "does not exist" in completed.stderr


# --- SECURITY.md 42: SIGKILL mid-write ---------------------------------------------------------

SIGKILL_ROWS = 30_000


@pytest.mark.slow
def test_registry_import_sigkill_leaves_registry_unchanged(
    committed_app: Flask, own_database_url: str, tmp_path: Path
) -> None:
    """A first import stores 30,000 entries; a second one (--full: 10,000 new rows, 20,000
    changed, 10,000 struck off) is SIGKILLed after it has written 25,000 rows of its
    transaction. The registry, the imports, the claims and the audit trail are exactly as
    before, and the next import runs normally."""
    with committed_app.app_context():
        run_import(csv_bytes(members(SIGKILL_ROWS), encoding="cp1252"))
        before = registry_dump()
    rows = members(SIGKILL_ROWS, start=100001 + SIGKILL_ROWS // 3)  # 10,000 gone, 10,000 new
    for row in rows[: SIGKILL_ROWS // 3 * 2]:
        row[4] = row[4].replace("@cabinet.fr", "@nouveau-cabinet.fr")
    source = tmp_path / "IDF.csv"
    source.write_bytes(csv_bytes(rows, encoding="cp1252"))

    process = subprocess.Popen(
        [str(REGISTRY_IMPORT), str(source), "--council", "IDF", "--full"],
        env=cli_env(own_database_url, **{PAUSE_ENV: "25000"}),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        marker = _wait_for_line(process, PAUSE_MARKER, timeout=120)
        assert marker is not None, process.stderr.read() if process.stderr else ""
        written = int(marker.rsplit(" ", 1)[1])
        assert 25_000 <= written < 40_000  # mid-write: 10,000 inserts + 15,000 of 30,000 updates
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    with committed_app.app_context():
        assert registry_dump() == before
        if own_database_url.startswith("sqlite"):
            assert db.session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        db.session.remove()

    after = run_cli(own_database_url, source, "--council", "IDF", "--full", cwd=tmp_path)

    assert after.returncode == 0, after.stderr
    assert "Ajoutées : 10000\nModifiées : 20000\nInchangées : 0\nRadiées : 10000" in after.stdout
    with committed_app.app_context():
        stored = entries()
        assert stored["100001"].status == "radie"
        assert stored[str(100001 + SIGKILL_ROWS - 1)].email is not None


def _wait_for_line(process: subprocess.Popen[str], prefix: str, timeout: float) -> str | None:
    """The first stdout line starting with `prefix`, or None when the process ends or the
    timeout passes first (a thread reads, so the wait is bounded)."""
    found: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(prefix):
                found.append(line.strip())
                break
        done.set()

    threading.Thread(target=read, daemon=True).start()
    done.wait(timeout)
    return found[0] if found else None
