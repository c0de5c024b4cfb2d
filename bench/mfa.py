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

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PASSWORD = "cheval agrafe batterie correcte"


def build(workdir: Path) -> Any:
    os.environ.update(
        {
            "SESAME_ENV": "development",
            "DATABASE_URL": f"sqlite:///{workdir}/idp.sqlite",
            "IDP_ISSUER": "http://localhost:5000",
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
                accounts.append((user.username, pyotp.TOTP(credential.secret), authenticator, user))
            db.session.remove()

        def login(client: Any, username: str, **extra: str) -> Any:
            return client.post("/login", data={"username": username, "password": PASSWORD} | extra)

        for username, code, authenticator, user in accounts:
            # One TOTP step per use: now, next step (drift), and the one before.
            with app.test_client() as client:
                times["password"].append(timed(lambda: login(client, username)))
            with app.test_client() as client:
                times["password+otp"].append(
                    timed(lambda: login(client, username, otp=code.at(time.time() - 30)))
                )
            with app.test_client() as client:
                login(client, username)
                times["step-up"].append(
                    timed(lambda: client.post("/login/verify", data={"otp": code.now()}))
                )
            with app.app_context():
                db.session.get(type(user), user.id).mfa_always = True
                db.session.commit()
                db.session.remove()
            with app.test_client() as client:
                login(client, username)
                times["second factor page"].append(
                    timed(
                        lambda: client.post(
                            "/login/verify", data={"otp": code.at(time.time() + 30)}
                        )
                    )
                )
            with app.test_client() as client:

                def passkey_login() -> None:
                    options = client.post("/login/passkey/options", json={}).get_json()
                    answer = client.post(
                        "/login/passkey", json={"credential": authenticator.get(options)}
                    )
                    assert answer.status_code == 200, answer.get_data(as_text=True)

                times["passkey alone"].append(timed(passkey_login))

        base = statistics.median(times["password"])
        print(f"{args.samples} accounts, production argon2, SQLite, in process (no HTTP)")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:20} median {median:7.1f} ms   x{median / base:4.2f} of a password login")


if __name__ == "__main__":
    main()
