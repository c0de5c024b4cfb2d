"""Registry name autocomplete over HTTP on 100,000 registry entries, served by gunicorn.

    .venv/bin/python bench/autocomplete.py        (SQLite, then PostgreSQL if reachable)

What the signup page's script calls while someone types a name:
`GET /signup/registry/search?q=...` (`profiles.registry_autocomplete`: at most 10 names and
councils from 3 letters, rate limited per IP). For each database it:

- migrates a temporary SQLite database (or a scratch PostgreSQL database `sesame_autocomplete`,
  created and dropped) with `idp db upgrade`;
- fills the registry as production does: the 100,000-row council file of
  bench/registry_import.py, imported with the `registry-import` console script;
- prints the plan of the search's SQL (EXPLAIN, captured from `search_entries` itself) and its
  time in process, without HTTP;
- starts `gunicorn -c deploy/gunicorn.conf.py 'idp:create_app()'` (sync workers, as deployed),
  with REGISTRY_SEARCHES_PER_IP raised through the environment: every client is 127.0.0.1,
  and the limit of 120 searches a minute per IP would stop the load, not a guesser;
- runs client processes, each with its own keep-alive HTTP connection (gunicorn's sync
  workers close it after each response: the client reconnects, as a browser would), sending
  what people type: 3 to 8 letters of a French family name (`lef`, `Lefèv`, `DUPON`...) or
  "family given" (`martin jea`, `Lefèvre Jea`), under two loads in turn:
  "typing" (8 clients, a query every 100 ms on average each: people typing, ~70 requests/s)
  and "saturated" (4 clients, queries back to back: the throughput ceiling);
- prints, per load, requests per second, latency median, p95 and p99 over the measured
  windows, and the CPU per request of gunicorn and of the clients (same 2 cores).

Target: p95 <= 20 ms. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import importlib.util
import json
import multiprocessing
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from _common import BIN, Argon2Settings, Server, cores, running

from idp.registry.names import search_key

TARGET_P95_MS = 20.0
SEARCH_PATH = "/signup/registry/search"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
POSTGRES_DB = "sesame_autocomplete"
COUNCIL = "IDF"
REQUEST_TIMEOUT = 10.0
# The per-IP search limit, out of the way for the load (idp/config.py Throttles).
NO_SEARCH_LIMIT = {"REGISTRY_SEARCHES_PER_IP": "1000000000 per minute"}


def _registry_import_bench() -> ModuleType:
    """bench/registry_import.py (its name is the package's: loaded from its path)."""
    path = Path(__file__).resolve().parent / "registry_import.py"
    spec = importlib.util.spec_from_file_location("bench_registry_import", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    saved = list(sys.path)  # it drops bench/ from the path; _common is imported from there
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module


# --- what people type ---------------------------------------------------------------------------


def typed_queries(families: Sequence[str], givens: Sequence[str], count: int) -> list[str]:
    """`count` queries: 70 % a family name's first 3 to 8 letters, 30 % "family given" with the
    given name's first 1 to 4 letters; typed as they come (capitals, lower case, accents
    kept or dropped). Each holds at least 3 key letters, as the script sends it then."""
    rng = random.Random(20261203)
    queries: list[str] = []
    while len(queries) < count:
        family = rng.choice(families)
        style = rng.random()
        if style < 0.2:
            family = family.upper()
        elif style < 0.6:
            family = family.lower()
        if rng.random() < 0.3:
            family = _without_accents(family)
        if rng.random() < 0.7:
            query = _letters_prefix(family, rng.randint(3, 8))
        else:
            given = rng.choice(givens)
            query = f"{family} {_letters_prefix(given, rng.randint(1, 4))}"
        if len(search_key(query)) >= 3:
            queries.append(query)
    return queries


def _letters_prefix(text: str, letters: int) -> str:
    """The start of `text` holding `letters` letters (`D'Arcy`, 3 -> `D'Ar`)."""
    seen = 0
    for index, char in enumerate(text):
        if char.isalpha():
            seen += 1
            if seen == letters:
                return text[: index + 1]
    return text


def _without_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# --- databases ----------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    server: Server

    def env(self) -> dict[str, str]:
        return self.server.env()


def sqlite_backend(root: Path, args: argparse.Namespace) -> Backend:
    workdir = root / "sqlite"
    workdir.mkdir()
    return Backend("SQLite", _server(workdir, args, {}))


@contextlib.contextmanager
def postgres_backend(root: Path, args: argparse.Namespace) -> Iterator[Backend | None]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    try:
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{POSTGRES_DB}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{POSTGRES_DB}"'))
    except Exception as error:  # not reachable: the SQLite figures still stand
        print(f"\nPostgreSQL not reachable ({type(error).__name__}): skipped")
        yield None
        return
    workdir = root / "postgres"
    workdir.mkdir()
    url = make_url(args.postgres).set(database=POSTGRES_DB).render_as_string(hide_password=False)
    try:
        yield Backend("PostgreSQL", _server(workdir, args, {"DATABASE_URL": url}))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{POSTGRES_DB}" WITH (FORCE)'))
        admin.dispose()


def _server(workdir: Path, args: argparse.Namespace, env: dict[str, str]) -> Server:
    return Server(
        workdir,
        Argon2Settings(),  # nobody logs in: the hashing cost plays no part
        workers=args.workers,
        worker_class=args.worker_class,
        threads=args.threads,
        redis_url=args.redis,
        extra_env={**NO_SEARCH_LIMIT, **env},
    )


def fill_registry(backend: Backend, source: Path) -> float:
    """`idp db upgrade`, then the council's file through `registry-import` (the product's path)."""
    started = time.perf_counter()
    backend.server.migrate()
    subprocess.run(
        [str(BIN / "registry-import"), str(source), "--council", COUNCIL],
        env=backend.env(),
        cwd=backend.server.workdir,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return time.perf_counter() - started


# --- the query itself, without HTTP -------------------------------------------------------------

_PLAN_SCRIPT = r"""
import json, statistics, sys, time
from sqlalchemy import event
from idp import create_app
from idp.extensions import db
from idp.registry.services import search_entries

queries = json.loads(sys.argv[1])
app = create_app()


def plan_of(query):
    captured = []
    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))
    event.listen(db.engine, "before_cursor_execute", capture)
    search_entries(db.session, query)
    event.remove(db.engine, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    sqlite = db.engine.dialect.name == "sqlite"
    explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, COSTS OFF) "
    cursor = db.session.connection().connection.cursor()
    cursor.execute(explain + statement, parameters)
    plan = [str(row[-1]) for row in cursor.fetchall()]
    cursor.close()
    values = parameters.values() if isinstance(parameters, dict) else parameters
    return {"query": query, "sql": " ".join(statement.split()),
            "parameters": [str(p) for p in values], "plan": plan}


with app.app_context():
    for query in queries:  # warm
        search_entries(db.session, query)
    per_query = {query: [] for query in queries}
    found = []
    for _ in range(3):
        for query in queries:
            started = time.perf_counter()
            found.append(len(search_entries(db.session, query)))
            per_query[query].append(1000 * (time.perf_counter() - started))
            db.session.expunge_all()
    times = [t for runs in per_query.values() for t in runs]
    slowest = max(queries, key=lambda q: statistics.median(per_query[q]))
    print(json.dumps({
        "first": plan_of(queries[0]),
        "slowest": plan_of(slowest) | {"median_ms": statistics.median(per_query[slowest])},
        "median_ms": statistics.median(times),
        "p95_ms": sorted(times)[int(0.95 * len(times))],
        "with_results": sum(1 for n in found if n) / len(found),
    }))
"""


def explain(backend: Backend, queries: Sequence[str]) -> dict[str, Any]:
    """The search's SQL as `search_entries` sends it, its plan, and its time in process."""
    done = subprocess.run(
        [sys.executable, "-c", _PLAN_SCRIPT, json.dumps(list(queries))],
        env=backend.env(),
        cwd=backend.server.workdir,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- HTTP load ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    done: float  # monotonic time the response was read
    seconds: float
    status: int  # 0: transport error
    results: int


def _client(
    job: tuple[int, int, Sequence[str], int, float, float, float],
) -> tuple[list[Sample], float]:
    """One client process: its own keep-alive connection, one query after another until `end`,
    `think` seconds apart on average (0: back to back). Returns its CPU seconds too."""
    number, port, queries, seed, start, end, think = job
    rng = random.Random(seed + number)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    samples = []
    while time.monotonic() < start:
        time.sleep(0.01)
    cpu = time.process_time()
    while (now := time.monotonic()) < end:
        path = SEARCH_PATH + "?q=" + urllib.parse.quote(rng.choice(queries))
        try:
            connection.request("GET", path, headers={"Accept": "application/json"})
            response = connection.getresponse()
            body = response.read()
            status = response.status
            if response.will_close:  # sync workers close: the next request reconnects
                connection.close()
        except (OSError, http.client.HTTPException):
            connection.close()
            samples.append(Sample(time.monotonic(), time.monotonic() - now, 0, 0))
            continue
        done = time.monotonic()
        results = len(json.loads(body)["results"]) if status == 200 else 0
        samples.append(Sample(done, done - now, status, results))
        if think:
            time.sleep(think * rng.uniform(0.5, 1.5))
    connection.close()
    return samples, time.process_time() - cpu


@dataclass(frozen=True)
class Phase:
    """A load: `clients` people typing, a query every `think_seconds` on average each (the
    page's script sends one per pause in typing), or back to back when 0 (saturation)."""

    name: str
    clients: int
    think_seconds: float

    def describe(self) -> str:
        if not self.think_seconds:
            return f"{self.name}: {self.clients} clients, queries back to back"
        return (
            f"{self.name}: {self.clients} clients, a query every "
            f"{1000 * self.think_seconds:.0f} ms on average each"
        )


def phases(args: argparse.Namespace) -> list[Phase]:
    return [
        Phase("typing", args.typing_clients, args.think_ms / 1000),
        Phase("saturated", args.clients, 0.0),
    ]


@dataclass
class Load:
    samples: list[Sample]
    rounds: list[list[Sample]] = field(default_factory=list)
    round_seconds: float = 0.0
    server_cpu: float = 0.0  # seconds used by gunicorn over the whole load
    client_cpu: float = 0.0  # seconds used by the client processes

    @property
    def measured(self) -> list[Sample]:
        return [s for window in self.rounds for s in window]


def run_load(
    server: Server,
    queries: Sequence[str],
    args: argparse.Namespace,
    pool: multiprocessing.pool.Pool,
    phase: Phase,
) -> Load:
    start = time.monotonic() + 1.0  # the clients' processes are up by then
    end = start + args.warmup + args.rounds * args.round_seconds
    jobs = [
        (n, server.port, queries, 20261203, start, end, phase.think_seconds)
        for n in range(phase.clients)
    ]
    server_cpu = server.cpu_seconds()
    per_client = pool.map(_client, jobs, chunksize=1)
    samples = sorted((s for client, _cpu in per_client for s in client), key=lambda s: s.done)
    load = Load(samples, round_seconds=args.round_seconds)
    load.server_cpu = server.cpu_seconds() - server_cpu
    load.client_cpu = sum(cpu for _samples, cpu in per_client)
    for n in range(args.rounds):
        low = start + args.warmup + n * args.round_seconds
        load.rounds.append([s for s in samples if low <= s.done < low + args.round_seconds])
    return load


# --- report -------------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


@dataclass
class Figures:
    database: str
    load: str
    rps: float
    median_ms: float
    p95_ms: float
    p99_ms: float
    in_process_median_ms: float
    in_process_p95_ms: float


def report(backend: Backend, phase: Phase, plan: dict[str, Any], load: Load) -> Figures:
    ok = [s for s in load.measured if s.status == 200]
    latencies = [1000 * s.seconds for s in ok]
    rates = [
        sum(1 for s in window if s.status == 200) / load.round_seconds for window in load.rounds
    ]
    statuses: dict[int, int] = {}
    for sample in load.samples:
        statuses[sample.status] = statuses.get(sample.status, 0) + 1
    figures = Figures(
        backend.name,
        phase.name,
        statistics.median(rates) if rates else 0.0,
        statistics.median(latencies) if latencies else float("nan"),
        percentile(latencies, 0.95),
        percentile(latencies, 0.99),
        float(plan["median_ms"]),
        float(plan["p95_ms"]),
    )
    verdict = "OK" if figures.p95_ms <= TARGET_P95_MS else "MISSED"
    print(f"  -- {phase.describe()} --")
    print(
        f"  per round (requests/s): {' '.join(f'{r:.0f}' for r in rates)}   "
        f"median {figures.rps:.0f}"
    )
    print(
        f"  latency over HTTP (ms): median {figures.median_ms:.1f}  p95 {figures.p95_ms:.1f}  "
        f"p99 {figures.p99_ms:.1f}  max {max(latencies, default=0):.1f}  "
        f"(target p95 <= {TARGET_P95_MS:.0f}: {verdict})"
    )
    answered = max(1, sum(1 for s in load.samples if s.status))
    print(
        f"  CPU per request (ms): gunicorn {1000 * load.server_cpu / answered:.2f}, "
        f"clients {1000 * load.client_cpu / answered:.2f}; the machine has "
        f"{1000 * cores() / figures.rps if figures.rps else float('nan'):.2f} per request "
        "at this rate"
    )
    print(
        f"  answers: {len(ok)} measured, "
        f"{sum(1 for s in ok if s.results) / max(1, len(ok)):.0%} with names, "
        f"{statistics.mean(s.results for s in ok) if ok else 0:.1f} names on average; "
        f"HTTP statuses over the whole run: "
        + ", ".join(f"{status or 'transport error'} x{n}" for status, n in sorted(statuses.items()))
    )
    return figures


def print_plan(plan: dict[str, Any]) -> None:
    first, slowest = plan["first"], plan["slowest"]
    print(f"  SQL of search_entries({first['query']!r}): {first['sql']}")
    print(f"    parameters: {first['parameters']}")
    print("    plan: " + "\n          ".join(first["plan"]))
    print(
        f"  in process, without HTTP (search_entries, 3 x the query set): "
        f"median {plan['median_ms']:.2f} ms, p95 {plan['p95_ms']:.2f} ms"
    )
    print(
        f"  slowest query in process: {slowest['query']!r} (median {slowest['median_ms']:.2f} ms), "
        f"parameters {slowest['parameters']}"
    )
    print("    plan: " + "\n          ".join(slowest["plan"]))


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="registry entries")
    parser.add_argument("--workers", type=int, default=max(2, cores()), help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument(
        "--typing-clients", type=int, default=8, help="clients of the typing load (default 8)"
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=100.0,
        help="typing load: mean pause between a client's queries (default 100 ms)",
    )
    parser.add_argument(
        "--clients", type=int, default=4, help="clients of the saturating load (default 4)"
    )
    parser.add_argument("--queries", type=int, default=2000, help="distinct queries typed")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not measured")
    parser.add_argument("--rounds", type=int, default=3, help="measured windows")
    parser.add_argument("--round-seconds", type=float, default=6.0, help="window length")
    parser.add_argument(
        "--redis", metavar="URL", help="REDIS_URL for throttles, e.g. redis://127.0.0.1:6379/15"
    )
    parser.add_argument("--postgres", default=POSTGRES_ADMIN, help="admin URL (scratch DB)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 2 when p95 misses")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def measure(
    backend: Backend,
    source: Path,
    queries: Sequence[str],
    args: argparse.Namespace,
    pool: multiprocessing.pool.Pool,
) -> list[Figures]:
    print(f"\n== {backend.name} ==")
    seconds = fill_registry(backend, source)
    print(f"  registry: {args.rows:,} entries imported with registry-import ({seconds:.1f} s)")
    plan = explain(backend, queries)
    print_plan(plan)
    figures = []
    with running(backend.server):
        for phase in phases(args):
            load = run_load(backend.server, queries, args, pool, phase)
            figures.append(report(backend, phase, plan, load))
    log = backend.server.log_counts()
    print("  server log: " + ", ".join(f'"{name}" {n}' for name, n in log.items()))
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bench = _registry_import_bench()
    # The names the generated file holds (split as bench/registry_import.py splits them).
    queries = typed_queries(
        bench.FAMILY_NAMES.split(), bench.GIVEN_NAMES.split() + list(bench.COMPOUND), args.queries
    )
    tmp = tempfile.TemporaryDirectory(prefix="sesame-bench-autocomplete-")
    root = Path(tmp.name)
    print("== Sésame registry autocomplete benchmark ==")
    print(
        f"machine: {cores()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"gunicorn {importlib.metadata.version('gunicorn')}; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (the machine is shared)"
    )
    source = root / "tableau-IDF.csv"
    started = time.perf_counter()
    bench.generate_file(source, args.rows)
    print(
        f"registry file: {args.rows:,} rows generated by bench/registry_import.py "
        f"({time.perf_counter() - started:.1f} s)"
    )
    print(
        f"server: gunicorn {args.workers} {args.worker_class} workers x {args.threads} "
        f"thread(s), throttles in {'Redis' if args.redis else 'memory'}; clients: processes, "
        "each with a keep-alive http.client connection"
    )
    for phase in phases(args):
        print(f"load {phase.describe()}")
    print(f"queries: {len(queries)} typed ({', '.join(repr(q) for q in queries[:8])}...)")
    print(
        f"throttle: REGISTRY_SEARCHES_PER_IP={NO_SEARCH_LIMIT['REGISTRY_SEARCHES_PER_IP']!r} "
        "(every client is 127.0.0.1; the default is 120 per minute;2000 per day)"
    )
    print(
        f"windows: {args.warmup:g} s warm-up, then {args.rounds} x {args.round_seconds:g} s "
        "measured"
    )
    results: list[Figures] = []
    try:
        processes = max(phase.clients for phase in phases(args))
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            results += measure(sqlite_backend(root, args), source, queries, args, pool)
            if not args.no_postgres:
                with postgres_backend(root, args) as postgres:
                    if postgres is not None:
                        results += measure(postgres, source, queries, args, pool)
    finally:
        if args.keep:
            print(f"kept: {root}")
            tmp._finalizer.detach()  # type: ignore[attr-defined]
        else:
            tmp.cleanup()

    print(f"\n== autocomplete over HTTP, {args.rows:,} entries, medians over the windows ==")
    print(
        f"{'database':<11} {'load':<10} {'requests/s':>10} {'median ms':>10} {'p95 ms':>8} "
        f"{'p99 ms':>8}  {'SQL in process med/p95 ms':>25}  p95 <= {TARGET_P95_MS:.0f} ms"
    )
    ok = True
    for f in results:
        met = f.p95_ms <= TARGET_P95_MS
        ok &= met
        print(
            f"{f.database:<11} {f.load:<10} {f.rps:>10.0f} {f.median_ms:>10.1f} {f.p95_ms:>8.1f} "
            f"{f.p99_ms:>8.1f}  {f.in_process_median_ms:>12.2f} / {f.in_process_p95_ms:<10.2f}"
            f"  {'OK' if met else 'MISSED'}"
        )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 2 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
