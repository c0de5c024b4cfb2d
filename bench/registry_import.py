"""Registry import of a 100,000-row council file through the `registry-import` console script.

    .venv/bin/python bench/registry_import.py              (SQLite, then PostgreSQL if reachable)
    .venv/bin/python bench/registry_import.py --profile    (and where the first import's time goes)

Generates the file a regional council's Excel saves as "CSV (séparateur : point-virgule)":
cp1252, `;`, CRLF, Excel-style French headers (plus two columns the import ignores),
dd/mm/yyyy dates, French names with accents, every category and status. Then, on a temporary
SQLite database migrated with `idp db upgrade` and on a scratch PostgreSQL database
`sesame_bench` (127.0.0.1:5432, created and dropped), it times as a council runs them:

- dry run (read, validate, compare with the empty registry; nothing written);
- first import (100,000 entries added; the registry emptied again before each run);
- identical re-import (nothing changes: "Aucun changement").

A 1-row dry run first gives the fixed cost of the process (interpreter, imports,
`create_app()`). Each timing is the whole process (start-up, `create_app()`, reading,
validation, diff, writes, commit), with its CPU time (user + system, from wait4) and its peak
RSS (VmHWM): the import is one single-threaded process, so on a quiet machine its wall time is
its CPU time plus a little I/O, and on a busy one the CPU time is what other load changes least.
Targets on SQLite (wall time): first import <= 5 s, re-import <= 3 s, peak <= 300 MB.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import io
import os
import platform
import pstats
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from _common import BIN, REPO

# This script's name is the package's: import `registry_import` from the project, not from here.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

TARGETS = {"first import": 5.0, "re-import": 3.0}
TARGET_PEAK_MB = 300.0
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
POSTGRES_DB = "sesame_bench"
COUNCIL = "IDF"

FAMILY_NAMES = (
    "Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel "
    "Lefèvre Leroy Roux David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine "
    "Rousseau Vincent Müller Lefebvre Faure André Mercier Blanc Guérin Boyer Garnier Chevalier "
    "François Legrand Gauthier Garcia Perrin Robin Clément Morin Nicolas Henry Roussel Mathieu "
    "Gautier Masson Marchand Duval Denis Dumont Marie Lemaire Noël Meyer Dufour Meunier Brun "
    "Blanchard Giraud Joly Rivière Lucas Brunet Gaillard Barbier Arnaud Martinez Gérard Roche "
    "Renard Schmitt Roy Leroux Colin Vidal Caron Picard Roger Fabre Aubert Lemoine Renaud "
    "Dumas Lacroix Olivier Philippe Bourgeois Pierre Benoît Rey Leclerc Payet Rolland Leclercq "
    "Guillaume Lecomte López Jean Dupuy Guillot Hubert Berger Carpentier Sánchez Dupuis Moulin "
    "Louis Deschamps Huet Vasseur Perez Boucher Fleury Royer Klein Jacquet Adam Paris Poirier "
    "Marty Aubry Guyot Carré Charles Renault Charpentier Ménard Maillard Baron Bertin Bailly "
    "Hervé Schneider Fernandez Le_Gall Collet Léger Bouvier Julien Prévost Millet Perrot "
    "Daniel Le_Roux Cousin Germain Breton Besson Langlois Rémy Le_Goff Pelletier Lévêque "
    "Perrier Leblanc Barré Lebrun Marchal Weber Mallet Hamon Boulanger Jacob Monnier Michaud "
    "Rodriguez Guichard Gillet Étienne Grondin Poulain Tessier Chevallier Collin Chauvin "
    "Da_Silva Bouchet Gay Lemaître Bénard Maréchal Humbert Reynaud Antoine Hoarau Perret "
    "Barthélemy Cordier Pichon Lejeune Gilbert Lamy Delaunay Pasquier Carlier Laporte "
    "D'Arcy D'Almeida N'Diaye Œuvray Cœurderoy Saint-Exupéry Le_Bihan Château Brûlé"
).replace("_", " ")
GIVEN_NAMES = (
    "Jean Marie Michel Philippe Nathalie Isabelle Pierre Sylvie Catherine Françoise Alain "
    "Christine Patrick Nicolas Christophe Valérie Stéphane Sandrine Éric Céline Frédéric "
    "Laurent Sébastien Véronique Julien David Olivier Aurélie Anne Thierry Émilie Daniel "
    "Caroline Bernard Jacques Stéphanie Hélène Camille Léa Chloé Inès Zoé Anaïs Maëlle Noémie "
    "Agnès Béatrice Cécile Élodie Gaëlle Joël Noël Jérôme Hervé Raphaël Benoît Loïc Gaël "
    "Thérèse Josée Mélanie Ophélie Timothée Clémence Léon Félix Théo Mathéo Maël Aïcha"
)
COMPOUND = ("Jean-François", "Marie-Hélène", "Anne-Sophie", "Pierre-Yves", "Jean-Noël")
CATEGORIES = (
    ("Expert-comptable", 70),
    ("Expert-comptable stagiaire", 10),
    ("Salarié AGC 83 ter", 3),
    ("Salarié d'AGC (83 quater)", 2),
    ("EC honoraire", 5),
    ("Mémorialiste", 3),
    ("Membre ECE", 4),
    ("Filière CAFCAC", 3),
)
STATUSES = (("Inscrit", 95), ("Suspendu", 3), ("Radié", 2))
HEADER = (
    "N° d'inscription",
    "NOM",
    "Prénom(s)",
    "Date de naissance",
    "Adresse e-mail",
    "Catégorie",
    "Statut",
    "Cabinet",
    "SIREN",
    "Téléphone",
    "Adresse du cabinet",
)


# --- the council's file -------------------------------------------------------------------------


def _siren(rng: random.Random) -> str:
    """A random SIREN with a valid Luhn key."""
    digits = [rng.randrange(10) for _ in range(8)]
    for key in range(10):
        candidate = [*digits, key]
        total = 0
        for position, value in enumerate(reversed(candidate)):
            if position % 2:
                value *= 2
                value -= 9 if value > 9 else 0
            total += value
        if total % 10 == 0:
            return "".join(map(str, candidate))
    raise AssertionError("unreachable")


def _ascii(name: str) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", name.replace("Œ", "Oe").replace("œ", "oe"))
    return "".join(c for c in folded if c.isascii() and c.isalnum()).lower()


def generate_file(path: Path, rows: int, seed: int = 20261202) -> None:
    """`rows` members of a council, as Excel FR saves them (cp1252, `;`, CRLF)."""
    rng = random.Random(seed)
    families = FAMILY_NAMES.split()
    givens = GIVEN_NAMES.split() + list(COMPOUND)
    categories = [c for c, weight in CATEGORIES for _ in range(weight)]
    statuses = [s for s, weight in STATUSES for _ in range(weight)]
    domains = [f"cabinet-{_ascii(rng.choice(families))}{n}.fr" for n in range(2000)]
    firms = [f"Cabinet {rng.choice(families)} & Associés" for _ in range(2000)]
    start = date(1945, 1, 1)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADER)
    for n in range(rows):
        family = rng.choice(families)
        given = rng.choice(givens)
        if rng.random() < 0.2:
            given += " " + rng.choice(givens)
        firm_index = rng.randrange(len(firms))
        birth = start + timedelta(days=rng.randrange(365 * 57))
        writer.writerow(
            (
                f"{700000 + n}",
                family.upper() if rng.random() < 0.5 else family,
                given,
                birth.strftime("%d/%m/%Y"),
                ""
                if rng.random() < 0.08
                else f"{_ascii(given)[:12]}.{_ascii(family)}{n}@{domains[firm_index]}",
                rng.choice(categories),
                rng.choice(statuses),
                firms[firm_index],
                _siren(rng) if rng.random() < 0.5 else "",
                f"01 {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)} 00",
                f"{rng.randrange(1, 200)} rue de la République, 75001 Paris",
            )
        )
    path.write_bytes(buffer.getvalue().encode("cp1252"))


# --- databases ----------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    url: str
    workdir: Path
    reset_sql: tuple[str, ...] = ()
    template: Path | None = None  # SQLite: the migrated empty database, copied before a run

    def env(self) -> dict[str, str]:
        env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL") if key in os.environ}
        env.update(
            {
                "DATABASE_URL": self.url,
                "SECRET_KEY": secrets.token_urlsafe(48),
                "SESAME_ENV": "development",
                "IDP_ISSUER": "http://127.0.0.1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def migrate(self) -> None:
        subprocess.run(
            [str(BIN / "idp"), "db", "upgrade"],
            env=self.env(),
            cwd=self.workdir,
            check=True,
            capture_output=True,
            timeout=300,
        )

    def empty_registry(self) -> None:
        """Back to a migrated database with an empty registry."""
        if self.template is not None:
            database = Path(self.url.removeprefix("sqlite:///"))
            for suffix in ("-wal", "-shm"):
                Path(str(database) + suffix).unlink(missing_ok=True)
            shutil.copyfile(self.template, database)
            return
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        with engine.begin() as conn:
            for statement in self.reset_sql:
                conn.execute(text(statement))
        engine.dispose()


@contextlib.contextmanager
def sqlite_backend(root: Path) -> Iterator[Backend]:
    workdir = root / "sqlite"
    workdir.mkdir()
    database = workdir / "idp.sqlite"
    backend = Backend("SQLite", f"sqlite:///{database}", workdir)
    backend.migrate()
    template = workdir / "empty.sqlite"
    shutil.copyfile(database, template)
    backend.template = template
    yield backend


@contextlib.contextmanager
def postgres_backend(root: Path, admin_url: str) -> Iterator[Backend | None]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{POSTGRES_DB}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{POSTGRES_DB}"'))
    except Exception as error:  # not reachable: the SQLite figures still stand
        print(f"PostgreSQL not reachable ({type(error).__name__}): skipped")
        yield None
        return
    workdir = root / "postgres"
    workdir.mkdir()
    url = make_url(admin_url).set(database=POSTGRES_DB).render_as_string(hide_password=False)
    backend = Backend(
        "PostgreSQL",
        url,
        workdir,
        reset_sql=(
            "TRUNCATE profile_claims, registry_entries, registry_imports, audit_events "
            "RESTART IDENTITY CASCADE",
        ),
    )
    try:
        backend.migrate()
        yield backend
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{POSTGRES_DB}" WITH (FORCE)'))
        admin.dispose()


# --- runs ---------------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    cpu_seconds: float  # user + system: what other load on the machine changes least
    peak_mb: float
    stdout: str


@dataclass
class Step:
    name: str
    runs: list[Run] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def cpu_median(self) -> float:
        return statistics.median(r.cpu_seconds for r in self.runs)

    @property
    def peak_mb(self) -> float:
        return max(r.peak_mb for r in self.runs)


def run_import(backend: Backend, source: Path, *options: str) -> Run:
    """One `registry-import` process: wall time, CPU time (wait4's rusage) and its own peak RSS.

    The peak is the process's VmHWM, read every 20 ms while it runs: wait4's `ru_maxrss` keeps
    the high-water mark of the process it was forked from (this one, which imports SQLAlchemy
    and, with --profile, runs an import itself), so it would report this script's memory."""
    command = [str(BIN / "registry-import"), str(source), "--council", COUNCIL, *options]
    out = backend.workdir / "stdout.txt"
    err = backend.workdir / "stderr.txt"
    peak_kib = 0
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=backend.env(), cwd=backend.workdir, stdout=stdout, stderr=stderr
        )
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak_kib = max(peak_kib, _high_water_kib(process.pid))
            time.sleep(0.02)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(
            f"registry-import exited {process.returncode}: {err.read_text()[-2000:]}"
        )
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, cpu, peak_kib / 1024, out.read_text())


def _high_water_kib(pid: int) -> int:
    """VmHWM of a running process (0 once it has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure(backend: Backend, source: Path, runs: int) -> list[Step]:
    startup = Step("1-row dry run")
    dry, first, again = Step("dry run"), Step("first import"), Step("re-import")
    backend.empty_registry()
    one_row = backend.workdir / "one-row.csv"
    with source.open("rb") as whole:  # the header and the first row: the fixed cost
        one_row.write_bytes(whole.readline() + whole.readline())
    for _ in range(runs):
        startup.runs.append(run_import(backend, one_row, "--dry-run"))
    for _ in range(runs):
        dry.runs.append(run_import(backend, source, "--dry-run"))
    for _ in range(runs):
        backend.empty_registry()
        first.runs.append(run_import(backend, source))
    for _ in range(runs):
        again.runs.append(run_import(backend, source))
    if "Aucun changement" not in again.runs[-1].stdout:
        raise RuntimeError("the re-import changed something:\n" + again.runs[-1].stdout)
    print(f"\n{backend.name}: last first import said:")
    print("  " + first.runs[-1].stdout.strip().replace("\n", "\n  "))
    return [startup, dry, first, again]


def profile_first_import(backend: Backend, source: Path, top: int) -> None:
    """cProfile of a first import, in this process (same code path as the console script)."""
    backend.empty_registry()
    os.environ.update(backend.env())
    from idp import create_app
    from idp.audit.services import CLI
    from idp.extensions import db
    from registry_import.service import import_file

    app = create_app()
    profiler = cProfile.Profile()
    with app.app_context():
        started = time.perf_counter()
        profiler.enable()
        outcome = import_file(
            db.session, source, file_name=source.name, council_code=COUNCIL, actor=CLI
        )
        db.session.commit()
        profiler.disable()
        seconds = time.perf_counter() - started
        print(
            f"\n== profile: first import on {backend.name}, in process: {seconds:.2f} s "
            f"({outcome.record.added} added) =="
        )
    stats = pstats.Stats(profiler)
    for order in ("cumulative", "tottime"):
        print(f"-- top {top} by {order} --")
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats(order).print_stats(top)
        lines = [line for line in stream.getvalue().splitlines() if line.strip()]
        body = lines[next(i for i, line in enumerate(lines) if "ncalls" in line) :]
        print(
            "\n".join(
                line.replace(str(REPO) + "/", "").replace(sys.prefix + "/", "")[:150]
                for line in body
            )
        )
    del stats


def print_table(results: dict[str, list[Step]], rows: int) -> bool:
    print(f"\n== registry-import, {rows:,} rows (cp1252, ';', CRLF), medians ==")
    print(
        f"{'database':<11} {'step':<13} {'runs (s)':<24} {'median':>8} {'CPU':>7} "
        f"{'peak RSS':>9}  target (wall time)"
    )
    ok = True
    for backend, steps in results.items():
        for step in steps:
            runs = " ".join(f"{r.seconds:.2f}" for r in step.runs)
            target = ""
            if backend == "SQLite":
                limit = TARGETS.get(step.name)
                verdict = []
                if limit is not None:
                    met = step.median <= limit
                    ok &= met
                    verdict.append(f"<= {limit:.0f} s {'OK' if met else 'MISSED'}")
                met_mem = step.peak_mb <= TARGET_PEAK_MB
                ok &= met_mem
                verdict.append(f"<= {TARGET_PEAK_MB:.0f} MB {'OK' if met_mem else 'MISSED'}")
                target = ", ".join(verdict)
            print(
                f"{backend:<11} {step.name:<13} {runs:<24} {step.median:>7.2f}s "
                f"{step.cpu_median:>6.2f}s {step.peak_mb:>6.0f} MB  {target}"
            )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per step (median)")
    parser.add_argument("--postgres", default=POSTGRES_ADMIN, help="admin URL (scratch DB)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile a first import")
    parser.add_argument("--top", type=int, default=25, help="profile lines shown")
    parser.add_argument("--check", action="store_true", help="exit 2 when a target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="sesame-bench-import-"))
    try:
        source = root / "tableau-IDF.csv"
        started = time.perf_counter()
        generate_file(source, args.rows)
        print("== Sésame registry import benchmark ==")
        print(
            f"machine: {os.cpu_count()} cores, {platform.machine()},"
            f" Python {platform.python_version()}; load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (the machine is shared)"
        )
        print(
            f"file: {source.name}, {args.rows:,} rows, {source.stat().st_size / 1e6:.1f} MB, "
            f"generated in {time.perf_counter() - started:.1f} s"
        )
        results: dict[str, list[Step]] = {}
        with sqlite_backend(root) as sqlite:
            results["SQLite"] = measure(sqlite, source, args.runs)
            if args.profile:
                profile_first_import(sqlite, source, args.top)
        if not args.no_postgres:
            with postgres_backend(root, args.postgres) as postgres:
                if postgres is not None:
                    results["PostgreSQL"] = measure(postgres, source, args.runs)
        ok = print_table(results, args.rows)
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return 2 if args.check and not ok else 0
    finally:
        if args.keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
