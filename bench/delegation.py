"""What delegations cost per request: a token exchange (RFC 8693) at /token, and reading an
exchanged token (introspection, userinfo) next to the same reads of the collaborator's own
token, in one run, in process (Flask's test client, SQLite).

    .venv/bin/python bench/delegation.py [--samples 300]

Prints the median and p95 of each, in milliseconds, and the ratios. The exchanged token is
checked at every use (its delegation's dates and its grantor's standing in the registry:
ADR 0025), which is what the difference measures.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ leaves the import path, the repository joins it (scripts run as `python bench/x.py`).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402


def build(workdir: Path) -> Any:
    os.environ.update(
        {
            "SESAME_ENV": "testing",
            "DATABASE_URL": f"sqlite:///{workdir}/idp.sqlite",
            "IDP_ISSUER": "http://idp.test",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": "9",
        }
    )
    from tests.helpers import build_app

    return build_app(f"sqlite:///{workdir}/idp.sqlite", schema=True)


def timed(samples: list[float], action: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = action()
    samples.append((time.perf_counter() - start) * 1000)
    return result


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = build(Path(tmp))
        with app.app_context():
            run(app, args.samples)


def run(app: Any, samples: int) -> None:
    from idp.delegation import services
    from idp.extensions import db
    from idp.oidc import keys
    from idp.oidc.clients import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE
    from tests.idp.delegation.support import collaborator, expert
    from tests.idp.oidc.helpers import code_flow, register_client, sign_in, token_request
    from tests.idp.oidc.tokens_support import introspect, userinfo

    keys.ensure_keys()
    grantor, marie = expert(), collaborator()
    rp = register_client(
        name="Comptexpert",
        redirect_uris=["https://comptexpert.example/callback"],
        grant_types=["authorization_code", "refresh_token", TOKEN_EXCHANGE],
        accepts_delegations=True,
    )
    rp.row().exchange_subject_token_types = [ACCESS_TOKEN_TYPE]
    services.grant(db.session, grantor, marie.username, [rp.client_id])
    db.session.commit()
    browser = app.test_client()
    sign_in(browser, marie)
    own = code_flow(browser, rp, scope="openid profile email").tokens["access_token"]
    client = app.test_client()
    times: dict[str, list[float]] = {
        name: []
        for name in (
            "exchange",
            "introspect own",
            "introspect exchanged",
            "userinfo own",
            "userinfo exchanged",
        )
    }
    exchanged = ""
    for _ in range(samples):
        answer = timed(
            times["exchange"],
            lambda: token_request(
                client,
                rp,
                grant_type=TOKEN_EXCHANGE,
                subject_token=own,
                subject_token_type=ACCESS_TOKEN_TYPE,
            ),
        )
        assert answer.status_code == 200, answer.get_json()
        exchanged = answer.get_json()["access_token"]
        for token, kind in ((own, "own"), (exchanged, "exchanged")):
            seen = timed(times[f"introspect {kind}"], lambda t=token: introspect(client, rp, t))
            assert seen.get_json()["active"] is True
            info = timed(times[f"userinfo {kind}"], lambda t=token: userinfo(client, t))
            assert info.status_code == 200
        db.session.remove()
    print(f"{samples} samples each, in process (ms):")
    for name, values in times.items():
        print(f"  {name:22} median {statistics.median(values):6.2f}   p95 {p95(values):6.2f}")
    for read in ("introspect", "userinfo"):
        ratio = statistics.median(times[f"{read} exchanged"]) / statistics.median(
            times[f"{read} own"]
        )
        print(f"  {read}: exchanged / own token = {ratio:.2f}")


if __name__ == "__main__":
    main()
