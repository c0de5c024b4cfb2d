"""Building blocks of the second-factor tests: enrol a TOTP, give recovery codes, the current
and neighbouring codes of a secret, and a login that goes through the second-factor page."""

from __future__ import annotations

import time
from typing import Any

import pyotp
from flask.testing import FlaskClient

from idp.accounts.models import User
from idp.extensions import db
from idp.mfa import recovery, totp
from idp.mfa.models import TotpCredential
from tests.helpers import TEST_PASSWORD, csrf_token


def enrol_totp(user: User, *, always: bool = False) -> str:
    """A confirmed TOTP for `user` (no step used yet); returns its secret."""
    credential = totp.start_enrolment(db.session, user)
    credential.confirmed_at = credential.created_at
    user.mfa_always = always
    db.session.commit()
    return credential.secret


def code_at(secret: str, offset_steps: int = 0, *, now: float | None = None) -> str:
    moment = (time.time() if now is None else now) + offset_steps * totp.STEP_SECONDS
    return pyotp.TOTP(secret).at(moment)


def recovery_codes(user: User) -> list[str]:
    codes = recovery.generate(db.session, user)
    db.session.commit()
    return codes


def last_used_step(user: User) -> int:
    db.session.expire_all()
    credential = db.session.query(TotpCredential).filter_by(user_id=user.id).one()
    return credential.last_used_step


def login_with_otp(client: FlaskClient, username: str, otp: str, **data: Any) -> Any:
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": TEST_PASSWORD, "otp": otp}
        | data,
    )


def submit_second_factor(client: FlaskClient, otp: str, path: str = "/login/verify") -> Any:
    token = csrf_token(client, path)
    return client.post(path, data={"csrf_token": token, "otp": otp})


def race(app: Any, attempt: Any, threads: int) -> list[Any]:
    """Run `attempt()` in `threads` threads at once, each in its own app context and database
    session (commits after it); what each returned. `app` must have its own database
    (`committed_app`): threads cannot see a per-test transaction."""
    import threading

    results: list[Any] = []
    barrier = threading.Barrier(threads)

    def run() -> None:
        with app.app_context():
            barrier.wait()
            try:
                results.append(attempt())
                db.session.commit()
            finally:
                db.session.remove()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results
