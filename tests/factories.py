"""Test data builders: real domain calls, so factories obey the same rules as the app."""

from __future__ import annotations

from itertools import count

from idp.accounts import services
from idp.accounts.models import User, UserStatus
from idp.extensions import db

_seq = count(1)
TEST_PASSWORD = "cheval agrafe batterie correcte"


def create_user(
    username: str | None = None,
    *,
    password: str = TEST_PASSWORD,
    email: str | None = None,
    given_name: str = "Camille",
    family_name: str = "Martin",
    status: UserStatus = UserStatus.ACTIVE,
) -> User:
    n = next(_seq)
    username = username or f"user{n}"
    user = services.register_user(
        db.session,
        username=username,
        email=email or f"{username}@cabinet.example",
        given_name=given_name,
        family_name=family_name,
        password=password,
        status=UserStatus.PENDING if status == UserStatus.DISABLED else status,
    )
    if status == UserStatus.DISABLED:
        services.disable_user(db.session, user)
    db.session.commit()
    return user
