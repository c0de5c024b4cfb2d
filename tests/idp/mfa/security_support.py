"""Building blocks of the « Sécurité avancée » tests (idp/mfa/security_views.py): a logged-in
account, an old authentication, the enrolment page's secret, forms posted with their CSRF
token, the security emails."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import update

from idp.accounts.models import User, UserSession
from idp.database import utcnow
from idp.extensions import db
from idp.mail.models import OutboxMessage
from tests.factories import create_user
from tests.helpers import csrf_token, login, outbox

SECRET_TEXT = re.compile(r'<code class="totp-secret" translate="no">([A-Z2-7 ]+)</code>')
CODE_ITEM = re.compile(r"<li><code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code></li>")


def logged_in(client: FlaskClient, username: str = "camille.martin", **kwargs: Any) -> User:
    user = create_user(username, **kwargs)
    assert login(client, username).status_code == 302
    return user


def authenticated_long_ago(seconds: int = 3600) -> None:
    """Every session's last authentication `seconds` ago (older than MFA_RECENT_AUTH_SECONDS)."""
    db.session.execute(update(UserSession).values(auth_time=utcnow() - timedelta(seconds=seconds)))
    db.session.commit()


def post(client: FlaskClient, page: str, action: str, **data: Any) -> Any:
    """Post `data` to `action` with the CSRF token of `page`, as its form would."""
    return client.post(action, data={"csrf_token": csrf_token(client, page), **data})


def enrolment_secret(page: str) -> str:
    """The TOTP secret the enrolment page shows as text (groups of 4)."""
    match = SECRET_TEXT.search(page)
    assert match, "no secret on the enrolment page"
    return match.group(1).replace(" ", "")


def shown_codes(page: str) -> list[str]:
    return CODE_ITEM.findall(page)


def security_emails(user: User) -> list[OutboxMessage]:
    return [m for m in outbox() if m.template == "security_notice" and m.user_id == user.id]
