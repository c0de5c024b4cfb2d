"""The portal API's deposit list with 10,000 deposits in one company, over real HTTP, and what
checking its bearer token costs (issue 17, ADR 0026).

Run: .venv/bin/python bench/portal_api.py [--requests 300] [--deposits 10000]
     [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

A portal (client_portal_rp:create_app) starts in a child process on 127.0.0.1 (Werkzeug's
threaded WSGI server) on a database of its own: a temporary SQLite file by default; with
--database-url, a throw-away database created on that PostgreSQL server (dropped at the end).
One company gets --deposits deposits (bulk insert: the firm's four types, the three statuses,
spread over two years, uploaded by three people), four other companies of the firm
--other-deposits more, so the company filter has something to skip. The portal checks tokens
against a bench key set (the IdP's JWKS in use; as tests/client_portal_rp/api/support.py
`use_test_keys` does), and a member of the company calls, with one ES256 access token shaped
like the IdP's (RFC 9068: typ at+jwt, iss, aud = the API, scope, acr, gid), --requests times
each of:

- `GET /api/v1/companies/{id}/deposits`: the first page (50, newest first);
- the same with `cursor=`: a deep page (the 150th of 200, reached by following next_cursor);
- the same filtered: a type, a status and a period (varying);
- `GET /api/v1/companies/{id}`: the company alone, the smallest authenticated answer;

one new connection each, timed from the client (the order is shuffled so that no endpoint gets
the warmest moments). It prints each one's median and 95th percentile in ms (target p95 <= 50
ms), the database's plan of the three list queries, and the cost of
`client_portal_rp.api.tokens.validate` alone on the same token (median µs per call, keys
already imported) next to the median request: target <= 10 %.
"""

# ruff: noqa: E402 - the import path is fixed before the imports (see bench/portal_upload.py)
from __future__ import annotations

import sys

sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("bench")]

import argparse
import http.client
import json
import logging
import os
import random
import secrets
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._common import (
    drop_postgres,
    free_port,
    percentile,
    portal_config,
    throwaway_postgres,
    wait_ready,
)

ISSUER = "https://sesame.example"
SCOPES = "openid portal.deposits portal.accounting portal.archives portal.accesses"
ENDPOINTS = ("first page", "deep page (cursor)", "filtered", "company (no list)")
DEEP_PAGE = 150  # of 200 pages of 50 for 10,000 deposits
PAGE_LIMIT = 50
SPAN_DAYS = 730  # deposits spread over the last two years
KINDS = [("pdf", ".pdf"), ("pdf", ".pdf"), ("image", ".jpg"), ("csv", ".csv")]
STATUSES = ["depose", "depose", "pris_en_charge", "traite"]
NAMES = ["Facture", "Ticket", "Relevé", "Avoir", "Note de frais", "Bon de livraison"]


def seed(
    company_id: int, type_ids: list[int], people: list[int], count: int, rng: random.Random
) -> None:
    """`count` deposits for the company, by bulk insert (2,000 rows a statement)."""
    from sqlalchemy import insert

    from client_portal_rp.extensions import db
    from client_portal_rp.models import Deposit, new_public_id

    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for n in range(count):
        kind, extension = rng.choice(KINDS)
        digest = secrets.token_hex(32)
        rows.append(
            {
                "public_id": new_public_id(),
                "company_id": company_id,
                "deposit_type_id": rng.choice(type_ids),
                "uploaded_by_id": rng.choice(people),
                "source": "web" if rng.random() < 0.9 else "email",
                "filename": f"{rng.choice(NAMES)} {n:05d}{extension}",
                "kind": kind,
                "size": rng.randint(20_000, 5_000_000),
                "sha256": digest,
                "blob_sha256": digest,
                "processing": "none",
                "comment": "",
                "status": rng.choice(STATUSES),
                "firm_note": "",
                "created_at": now - timedelta(seconds=rng.random() * SPAN_DAYS * 86400),
            }
        )
    for first in range(0, len(rows), 2000):
        db.session.execute(insert(Deposit), rows[first : first + 2000])
    db.session.commit()


def query_plans(company_id: int, type_id: int) -> dict[str, list[str]]:
    """How the database runs the list's statement: first page, deep page, filtered."""
    from sqlalchemy import and_, or_, select, text

    from client_portal_rp.extensions import db
    from client_portal_rp.models import Deposit

    base = select(Deposit).where(Deposit.company_id == company_id)
    newest = (Deposit.created_at.desc(), Deposit.id.desc())
    middle = datetime.now(UTC) - timedelta(days=SPAN_DAYS * 3 // 4)
    after = or_(Deposit.created_at < middle, and_(Deposit.created_at == middle, Deposit.id < 10**9))
    statements = {
        "first page": base.order_by(*newest).limit(PAGE_LIMIT + 1),
        # As api/pagination.py `keyset_page` writes it: the redundant `created_at <=` is what
        # PostgreSQL uses as an index range; the OR alone, which it does not, for comparison.
        "deep page": base.where(Deposit.created_at <= middle, after)
        .order_by(*newest)
        .limit(PAGE_LIMIT + 1),
        "deep page, OR alone": base.where(after).order_by(*newest).limit(PAGE_LIMIT + 1),
        "filtered": base.where(
            Deposit.deposit_type_id == type_id,
            Deposit.status == "depose",
            Deposit.created_at >= middle,
        )
        .order_by(*newest)
        .limit(PAGE_LIMIT + 1),
    }
    plans = {}
    for name, statement in statements.items():
        sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
        if db.engine.dialect.name == "sqlite":
            rows = db.session.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
            plans[name] = [str(row[-1]) for row in rows]
        else:
            rows = db.session.execute(text(f"EXPLAIN ANALYZE {sql}")).all()
            plans[name] = [str(row[0]).strip() for row in rows]
    return plans


def bench_keys() -> tuple[Any, dict[str, Any]]:
    from joserfc.jwk import ECKey, KeySet

    key = ECKey.generate_key("P-256", parameters={"kid": "bench-key-1", "use": "sig"})
    return key, KeySet([key]).as_dict(private=False)


def access_token(key: Any, subject: str, audience: str) -> str:
    """An access token as the IdP signs it (idp/oidc/tokens.py), valid for an hour."""
    from joserfc import jwt

    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": subject,
        "aud": ["sesame-mobile", audience],
        "client_id": "sesame-mobile",
        "iat": now,
        "exp": now + 3600,
        "jti": secrets.token_urlsafe(16),
        "gid": secrets.token_urlsafe(16),
        "sid": secrets.token_urlsafe(16),
        "auth_time": now,
        "scope": SCOPES,
        "acr": "urn:sesame:acr:pwd",
        "amr": ["pwd"],
    }
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}, claims, key)


def serve(port: int, database_url: str, workdir: Path, args: argparse.Namespace) -> None:
    """The portal on 127.0.0.1:port with the data loaded; writes what the client needs to
    `workdir/ready.json` once it listens."""
    from sqlalchemy import select
    from werkzeug.serving import make_server

    from client_portal_rp import create_app
    from client_portal_rp.api.tokens import KeyCache
    from client_portal_rp.companies import add_company, create_firm
    from client_portal_rp.extensions import db
    from client_portal_rp.models import DepositType, Membership, Module, PortalUser, Role

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    base_url = f"http://127.0.0.1:{port}"
    config = portal_config(database_url, port, workdir)
    # Counted as in use (memory store), never reached: the bench measures, not limits.
    config["PORTAL_API_RATE_LIMIT"] = 100_000_000
    app = create_app(config)
    key, jwks = bench_keys()
    app.extensions["portal.api.keys"] = KeyCache(lambda force: jwks)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    with app.app_context():
        db.create_all()
        firm = create_firm("Cabinet Bench")
        company = add_company(firm, siren="732829320", name="Bench SARL")
        others = [
            add_company(firm, siren=siren, name=f"Autre client {n}")
            for n, siren in enumerate(("552100554", "542065479", "775670417", "443061841"))
        ]
        people = [
            PortalUser(subject=f"bench-sub-{n}", email=f"bench{n}@example.test", name=f"P{n}")
            for n in range(3)
        ]
        db.session.add_all(people)
        db.session.flush()
        for person in people:
            membership = Membership(company_id=company.id, user_id=person.id, role=Role.USER.value)
            membership.set_modules({Module.DEPOSIT})
            db.session.add(membership)
        db.session.commit()
        type_ids = list(
            db.session.scalars(select(DepositType.id).where(DepositType.firm_id == firm.id))
        )
        person_ids = [person.id for person in people]
        seed(company.id, type_ids, person_ids, args.deposits, rng)
        for other in others:
            seed(other.id, type_ids, person_ids, args.other_deposits // len(others), rng)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(db.text("VACUUM ANALYZE deposits"))
        else:
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        loaded = time.perf_counter() - started
        plans = query_plans(company.id, type_ids[0])
        codes = list(
            db.session.scalars(select(DepositType.code).where(DepositType.firm_id == firm.id))
        )
        company_id = company.public_id
        subject = people[0].subject
    audience = f"{base_url}/api/v1"
    server = make_server("127.0.0.1", port, cpu_timed(app), threaded=True)
    ready = {
        "company": company_id,
        "token": access_token(key, subject, audience),
        "jwks": jwks,
        "audience": audience,
        "type_codes": codes,
        "loaded_seconds": loaded,
        "plans": plans,
        "backend": database_url.split(":", 1)[0],
    }
    (workdir / "ready.json").write_text(json.dumps(ready))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


CPU_HEADER = "X-Bench-CPU-Microseconds"


def cpu_timed(app: Any) -> Any:
    """The app, answering with the CPU time its request's thread spent until the headers
    (`time.thread_time`: the work of this request alone, whatever else the machine runs).
    The bench's wrapper, not the portal's."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        started = time.thread_time_ns()

        def timed_start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            spent = (time.thread_time_ns() - started) // 1000
            return start_response(status, [*headers, (CPU_HEADER, str(spent))], *rest)

        return app(environ, timed_start)

    return wrapped


# --- the client ---------------------------------------------------------------------------


def get(port: int, path: str, token: str) -> tuple[int, bytes, float, float]:
    """Status, body, wall time (ms, from the client) and the server's CPU time (ms)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "GET", path, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    cpu = int(response.getheader(CPU_HEADER) or 0) / 1000
    return response.status, body, (time.perf_counter() - started) * 1000, cpu


def checked(port: int, path: str, token: str) -> tuple[dict[str, Any], float, float]:
    status, body, ms, cpu = get(port, path, token)
    if status != 200:
        raise SystemExit(f"GET {path} answered {status}: {body[:500]!r}")
    return json.loads(body), ms, cpu


def deep_cursors(port: int, lists: str, token: str) -> list[str]:
    """The cursors of pages DEEP_PAGE - 5 to DEEP_PAGE + 5, found by following next_cursor."""
    cursors: list[str] = []
    cursor: str | None = None
    for page in range(1, DEEP_PAGE + 6):
        answer, _ms, _cpu = checked(
            port, f"{lists}?{urlencode({'cursor': cursor})}" if cursor else lists, token
        )
        cursor = answer["next_cursor"]
        if cursor is None:
            break
        if page >= DEEP_PAGE - 5:
            cursors.append(cursor)
    if not cursors:
        raise SystemExit(f"fewer than {DEEP_PAGE} pages: raise --deposits")
    return cursors


def filters(rng: random.Random, codes: list[str]) -> dict[str, str]:
    """A type, a status (left out one time in five), a period of one to six months in the
    last two years."""
    start = date.today() - timedelta(days=rng.randint(30, SPAN_DAYS))
    wanted = {
        "type": rng.choice(codes),
        "statut": rng.choice(["depose", "pris_en_charge", "traite"]),
        "du": start.isoformat(),
        "au": (start + timedelta(days=rng.randint(30, 180))).isoformat(),
    }
    if rng.random() < 0.2:
        wanted.pop("statut")
    return wanted


def validation_cost(ready: dict[str, Any], samples: int) -> list[float]:
    """CPU µs per `tokens.validate` call on the bench token, keys imported once (as in use):
    the CPU time of this thread, so that other load on the machine does not count."""
    from client_portal_rp.api.tokens import KeyCache, validate

    jwks = ready["jwks"]
    keys = KeyCache(lambda force: jwks)
    token, audience = ready["token"], ready["audience"]
    for _ in range(200):  # warm-up: imports, the key set's import
        validate(token, keys=keys, issuer=ISSUER, audience=audience)
    timings = []
    for _ in range(samples):
        started = time.thread_time_ns()
        validate(token, keys=keys, issuer=ISSUER, audience=audience)
        timings.append((time.thread_time_ns() - started) / 1000)
    return timings


def measure(port: int, ready: dict[str, Any], args: argparse.Namespace) -> None:
    rng = random.Random(args.seed + 1)
    token = ready["token"]
    company = f"/api/v1/companies/{ready['company']}"
    lists = f"{company}/deposits"
    first, _ms, _cpu = checked(port, lists, token)
    cursors = deep_cursors(port, lists, token)  # also the warm-up
    codes = ready["type_codes"]
    plan: list[tuple[str, str]] = []
    for _ in range(args.requests):
        plan.append(("first page", lists))
        plan.append(("deep page (cursor)", f"{lists}?{urlencode({'cursor': rng.choice(cursors)})}"))
        wanted = filters(rng, codes)
        plan.append(("filtered", f"{lists}?{urlencode(wanted)}"))
        plan.append(("company (no list)", company))
    rng.shuffle(plan)
    timings: dict[str, list[float]] = {}
    cpu_times: dict[str, list[float]] = {}
    shown: dict[str, list[int]] = {}
    for name, path in plan:
        answer, ms, cpu = checked(port, path, token)
        timings.setdefault(name, []).append(ms)
        cpu_times.setdefault(name, []).append(cpu)
        shown.setdefault(name, []).append(len(answer.get("items", [])))
    validate_us = validation_cost(ready, args.validations)

    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"backend: {ready['backend']}; machine: {os.cpu_count()} cores, load average {load}")
    print(
        f"deposits: {args.deposits} in the company, {args.other_deposits} in 4 others "
        f"(loaded in {ready['loaded_seconds']:.1f} s); first page {len(first['items'])} items"
    )
    for name, lines in ready["plans"].items():
        print(f"plan, {name}: {' | '.join(lines)}")
    print(f"requests: {len(plan)} over HTTP, one connection each, shuffled")
    print(
        f"{'':20} {'wall median':>11} {'p95':>7} {'max':>7} | {'server CPU median':>17} "
        f"{'p95':>6} | items"
    )
    for name in ENDPOINTS:
        wall, cpu = timings[name], cpu_times[name]
        p95 = percentile(wall, 0.95)
        print(
            f"{name:20} {statistics.median(wall):9.1f}ms {p95:5.1f}ms {max(wall):5.1f}ms | "
            f"{statistics.median(cpu):15.1f}ms {percentile(cpu, 0.95):4.1f}ms | "
            f"{statistics.median(shown[name]):.0f}   (wall p95 <= 50 ms: "
            f"{'met' if p95 <= 50 else 'NOT met'})"
        )
    validation = statistics.median(validate_us)
    print(
        f"token validation (tokens.validate, ES256, {len(validate_us)} calls, CPU time): "
        f"median {validation:.0f} µs, p95 {percentile(validate_us, 0.95):.0f} µs"
    )
    for name in ("first page", "company (no list)"):
        for label, values in (("wall", timings[name]), ("server CPU", cpu_times[name])):
            reference = statistics.median(values)
            share = validation / 1000 / reference
            print(
                f"  share of the {name}'s {label} median ({reference:.1f} ms): {share:.1%} "
                f"(target <= 10 %: {'met' if share <= 0.10 else 'NOT met'})"
            )


# --- PostgreSQL, the run ----------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="portal-api-") as tmp:
        workdir = Path(tmp)
        created: str | None = None
        if args.database_url:
            database_url, created = throwaway_postgres(args.database_url, "portal_api_bench")
        else:
            database_url = f"sqlite:///{workdir / 'portal.sqlite'}"
        port = free_port()
        command = [sys.executable, __file__, "--serve", "--port", str(port), "--dir", tmp]
        command += ["--database", database_url, "--deposits", str(args.deposits)]
        command += ["--other-deposits", str(args.other_deposits), "--seed", str(args.seed)]
        process = subprocess.Popen(command)
        try:
            measure(port, json.loads(wait_ready(process, workdir / "ready.json", 300)), args)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            if created is not None:
                drop_postgres(args.database_url, created)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per endpoint")
    parser.add_argument("--deposits", type=int, default=10_000)
    parser.add_argument("--other-deposits", type=int, default=10_000)
    parser.add_argument("--validations", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (SQLAlchemy URL); a throw-away database is created on it",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.database, args.dir, args)
        return
    run(args)


if __name__ == "__main__":
    main()
