"""What a second factor costs at login, in process (Flask's test client, no HTTP), on SQLite,
with the production argon2 parameters.

    .venv/bin/python bench/mfa.py [--samples 25]

For each of `--samples` fresh accounts (a TOTP code is single use per 30-second step, so every
sample has its own account), the median time of:

- `password`: POST /login, username and password (one argon2 verification);
- `password+otp`: the same POST carrying the TOTP code in `otp` (ADR 0022);
- `second factor page`: POST /login/verify with the code, the password already given
  ("toujours demander": the pending login becomes a session);
- `step-up`: POST /login/verify on a live password session (acr raised, cookie rotated);
- `passkey alone`: the two requests of a passwordless login (options, then the assertion of a
  software authenticator: ES256 signature checked by py_webauthn).

Prints each median in milliseconds and its ratio to the password login. There is no target in
issue 14; the figure says whether a second factor adds anything a person would notice.
The software authenticator is the tests' (tests/idp/mfa/soft_authenticator.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/token.py would shadow the standard library's `token` (tokenize, inspect): this script
# needs the repository on the path, not its own folder.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PASSWORD = "cheval agrafe batterie correcte"
ISSUER = "http://idp.test"  # the software authenticator's origin (its default)


def build(workdir: Path) -> Any:
    os.environ.update(
        {
            "SESAME_ENV": "development",
            "DATABASE_URL": f"sqlite:///{workdir}/idp.sqlite",
            "IDP_ISSUER": ISSUER,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": "9",
        }
    )
    from idp import create_app
    from idp.extensions import db

    app = create_app()
    app.config["WTF_CSRF_ENABLED"] = False  # the CSRF round trip is not what is measured
    with app.app_context():
        db.create_all()
    return app


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def login(client: Any, username: str, **extra: str) -> Any:
    return client.post("/login", data={"username": username, "password": PASSWORD} | extra)


def measure(app: Any, account: tuple[Any, ...], times: dict[str, list[float]]) -> None:
    """One sample of each kind for one account. TOTP steps in increasing order (each code is
    single use per step): the previous step (drift), the current one, the next one."""
    from idp.accounts.models import User
    from idp.extensions import db

    username, code, authenticator, user_id = account
    with app.test_client() as client:
        times["password"].append(timed(lambda: login(client, username)))
    with app.test_client() as client:
        previous = code.at(time.time() - 30)
        times["password+otp"].append(timed(lambda: login(client, username, otp=previous)))
    with app.test_client() as client:
        login(client, username)
        current = code.now()
        times["step-up"].append(timed(lambda: client.post("/login/verify", data={"otp": current})))
    with app.app_context():
        db.session.get(User, user_id).mfa_always = True
        db.session.commit()
        db.session.remove()
    with app.test_client() as client:
        login(client, username)
        following = code.at(time.time() + 30)
        times["second factor page"].append(
            timed(lambda: client.post("/login/verify", data={"otp": following}))
        )
    with app.test_client() as client:

        def passkey_login() -> None:
            options = client.post("/login/passkey/options", json={}).get_json()
            answer = client.post("/login/passkey", json={"credential": authenticator.get(options)})
            assert answer.status_code == 200, answer.get_data(as_text=True)

        times["passkey alone"].append(timed(passkey_login))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=25)
    args = parser.parse_args()

    import pyotp

    from idp.accounts import services
    from idp.audit.services import CLI
    from idp.extensions import db
    from idp.mfa import passkeys, totp
    from tests.idp.mfa.soft_authenticator import SoftAuthenticator

    with tempfile.TemporaryDirectory() as tmp:
        app = build(Path(tmp))
        times: dict[str, list[float]] = {
            k: []
            for k in (
                "password",
                "password+otp",
                "second factor page",
                "step-up",
                "passkey alone",
            )
        }
        with app.app_context():
            accounts = []
            for n in range(args.samples):
                user = services.create_account(
                    db.session,
                    services.NewAccount(
                        f"bench.mfa{n:04d}", f"mfa{n}@bench.example", "Camille", "Martin", PASSWORD
                    ),
                    active=True,
                    actor=CLI,
                )
                credential = totp.start_enrolment(db.session, user)
                credential.confirmed_at = credential.created_at
                authenticator = SoftAuthenticator()
                options = json.loads(passkeys.registration_options(db.session, user))
                passkeys.register(db.session, user, authenticator.create(options), "Banc")
                db.session.commit()
                accounts.append(
                    (user.username, pyotp.TOTP(credential.secret), authenticator, user.id)
                )
            db.session.remove()

        for account in accounts:
            measure(app, account, times)

        base = statistics.median(times["password"])
        print(f"{args.samples} accounts, production argon2, SQLite, in process (no HTTP)")
        for name, values in times.items():
            median = statistics.median(values)
            ratio = median / base
            print(f"  {name:20} median {median:7.1f} ms   x{ratio:4.2f} of a password login")


if __name__ == "__main__":
    main()
