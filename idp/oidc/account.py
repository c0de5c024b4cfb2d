"""What « Mon compte » knows of the OpenID provider: which clients each IdP session was used
for (`record_session_client`, called at each authorization), the connected applications and
the withdrawal of a consent. See docs/adr/0021-oidc-provider.md.

Nothing here commits: the caller's unit of work does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from idp.database import DbSession, utcnow
from idp.oidc.models import OAuthClient, SessionClient


def record_session_client(session: DbSession, sid: str, client: OAuthClient) -> None:
    """Remember that the IdP session `sid` was used for `client` (or refresh `last_used_at`).

    One statement, `INSERT ... ON CONFLICT (session_public_id, client_id) DO UPDATE`, on both
    PostgreSQL and SQLite: two authorizations of the same session and client at the same
    moment (two tabs) both succeed, the second one only refreshing the time; no unique
    violation reaches the caller, and no savepoint is needed (ADR 0007).
    """
    now = utcnow()
    table = SessionClient.__table__
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(
        session_public_id=sid, client_id=client.id, first_used_at=now, last_used_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.session_public_id, table.c.client_id],
        set_={"last_used_at": statement.excluded.last_used_at},
    )
    session.execute(statement)
