"""The relying party's own login records, in a small SQL table (`rp_logins`).

Why a table and not the cookie alone, nor a dict in the process: a back-channel logout arrives
as a server-to-server POST that carries no browser cookie, only the IdP session's `sid`. The
relying party must then end every local login of that `sid`, and the browser must find its login
ended on its next request, whichever process serves it. So the signed session cookie holds only
a random login id; the record (`sid`, `sub`, claims, ID token for the logout hint) lives in the
table, looked up by the id's SHA-256 digest on each request (one primary-key read); and the
back-channel logout is one `UPDATE ... WHERE issuer = ? AND sid = ?`. A dict in the process
would be lost on restart and unseen by the other workers of a deployment (gunicorn runs several);
a table on SQLite (development, the sample sites) or PostgreSQL (`<PREFIX>_DATABASE_URL`) is
shared by all of them. A leaked table holds digests only: no usable cookie value.

The table is created on first use (`create_all`): the portal's own migrations arrive with its
models (issue 15) and will take it over.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

metadata = MetaData()

# Sésame's "sécurité avancée" level (its discovery's acr_values_supported, ADR 0022).
ACR_ADVANCED = "urn:sesame:acr:mfa"

rp_logins = Table(
    "rp_logins",
    metadata,
    Column("id_digest", String(64), primary_key=True),  # SHA-256 of the cookie's login id
    Column("issuer", String(300), nullable=False),
    Column("client_id", String(255), nullable=False),  # sites may share a database
    Column("sid", String(255)),  # the IdP session (ID token `sid`); back-channel logout key
    Column("subject", String(255), nullable=False),  # `sub`
    Column("claims", JSON, nullable=False),
    Column("id_token", Text, nullable=False),  # the `id_token_hint` of RP-initiated logout
    Column("created_at", Float, nullable=False),  # epoch seconds (portable across databases)
    Column("expires_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("end_reason", String(20)),  # logout, backchannel
    Index("ix_rp_logins_client_sid", "client_id", "sid"),
    Index("ix_rp_logins_client_subject", "client_id", "subject"),
)

# Profile codes of Sésame (docs/domain.md) in words; an unknown code is shown as it is.
PROFILE_LABELS = {
    "expert-comptable": "Expert-comptable",
    "salarie-agc": "Salarié d'AGC",
    "stagiaire": "Expert-comptable stagiaire",
    "memorialiste": "Mémorialiste",
    "honoraire": "Expert-comptable honoraire",
    "ece": "Membre ECE",
    "cafcac": "Filière CAFCAC",
    "president-agc": "Président ou directeur d'AGC",
    "autre": "Autre",
}
# The claims of scope `ordre`, in the order and words a page shows them.
ORDRE_CLAIMS = (
    ("ordre_profile", "Profil"),
    ("ordre_registration_number", "Numéro d'inscription au tableau"),
    ("ordre_council", "Conseil régional"),
)


def digest(login_id: str) -> str:
    return hashlib.sha256(login_id.encode()).hexdigest()


@dataclass(frozen=True)
class Login:
    """Who is logged in on this site, as the IdP said at login (ID token + userinfo)."""

    subject: str
    sid: str | None
    claims: dict[str, Any]
    id_token: str
    created_at: float

    @property
    def username(self) -> str:
        return str(self.claims.get("preferred_username") or "")

    @property
    def display_name(self) -> str:
        given = self.claims.get("given_name") or ""
        family = self.claims.get("family_name") or ""
        return str(
            self.claims.get("name") or f"{given} {family}".strip() or self.username or self.subject
        )

    @property
    def advanced(self) -> bool:
        """The login carries "sécurité avancée": the ID token's `acr` is the MFA level (the
        level the IdP asserts only after a second factor, ADR 0022)."""
        return self.claims.get("acr") == ACR_ADVANCED

    @property
    def email(self) -> str:
        return str(self.claims.get("email") or "")

    def ordre_claims(self) -> list[tuple[str, str]]:
        """(label, value) of the `ordre_*` claims present, profile codes in words."""
        shown = []
        for claim, label in ORDRE_CLAIMS:
            value = self.claims.get(claim)
            if value in (None, "", [], {}):
                continue
            if claim == "ordre_profile":
                value = PROFILE_LABELS.get(str(value), str(value))
            elif isinstance(value, dict):  # a council as an object: its name, else its code
                value = value.get("name") or value.get("code") or ""
            shown.append((label, str(value)))
        return shown


class LoginStore:
    """The logins of one site (one IdP, one client) in the `rp_logins` table; the engine is
    made on first use (so a site that nobody logs in to, such as a test of its landing page,
    never creates a database)."""

    def __init__(self, database_url: str, issuer: str, client_id: str) -> None:
        self.database_url = database_url
        self.issuer = issuer
        self.client_id = client_id
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self._create_engine()
                metadata.create_all(self._engine)
            return self._engine

    def _create_engine(self) -> Engine:
        url = make_url(self.database_url)
        if url.get_backend_name() != "sqlite":
            return create_engine(url, pool_pre_ping=True)
        if url.database in (None, "", ":memory:"):  # one shared in-memory database (tests)
            return create_engine(
                url, connect_args={"check_same_thread": False}, poolclass=StaticPool
            )
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(url, connect_args={"timeout": 15})

    def start(
        self, *, subject: str, sid: str | None, claims: dict[str, Any], id_token: str, hours: int
    ) -> str:
        """Record a login; return the id for the browser's cookie (never stored as is). Logins
        long expired or ended are purged on the way (one indexed DELETE)."""
        login_id = secrets.token_urlsafe(32)
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                delete(rp_logins).where(
                    or_(rp_logins.c.expires_at < now - 86400, rp_logins.c.ended_at < now - 86400)
                )
            )
            conn.execute(
                insert(rp_logins).values(
                    id_digest=digest(login_id),
                    issuer=self.issuer,
                    client_id=self.client_id,
                    sid=sid,
                    subject=subject,
                    claims=claims,
                    id_token=id_token,
                    created_at=now,
                    expires_at=now + hours * 3600,
                )
            )
        return login_id

    def find(self, login_id: str) -> Login | None:
        """The login the cookie names, if it is still open (not ended, not expired)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(rp_logins).where(
                    rp_logins.c.id_digest == digest(login_id),
                    rp_logins.c.client_id == self.client_id,
                    rp_logins.c.ended_at.is_(None),
                    rp_logins.c.expires_at > time.time(),
                )
            ).first()
        if row is None:
            return None
        return Login(
            subject=row.subject,
            sid=row.sid,
            claims=dict(row.claims),
            id_token=row.id_token,
            created_at=row.created_at,
        )

    def end(self, login_id: str, reason: str = "logout") -> bool:
        """End one login (the user logged out here)."""
        return self._end(rp_logins.c.id_digest == digest(login_id), reason) > 0

    def end_for_logout_token(self, *, sid: str | None, subject: str | None) -> int:
        """End the logins a back-channel logout token names: those of its IdP session (`sid`),
        else every login of its user (`sub` alone); both given, both must match. Idempotent:
        a replayed token ends nothing more."""
        conditions = [rp_logins.c.issuer == self.issuer, rp_logins.c.client_id == self.client_id]
        if sid:
            conditions.append(rp_logins.c.sid == sid)
        if subject:
            conditions.append(rp_logins.c.subject == subject)
        if not sid and not subject:
            return 0
        return self._end(conditions, "backchannel")

    def _end(self, where: Any, reason: str) -> int:
        conditions = where if isinstance(where, list) else [where]
        with self.engine.begin() as conn:
            result = conn.execute(
                update(rp_logins)
                .where(*conditions, rp_logins.c.ended_at.is_(None))
                .values(ended_at=time.time(), end_reason=reason)
            )
        return int(result.rowcount)

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
