"""Password logins per second over HTTP vs raw argon2 verifications per second, one run.

    .venv/bin/python bench/login.py            (or `make bench`)

Sets up a temporary IdP (SQLite migrated with `idp db upgrade`, active accounts, gunicorn with
4 workers on 127.0.0.1), drives it with a bounded number of concurrent clients doing what a
browser does (GET /login for the CSRF token and cookie, POST /login, expect 302 to /account),
then measures the same machine's raw argon2id verifications per second with the same
parameters and as many processes as the server runs argon2 in. The ratio logins/raw says what
everything besides hashing costs (target: >= 0.85). See bench/README.md.

Only 127.0.0.1 is contacted; every loop is bounded by the measurement window and every request
by a timeout, so the script always stops by itself.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import multiprocessing
import platform
import resource
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count
from multiprocessing.pool import Pool as PoolType
from pathlib import Path

import requests
from _common import BENCH_PASSWORD, Argon2Settings, Server, cores, csrf_token, running

from idp.accounts.passwords import PasswordHasher

TARGET_RATIO = 0.85
REQUEST_TIMEOUT = 30.0
SETTLE_SECONDS = 2.0  # later rounds: the queue refills within one login

PARAMETER_RATIONALE = (
    "RFC 9106 section 4, second recommended option (m=64 MiB, t=3, p=4: for memory-"
    "constrained servers); above OWASP's minimum (m=19 MiB, t=2, p=1). "
    "docs/adr/0003-argon2-parameters.md"
)


@dataclass(frozen=True)
class Sample:
    """One login attempt by one client: when it ended, how it went, how long each step took."""

    done: float
    ok: bool
    status: int  # the first status >= 500 seen, else the POST's status; 0 on a transport error
    get_seconds: float
    post_seconds: float


@dataclass(frozen=True)
class Windows:
    """Warm-up then `rounds` measured windows, on a monotonic clock shared by all processes."""

    start: float
    warmup: float
    rounds: int
    length: float

    @property
    def end(self) -> float:
        return self.start + self.warmup + self.rounds * self.length

    def bounds(self, n: int) -> tuple[float, float]:
        low = self.start + self.warmup + n * self.length
        return low, low + self.length

    @property
    def measured(self) -> tuple[float, float]:
        return self.start + self.warmup, self.end

    def rates(self, done: Sequence[float]) -> list[float]:
        """Events per second in each measured window (events counted when they complete)."""
        rates = []
        for n in range(self.rounds):
            low, high = self.bounds(n)
            rates.append(sum(1 for t in done if low <= t < high) / self.length)
        return rates


# --- HTTP load ----------------------------------------------------------------------------


def login_once(http: requests.Session, base_url: str, username: str) -> Sample:
    """GET /login then POST the form, as a browser would; fresh cookies each time."""
    http.cookies.clear()
    started = time.monotonic()
    try:
        page = http.get(base_url + "/login", timeout=REQUEST_TIMEOUT)
        got = time.monotonic()
        if page.status_code != 200:
            return Sample(got, False, page.status_code, got - started, 0.0)
        answer = http.post(
            base_url + "/login",
            data={
                "csrf_token": csrf_token(page.text),
                "username": username,
                "password": BENCH_PASSWORD,
            },
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT,
        )
    except (requests.RequestException, ValueError):
        now = time.monotonic()
        return Sample(now, False, 0, now - started, 0.0)
    done = time.monotonic()
    ok = answer.status_code == 302 and answer.headers.get("Location", "").endswith("/account")
    return Sample(done, ok, answer.status_code, got - started, done - got)


def run_load(base_url: str, users: list[str], clients: int, windows: Windows) -> list[Sample]:
    """`clients` threads log in back to back until the last window closes."""
    samples: list[Sample] = []
    lock = threading.Lock()
    tickets = count()

    def client() -> None:
        with requests.Session() as http:
            while time.monotonic() < windows.end:
                with lock:
                    username = users[next(tickets) % len(users)]
                sample = login_once(http, base_url, username)
                with lock:
                    samples.append(sample)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=windows.end - time.monotonic() + 2 * REQUEST_TIMEOUT + 5)
    with lock:
        return list(samples)


# --- raw argon2 ---------------------------------------------------------------------------


def _verify_loop(args: tuple[Argon2Settings, float, float]) -> list[float]:
    """One process verifying back to back between two instants; returns completion times."""
    settings, start, end = args
    # The app's own hasher: the raw figure measures exactly what a login verifies.
    hasher = PasswordHasher(settings)
    password_hash = hasher.hash(BENCH_PASSWORD)
    while time.monotonic() < start:
        time.sleep(0.01)
    done = []
    while time.monotonic() < end:
        assert hasher.verify(password_hash, BENCH_PASSWORD)
        done.append(time.monotonic())
    return done


def raw_round(pool: PoolType, settings: Argon2Settings, processes: int, length: float) -> float:
    """Verifications per second of `processes` pool processes over one window of `length` s.

    The window opens after a 1.5 s ramp (each process first hashes its own password)."""
    window = Windows(time.monotonic() + 0.5, 1.0, 1, length)
    jobs = [(settings, window.start, window.end)] * processes
    per_process = pool.map_async(_verify_loop, jobs, chunksize=1).get(timeout=length + 120)
    return window.rates([t for times in per_process for t in times])[0]


# --- report -------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def fmt_rates(rates: Sequence[float]) -> str:
    return " ".join(f"{r:.2f}" for r in rates) + f"   median {statistics.median(rates):.2f}"


def database_rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(path, timeout=30) as conn:
        return {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
            for table in ("users", "user_sessions", "audit_events")
        }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-cost", type=int, default=3, help="argon2 t (default 3)")
    parser.add_argument("--memory-kib", type=int, default=65536, help="argon2 m in KiB")
    parser.add_argument("--parallelism", type=int, default=4, help="argon2 p (default 4)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument(
        "--clients", type=int, default=0, help="concurrent clients (default 2 per worker)"
    )
    parser.add_argument("--users", type=int, default=16, help="accounts logged into in turn")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds not measured")
    parser.add_argument("--rounds", type=int, default=3, help="measured windows")
    parser.add_argument("--round-seconds", type=float, default=10.0, help="window length")
    parser.add_argument(
        "--raw-processes",
        default="cores,workers",
        help="process counts tried for raw argon2 (best one is the reference): "
        "numbers, 'cores', 'workers' (default cores,workers)",
    )
    parser.add_argument(
        "--redis", metavar="URL", help="REDIS_URL for throttles, e.g. redis://127.0.0.1:6379/15"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--check", action="store_true", help="exit 2 when the ratio is below the target"
    )
    return parser.parse_args(argv)


def raw_process_counts(spec: str, workers: int) -> list[int]:
    names = {"cores": cores(), "workers": workers}
    return sorted({names[item] if item in names else int(item) for item in spec.split(",")})


@dataclass
class Results:
    """What the rounds measured (the HTTP and raw windows of one round are back to back)."""

    login_rates: list[float]
    raw_rates: dict[int, list[float]]
    samples: list[Sample]
    measured: list[Sample]
    server_cpu: float = 0.0  # seconds used by gunicorn during the HTTP phases
    client_cpu: float = 0.0  # seconds used by this process (the clients) meanwhile


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(args: argparse.Namespace, server: Server, users: list[str]) -> Results:
    """Alternate HTTP windows and raw windows, so that any other load on the machine weighs
    on both figures alike; the server sits idle (no CPU) while argon2 runs raw."""
    settings = server.argon2
    clients = args.clients or 2 * args.workers * args.threads
    counts = raw_process_counts(args.raw_processes, args.workers)
    results = Results([], {n: [] for n in counts}, [], [])
    with multiprocessing.get_context("spawn").Pool(max(counts)) as pool:
        for n in range(args.rounds):
            ramp = args.warmup if n == 0 else SETTLE_SECONDS
            window = Windows(time.monotonic(), ramp, 1, args.round_seconds)
            server_cpu, client_cpu = server.cpu_seconds(), _own_cpu()
            samples = run_load(server.base_url, users, clients, window)
            results.server_cpu += server.cpu_seconds() - server_cpu
            results.client_cpu += _own_cpu() - client_cpu
            results.login_rates.append(window.rates([s.done for s in samples if s.ok])[0])
            low, high = window.measured
            results.measured += [s for s in samples if low <= s.done < high]
            results.samples += samples
            for processes in counts:
                rate = raw_round(pool, settings, processes, args.round_seconds)
                results.raw_rates[processes].append(rate)
            print(
                f"  round {n + 1}: logins/s {results.login_rates[-1]:.2f}, raw verify/s "
                + ", ".join(
                    f"{rates[-1]:.2f} ({p} proc)" for p, rates in results.raw_rates.items()
                ),
                flush=True,
            )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Argon2Settings(args.time_cost, args.memory_kib, args.parallelism)
    clients = args.clients or 2 * args.workers * args.threads
    tmp = tempfile.TemporaryDirectory(prefix="sesame-bench-")
    workdir = Path(tmp.name)
    print("== Sésame login benchmark ==")
    print(
        f"machine: {cores()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"argon2-cffi {importlib.metadata.version('argon2-cffi')}, "
        f"gunicorn {importlib.metadata.version('gunicorn')}"
    )
    print(f"argon2: {settings.describe()}")
    if (args.time_cost, args.memory_kib, args.parallelism) == (3, 65536, 4):
        print(f"        why: {PARAMETER_RATIONALE}")
    print(f"        memory per concurrent login: {settings.memory_cost_kib / 1024:g} MiB")

    server = Server(
        workdir,
        settings,
        workers=args.workers,
        worker_class=args.worker_class,
        threads=args.threads,
        redis_url=args.redis,
    )
    t0 = time.monotonic()
    server.migrate()
    users = server.create_users(args.users)
    print(f"setup: {workdir} migrated, {len(users)} accounts ({time.monotonic() - t0:.1f} s)")
    print(
        f"server: gunicorn {args.workers} {args.worker_class} workers x {args.threads} "
        f"thread(s), SQLite WAL, throttles in {'Redis' if args.redis else 'memory'}; "
        f"{clients} concurrent clients (GET /login + POST /login each)"
    )
    print(
        f"windows: {args.warmup:g} s warm-up, then {args.rounds} rounds of "
        f"{args.round_seconds:g} s HTTP + {args.round_seconds:g} s raw per process count"
    )
    with running(server):
        results = measure(args, server, users)
    log_counts = server.log_counts()
    rows = database_rows(server.database_path)

    samples = results.samples
    login_median = statistics.median(results.login_rates)
    best_processes = max(results.raw_rates, key=lambda p: statistics.median(results.raw_rates[p]))
    raw_median = statistics.median(results.raw_rates[best_processes])
    ratio = login_median / raw_median if raw_median else float("nan")
    round_ratios = [
        login / raw
        for login, raw in zip(results.login_rates, results.raw_rates[best_processes], strict=True)
    ]
    total_ok = sum(1 for s in samples if s.ok)
    server_errors = sum(1 for s in samples if s.status >= 500)
    transport_errors = sum(1 for s in samples if s.status == 0)
    other_failures = sum(1 for s in samples if not s.ok) - server_errors - transport_errors
    ok_measured = [s for s in results.measured if s.ok]
    totals = [s.get_seconds + s.post_seconds for s in ok_measured]
    posts = [s.post_seconds for s in ok_measured]
    gets = [s.get_seconds for s in ok_measured]

    print()
    print(f"logins/s over HTTP:        {fmt_rates(results.login_rates)}")
    for processes, rates in results.raw_rates.items():
        mark = "  <- reference (best)" if processes == best_processes else ""
        print(f"raw argon2 verify/s, {processes} proc: {fmt_rates(rates)}{mark}")
    verdict = "OK" if ratio >= TARGET_RATIO else "BELOW TARGET"
    print(
        f"ratio logins/raw:          {ratio:.3f}  (target >= {TARGET_RATIO}: {verdict}; "
        f"everything besides hashing {100 * (1 - ratio):.1f} %)"
    )
    print("ratio per round:           " + " ".join(f"{r:.3f}" for r in round_ratios))
    print(
        "ratio vs each raw figure:  "
        + ", ".join(
            f"{p} proc {login_median / statistics.median(r):.3f}"
            for p, r in results.raw_rates.items()
        )
        + f"  ({args.workers} proc = the server's {args.workers} workers x p={args.parallelism})"
    )
    print(
        f"cost per verification:     {1000 * cores() / raw_median:.0f} ms of one core "
        f"(machine saturated: {raw_median:.2f}/s on {cores()} cores)"
    )
    cpu_per_raw = 1000 * cores() / raw_median
    server_per_login = 1000 * results.server_cpu / total_ok if total_ok else float("nan")
    client_per_login = 1000 * results.client_cpu / total_ok if total_ok else float("nan")
    print(
        f"CPU per login (ms):        gunicorn {server_per_login:.0f} "
        f"(of which ~{server_per_login - cpu_per_raw:.0f} besides argon2), "
        f"load generator {client_per_login:.1f}; "
        f"the machine has {1000 * cores() / login_median:.0f} per login at this rate"
    )
    if totals:
        print(
            f"latency per login (s):     GET+POST median {statistics.median(totals):.3f} "
            f"p95 {percentile(totals, 0.95):.3f} | POST median {statistics.median(posts):.3f} "
            f"p95 {percentile(posts, 0.95):.3f} | GET median {statistics.median(gets):.3f}"
        )
    print(
        f"HTTP outcomes (whole run): {total_ok} logins OK, 5xx {server_errors}, "
        f"other failures {other_failures}, transport errors {transport_errors}"
    )
    print(
        "server log:                "
        + ", ".join(f'"{name}" {number}' for name, number in log_counts.items())
    )
    print(
        f"database rows:             user_sessions {rows['user_sessions']} "
        f"(= logins OK {total_ok}: {'yes' if rows['user_sessions'] == total_ok else 'NO'}), "
        f"audit_events {rows['audit_events']}, users {rows['users']}"
    )
    if args.keep:
        print(f"kept: {workdir} (gunicorn.log, idp.sqlite)")
        tmp._finalizer.detach()  # type: ignore[attr-defined]
    else:
        tmp.cleanup()

    broken = server_errors or log_counts["database is locked"] or log_counts["unhandled error"]
    if broken:
        return 1
    if args.check and not ratio >= TARGET_RATIO:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
