"""Recovery codes: ten per batch, shown once, stored as SHA-256 digests, single use.

A code is 12 characters of a 32-letter alphabet without look-alikes (60 random bits), shown as
`xxxx-xxxx-xxxx`; what a person types is normalised (case, spaces, dashes) before hashing.
Using one is one conditional UPDATE (`used_at IS NULL`): two concurrent uses, one wins.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import delete, func, select, update

from idp.accounts.models import User
from idp.database import DbSession, utcnow
from idp.mfa.models import RecoveryCode

BATCH_SIZE = 10
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
CODE_LENGTH = 12
_NORMALIZED = re.compile(rf"^[{ALPHABET}]{{{CODE_LENGTH}}}$")


def normalize(code: str) -> str:
    return re.sub(r"[\s\-]", "", code or "").lower()


def looks_like_recovery_code(code: str) -> bool:
    return bool(_NORMALIZED.match(normalize(code)))


def _digest(code: str) -> str:
    return hashlib.sha256(b"sesame.recovery-code\x00" + normalize(code).encode()).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def generate(session: DbSession, user: User) -> list[str]:
    """A new batch replacing every previous code; the plain codes are returned only here."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_code() for _ in range(BATCH_SIZE)]
    session.add_all(RecoveryCode(user_id=user.id, code_digest=_digest(code)) for code in codes)
    session.flush()
    return codes


def use(session: DbSession, user: User, code: str) -> bool:
    """Spend one unused code of the user; False when unknown, another's, or already used."""
    if not looks_like_recovery_code(code):
        return False
    result = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_digest == _digest(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def remaining(session: DbSession, user: User) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def remove_all(session: DbSession, user: User) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
