"""A 1,000,000-line FEC: import time and peak memory (SQLite, PostgreSQL), against a plain
`csv`-module loop into SQLite in the same run; then the indicator and échéancier pages of
that company over HTTP (issue 18, ADR 0027).

Run: .venv/bin/python bench/fec.py [--lines 1000000] [--requests 200]
     [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--skip-pages]

The file is generated (seeded, tab-separated, UTF-8, 18 columns): sales, purchases with
their supplier and VAT, bank payments lettering most invoices, salaries; à-nouveaux first.
Each import runs in a child process of its own (its peak resident memory is the child's
`ru_maxrss`), on a fresh database with the portal's schema:

- `import_fec` (client_portal_rp.fec.importer), SQLite file;
- the same on a throw-away PostgreSQL database (--database-url; skipped without it);
- the reference: `csv.reader` + `Decimal` amounts + `executemany` of every line into SQLite,
  then the same per-account balances in SQL — what an import written "by habit" does.

Then (unless --skip-pages) a portal on the SQLite database serves, to a signed-in member with
the compta module, --requests times each: the indicators page, the customers' and suppliers'
échéancier, and the charges by supplier; one new connection each, shuffled; median and p95 in
ms (target p95 <= 50 ms).

Targets: import <= 10 s and <= 500 MB on SQLite; >= 3x faster than the reference.
"""

# ruff: noqa: E402 - the import path is fixed before the imports (see bench/portal_upload.py)
from __future__ import annotations

import sys

sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("bench")]

import argparse
import csv
import json
import os
import random
import resource
import sqlite3
import subprocess
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIREN = "552100554"
HEADER = (
    "JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\tCompteLib\tCompAuxNum\t"
    "CompAuxLib\tPieceRef\tPieceDate\tEcritureLib\tDebit\tCredit\tEcritureLet\tDateLet\t"
    "ValidDate\tMontantdevise\tIdevise"
)


def _amount(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}"


def generate(path: Path, lines: int, seed: int = 18) -> int:
    """Write a plausible FEC of about `lines` lines; returns the exact count."""
    rng = random.Random(seed)
    start = date(2024, 1, 1)
    customers = [(f"C{n:05d}", f"CLIENT {n}") for n in range(2000)]
    suppliers = [(f"F{n:05d}", f"FOURNISSEUR {n}") for n in range(800)]
    charges = ["606100", "606400", "613200", "615000", "622600", "623000", "625100", "626000"]
    written = 0
    numbers = {"AN": 0, "VT": 0, "AC": 0, "BQ": 0, "OD": 0}
    letter = 0
    out = path.open("w", encoding="utf-8", newline="\n")
    out.write(HEADER + "\n")

    def row(
        j: str,
        jl: str,
        n: int,
        d: date,
        acct: str,
        alib: str,
        aux: str,
        auxl: str,
        piece: str,
        text: str,
        debit: int,
        credit: int,
        let: str = "",
        dlet: str = "",
    ) -> None:
        nonlocal written
        ds = d.strftime("%Y%m%d")
        out.write(
            f"{j}\t{jl}\t{n}\t{ds}\t{acct}\t{alib}\t{aux}\t{auxl}\t{piece}\t{ds}\t{text}\t"
            f"{_amount(debit)}\t{_amount(credit)}\t{let}\t{dlet}\t{ds}\t\t\n"
        )
        written += 1

    numbers["AN"] += 1
    row("AN", "A nouveaux", 1, start, "101000", "Capital", "", "", "AN1", "Report", 0, 5_000_000)
    row("AN", "A nouveaux", 1, start, "512000", "Banque", "", "", "AN1", "Report", 5_000_000, 0)
    while written < lines:
        day = start + timedelta(days=rng.randrange(365))
        kind = rng.random()
        if kind < 0.45:
            numbers["VT"] += 1
            n = numbers["VT"]
            aux, name = customers[rng.randrange(len(customers))]
            ht = rng.randrange(5_000, 500_000)
            tva = ht // 5
            paid = rng.random() < 0.85
            letter += 1
            let = f"L{letter}" if paid else ""
            piece = f"FV{n:07d}"
            row(
                "VT",
                "Ventes",
                n,
                day,
                "411000",
                "Clients",
                aux,
                name,
                piece,
                f"Facture {name}",
                ht + tva,
                0,
                let,
                day.strftime("%Y%m%d") if paid else "",
            )
            row(
                "VT",
                "Ventes",
                n,
                day,
                "706000",
                "Prestations",
                "",
                "",
                piece,
                f"Facture {name}",
                0,
                ht,
            )
            row(
                "VT",
                "Ventes",
                n,
                day,
                "445710",
                "TVA collectee",
                "",
                "",
                piece,
                f"Facture {name}",
                0,
                tva,
            )
            if paid:
                numbers["BQ"] += 1
                b = numbers["BQ"]
                row(
                    "BQ",
                    "Banque",
                    b,
                    day,
                    "512000",
                    "Banque",
                    "",
                    "",
                    f"RC{b}",
                    f"Reglement {name}",
                    ht + tva,
                    0,
                )
                row(
                    "BQ",
                    "Banque",
                    b,
                    day,
                    "411000",
                    "Clients",
                    aux,
                    name,
                    f"RC{b}",
                    f"Reglement {name}",
                    0,
                    ht + tva,
                    let,
                    day.strftime("%Y%m%d"),
                )
        elif kind < 0.9:
            numbers["AC"] += 1
            n = numbers["AC"]
            aux, name = suppliers[rng.randrange(len(suppliers))]
            ht = rng.randrange(1_000, 200_000)
            tva = ht // 5
            paid = rng.random() < 0.8
            letter += 1
            let = f"L{letter}" if paid else ""
            piece = f"FA{n:07d}"
            acct = charges[rng.randrange(len(charges))]
            row("AC", "Achats", n, day, acct, "Charges", "", "", piece, f"Facture {name}", ht, 0)
            row(
                "AC",
                "Achats",
                n,
                day,
                "445660",
                "TVA deductible",
                "",
                "",
                piece,
                f"Facture {name}",
                tva,
                0,
            )
            row(
                "AC",
                "Achats",
                n,
                day,
                "401000",
                "Fournisseurs",
                aux,
                name,
                piece,
                f"Facture {name}",
                0,
                ht + tva,
                let,
                day.strftime("%Y%m%d") if paid else "",
            )
            if paid:
                numbers["BQ"] += 1
                b = numbers["BQ"]
                row(
                    "BQ",
                    "Banque",
                    b,
                    day,
                    "401000",
                    "Fournisseurs",
                    aux,
                    name,
                    f"VI{b}",
                    f"Virement {name}",
                    ht + tva,
                    0,
                    let,
                    day.strftime("%Y%m%d"),
                )
                row(
                    "BQ",
                    "Banque",
                    b,
                    day,
                    "512000",
                    "Banque",
                    "",
                    "",
                    f"VI{b}",
                    f"Virement {name}",
                    0,
                    ht + tva,
                )
        else:
            numbers["OD"] += 1
            n = numbers["OD"]
            amount = rng.randrange(100_000, 600_000)
            row(
                "OD",
                "Operations diverses",
                n,
                day,
                "641000",
                "Salaires",
                "",
                "",
                f"PAIE{n}",
                "Salaires",
                amount,
                0,
            )
            row(
                "OD",
                "Operations diverses",
                n,
                day,
                "421000",
                "Personnel",
                "",
                "",
                f"PAIE{n}",
                "Salaires",
                0,
                amount,
            )
    out.close()
    return written


# --- children -------------------------------------------------------------------------------


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_import(path: Path, database_url: str) -> dict[str, object]:
    """In a child: the portal's schema on `database_url`, a company, then import_fec."""
    os.environ.setdefault("SECRET_KEY", "bench")
    from client_portal_rp import create_app
    from client_portal_rp.extensions import db
    from client_portal_rp.fec.importer import import_path
    from client_portal_rp.models import Company, Firm

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "bench",
            "PORTAL_BASE_URL": "http://127.0.0.1",
            "TESTING": True,
        }
    )
    with app.app_context():
        db.create_all()
        firm = Firm(name="Cabinet bench")
        company = Company(firm=firm, name="Bench SA", siren=SIREN)
        db.session.add_all([firm, company])
        db.session.commit()
        before = _peak_mb()
        started = time.perf_counter()
        report = import_path(company, path, actor_label="bench")
        seconds = time.perf_counter() - started
        assert report.ok, report.errors[:3]
        return {
            "seconds": seconds,
            "peak_mb": _peak_mb(),
            "peak_before_mb": before,
            "lines": report.line_count,
            "phases": {k: round(v, 2) for k, v in report.seconds.items()},
            "chiffre_affaires": report.fec_import.totals["chiffre_affaires"]
            if report.fec_import
            else None,
        }


def child_reference(path: Path, database: Path) -> dict[str, object]:
    """The habit: `csv.reader`, `Decimal` amounts and `datetime` dates checked line by line,
    every line `executemany`-ed into an indexed lines table (the drill-down's index), then
    the monthly per-account balances the indicators need computed in SQL."""
    from datetime import datetime

    started = time.perf_counter()
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE lines (import_id INTEGER, line_no INTEGER, journal TEXT, num TEXT,"
        " day DATE, account TEXT, party TEXT, piece TEXT, piece_day DATE, label TEXT,"
        " debit BIGINT, credit BIGINT, let TEXT, date_let DATE, PRIMARY KEY (import_id, line_no))"
    )
    connection.execute("CREATE INDEX ix_lines_party ON lines (import_id, party, day)")

    def cents(text: str) -> int:
        return int(Decimal(text.strip().replace(",", ".") or "0") * 100)

    def day(text: str) -> str | None:
        text = text.strip()
        return datetime.strptime(text, "%Y%m%d").date().isoformat() if text else None

    def rows() -> object:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t")
            next(reader)
            for number, f in enumerate(reader, start=2):
                yield (
                    1,
                    number,
                    f[0].strip(),
                    f[2].strip(),
                    day(f[3]),
                    f[4].strip(),
                    (f[6] or f[4]).strip(),
                    f[8].strip(),
                    day(f[9]),
                    f[10].strip(),
                    cents(f[11]),
                    cents(f[12]),
                    f[13].strip(),
                    day(f[14]),
                )

    connection.executemany("INSERT INTO lines VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows())
    balances = connection.execute(
        "SELECT account, substr(day, 1, 7), SUM(debit) - SUM(credit) FROM lines GROUP BY 1, 2"
    ).fetchall()
    connection.commit()
    connection.close()
    return {
        "seconds": time.perf_counter() - started,
        "peak_mb": _peak_mb(),
        "balances": len(balances),
    }


# --- pages over HTTP ---------------------------------------------------------------------


def serve(workdir: Path, database_url: str, port: int) -> None:
    """A portal on the imported database, a member with the compta module signed in with an
    MFA login (compta is a "sécurité avancée" module); ready.json says what to ask."""
    import signal
    import threading

    from sqlalchemy import select
    from werkzeug.serving import make_server

    from bench._common import portal_config, portal_login_cookie
    from client_portal_rp import create_app
    from client_portal_rp.extensions import db
    from client_portal_rp.models import (
        Company,
        FecImport,
        FecParty,
        Membership,
        Module,
        PortalUser,
        Role,
    )

    app = create_app(portal_config(database_url, port, workdir))
    with app.app_context():
        company = db.session.scalars(select(Company)).one()
        user = PortalUser(subject="bench-sub", email="bench@example.test", name="Bench")
        db.session.add(user)
        db.session.flush()
        membership = Membership(company_id=company.id, user_id=user.id, role=Role.USER.value)
        membership.set_modules({Module.COMPTA})
        db.session.add(membership)
        db.session.commit()
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
        fec_import = db.session.scalars(select(FecImport)).one()
        supplier = db.session.scalars(
            select(FecParty.party)
            .where(FecParty.import_id == fec_import.id, FecParty.role == "fournisseur")
            .order_by(FecParty.charges.desc())
        ).first()
        cookie = portal_login_cookie(app, user, advanced=True)
        base = f"/entreprises/{company.public_id}/compta"
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", port, app, threaded=False)
    pages = {
        "indicators": base,
        "échéancier clients": f"{base}/echeancier?cote=clients",
        "échéancier fournisseurs": f"{base}/echeancier?cote=fournisseurs",
        "charges by supplier": f"{base}/charges",
        "a supplier's entries": f"{base}/tiers?tiers={supplier}",
    }
    (workdir / "ready.json").write_text(json.dumps({"cookie": cookie, "pages": pages}))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


def measure_pages(workdir: Path, database_url: str, requests: int) -> None:
    import http.client
    import signal
    import statistics

    from bench._common import free_port, percentile, wait_ready

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", "serve", str(workdir), database_url, str(port)]
    )
    try:
        ready = json.loads(wait_ready(process, workdir / "ready.json", 120))

        def get(path: str) -> float:
            started = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("GET", path, headers={"Cookie": ready["cookie"]})
                response = connection.getresponse()
                response.read()
            finally:
                connection.close()
            if response.status != 200:
                raise SystemExit(f"GET {path} answered {response.status}")
            return (time.perf_counter() - started) * 1000

        pages: dict[str, str] = ready["pages"]
        for path in pages.values():
            for _ in range(5):
                get(path)
        order = [name for name in pages for _ in range(requests)]
        random.Random(18).shuffle(order)
        timings: dict[str, list[float]] = {name: [] for name in pages}
        for name in order:
            timings[name].append(get(pages[name]))
        print(
            f"pages over HTTP, {requests} requests each, shuffled "
            f"(load average {os.getloadavg()[0]:.1f}):"
        )
        for name, values in timings.items():
            p95 = percentile(values, 0.95)
            print(
                f"  {name}: median {statistics.median(values):.1f} ms, p95 {p95:.1f} ms "
                f"({'met' if p95 <= 50 else 'NOT met'}: target p95 <= 50 ms)"
            )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _run_child(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "serve":
            serve(Path(rest[0]), rest[1], int(rest[2]))
            return
        if kind == "import":
            result = child_import(Path(rest[0]), rest[1])
        else:
            result = child_reference(Path(rest[0]), Path(rest[1]))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="bench-fec-") as tmp:
        work = Path(tmp)
        fec = work / f"{SIREN}FEC20241231.txt"
        started = time.perf_counter()
        count = generate(fec, args.lines)
        print(
            f"generated {count:,} lines ({fec.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        load = os.getloadavg()[0]
        ours = _run_child("import", str(fec), f"sqlite:///{work / 'portal.db'}")
        print(
            f"import_fec, SQLite: {ours['seconds']:.2f} s, peak {ours['peak_mb']:.0f} MB "
            f"(after start-up {ours['peak_before_mb']:.0f} MB), "
            f"phases {ours['phases']} (cumulative)"
        )
        reference = _run_child("reference", str(fec), str(work / "reference.db"))
        print(
            f"reference csv + executemany, SQLite: {reference['seconds']:.2f} s, "
            f"peak {reference['peak_mb']:.0f} MB"
        )
        print(
            f"ratio reference / import_fec: {reference['seconds'] / ours['seconds']:.1f}x "  # type: ignore[operator]
            f"(load average at start {load:.1f})"
        )
        if args.database_url:
            from bench._common import drop_postgres, throwaway_postgres

            url, name = throwaway_postgres(args.database_url, "bench_fec")
            try:
                pg = _run_child("import", str(fec), url)
                print(
                    f"import_fec, PostgreSQL: {pg['seconds']:.2f} s, "
                    f"peak {pg['peak_mb']:.0f} MB, phases {pg['phases']}"
                )
            finally:
                drop_postgres(args.database_url, name)
        if not args.skip_pages:
            measure_pages(work, f"sqlite:///{work / 'portal.db'}", args.requests)


if __name__ == "__main__":
    main()
