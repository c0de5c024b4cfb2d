"""Test data builders: real domain calls, so factories obey the same rules as the app."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import count

from idp.accounts import services, sessions
from idp.accounts.models import User, UserSession, UserStatus
from idp.audit.services import SYSTEM
from idp.database import utcnow
from idp.extensions import db
from idp.mail.models import OutboxMessage, OutboxStatus
from idp.mail.services import enqueue
from idp.profiles.catalog import Profile
from idp.registry import services as registry_services
from idp.registry.catalog import RegistryStatus
from idp.registry.models import RegistryEntry
from idp.registry.names import search_key
from tests.helpers import TEST_PASSWORD

_seq = count(1)


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
    account = services.NewAccount(
        username, email or f"{username}@cabinet.example", given_name, family_name, password
    )
    user = services.register_user(
        db.session,
        account,
        status=UserStatus.PENDING if status == UserStatus.DISABLED else status,
    )
    if status == UserStatus.DISABLED:
        services.disable_user(db.session, user, actor=SYSTEM)
    db.session.commit()
    return user


def create_session(
    user: User,
    *,
    user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36",
    ip: str = "192.0.2.10",
    last_seen: datetime | None = None,
) -> tuple[UserSession, str]:
    """A live server-side session of `user`, and its cookie token."""
    user_session, token = sessions.start_session(
        db.session, user, credential_epoch=user.credential_epoch, ip=ip, user_agent=user_agent
    )
    if last_seen is not None:
        user_session.last_seen_at = last_seen
    db.session.commit()
    return user_session, token


def create_outbox_message(
    *,
    recipient: str = "marie@cabinet.example",
    status: OutboxStatus = OutboxStatus.PENDING,
    due_in: timedelta = timedelta(0),
    attempts: int = 0,
    last_error: str | None = None,
) -> OutboxMessage:
    """A queued email rendered from a real template (the activation one), due `due_in` from
    now; `status`, `attempts` and `last_error` as a delivery worker would have left them."""

    class _Someone:
        given_name = "Marie"
        username = "marie.curie"

    message = enqueue(
        db.session,
        template="activation",
        recipient=recipient,
        context={"user": _Someone(), "link": "http://idp.test/activate/x", "hours": 48},
    )
    message.status = status.value
    message.next_attempt_at = utcnow() + due_in
    message.attempts = attempts
    message.last_error = last_error
    db.session.commit()
    return message


def create_registry_entry(
    family_name: str = "Lefèvre",
    given_names: str = "Jean-François",
    *,
    registration_number: str | None = None,
    birth_date: date = date(1975, 4, 12),
    email: str | None = "jf.lefevre@cabinet-lefevre.example",
    category: Profile = Profile.EXPERT_COMPTABLE,
    council_code: str = "IDF",
    status: RegistryStatus = RegistryStatus.INSCRIT,
    firm_name: str | None = None,
    firm_siren: str | None = None,
) -> RegistryEntry:
    """A registry entry as an import would have stored it (the search key computed the one
    way, idp.registry.names.search_key)."""
    entry = RegistryEntry(
        registration_number=registration_number or f"{next(_seq):08d}",
        family_name=family_name,
        given_names=given_names,
        birth_date=birth_date,
        email=email,
        category=category.value,
        council=registry_services.council_by_code(db.session, council_code),
        status=status.value,
        firm_name=firm_name,
        firm_siren=firm_siren,
        search_key=search_key(family_name, given_names),
    )
    db.session.add(entry)
    db.session.commit()
    return entry
