"""What the échéancier and drill-down reads share: which import a page reads (the exercice asked
for, else the latest), keyset cursors for their lists, and amounts as decimal strings.

Lists are paginated by keyset, never by offset (client_portal_rp/paging.py): a supplier of a
1,000,000-line FEC may have 100,000 entries, and their last page must cost what the first does.
A cursor that does not decode to the expected shape is `BadCursor`, with the French message
the page or the API shows.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from client_portal_rp import paging
from client_portal_rp.extensions import db
from client_portal_rp.models import Company, FecImport
from client_portal_rp.paging import DEFAULT_LIMIT, InvalidCursor

# An export (CSV, XLSX) holds at most this many rows.
EXPORT_MAX_ROWS = 100_000


class FecReadError(Exception):
    """A request the pages cannot answer, with the French message to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadCursor(FecReadError):
    pass


class BadExercice(FecReadError):
    pass


def decode_cursor(value: str, *kinds: type) -> tuple[Any, ...]:
    """The shared cursor (client_portal_rp.paging), or BadCursor with the page's message."""
    try:
        return paging.decode_cursor(value, *kinds)
    except InvalidCursor as error:
        raise bad_cursor() from error


def largest_first(
    statement: Select[Any],
    amount: InstrumentedAttribute[int],
    party: InstrumentedAttribute[str],
    cursor: str | None,
    size: int,
) -> Select[Any]:
    """A keyset page of parties, largest `amount` first, then by `party`: after the cursor's
    (amount, party) when given, `size + 1` rows (the extra one says there is a next page)."""
    if cursor:
        after_amount, after_party = decode_cursor(cursor, int, str)
        statement = statement.where(
            or_(amount < after_amount, and_(amount == after_amount, party > after_party))
        )
    return statement.order_by(amount.desc(), party).limit(size + 1)


def bad_cursor() -> BadCursor:
    return BadCursor(
        _(
            "Le paramètre « cursor » ne vient pas d'une page précédente : "
            "reprenez la liste au début."
        )
    )


def parse_exercice(raw: str | None) -> int | None:
    """`?exercice=2050` → 2050; empty → None (the latest); anything else is BadExercice."""
    text = (raw or "").strip()
    if not text:
        return None
    if len(text) != 4 or not text.isdigit() or not 1900 <= int(text) <= 2999:
        raise BadExercice(_("L'exercice est une année sur quatre chiffres, par exemple 2024."))
    return int(text)


def exercices_of(company: Company) -> list[int]:
    """The company's imported exercices, latest first."""
    return list(
        db.session.scalars(
            select(FecImport.exercice)
            .where(FecImport.company_id == company.id)
            .order_by(FecImport.exercice.desc())
        )
    )


def import_of(company: Company, exercice: int | None) -> FecImport | None:
    """The company's import for `exercice` (the year it closes), else its latest; None when
    there is none. Always filtered by the company (tenant isolation)."""
    statement = select(FecImport).where(FecImport.company_id == company.id)
    if exercice is not None:
        statement = statement.where(FecImport.exercice == exercice)
    return db.session.scalar(statement.order_by(FecImport.exercice.desc()).limit(1))


def decimal_euros(cents: int) -> str:
    """Integer cents as the API's decimal string in euros: 123456 → "1234.56"."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(int(cents)), 100)
    return f"{sign}{whole}.{rest:02d}"


def clamp_limit(limit: int | None) -> int:
    """A page's size: DEFAULT_LIMIT when not given. Not capped here: pages and the API cap
    what a reader asks (MAX_LIMIT), an export asks for up to EXPORT_MAX_ROWS."""
    if limit is None:
        return DEFAULT_LIMIT
    return max(1, int(limit))
