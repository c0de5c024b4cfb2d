"""gunicorn settings for the IdP: `gunicorn -c deploy/gunicorn.conf.py 'idp:create_app()'`.

Command-line options override these (bench/login.py passes --workers and --bind).

Workers: a login is ~90 % argon2 (bench/README.md), which is CPU- and memory-bound and releases
the GIL, so throughput is set by cores, not by workers; sync workers, one request each, keep
the memory bound simple: at most `workers` concurrent hashes of ARGON2_MEMORY_COST each.
The default is one worker per core, at least 2 (one slow request never blocks the site); the
SQLite load requirement (docs/security.md 54) is met with 4 workers on 2 cores as well.
"""

from __future__ import annotations

import os


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", str(max(2, _cores()))))
worker_class = "sync"
# A login under full load waits behind other hashes: well under 30 s, but not under 1 s.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# Each worker builds its own app (and SQLAlchemy engine): connections are never shared across
# a fork, which SQLite and psycopg both require.
preload_app = False
# Behind a reverse proxy (PROXY_FIX_HOPS): the proxy's address only.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = "info"
