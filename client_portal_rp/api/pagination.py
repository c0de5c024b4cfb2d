"""Cursor pagination for the API's lists (newest first): the cursor is the last item's
(`created_at`, `id`), opaque to clients (base64url), and the next page is a keyset query, so a
deposit added meanwhile neither shifts nor repeats items and page 200 costs what page 1 does."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from apiflask.fields import Integer, String
from apiflask.validators import Length, Range
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, or_

from client_portal_rp.api.problems import Problem

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def cursor_field(max_length: int = 200) -> String:
    """The `cursor` query parameter of a paginated list."""
    return String(
        validate=Length(max=max_length),
        metadata={"description": "« next_cursor » de la page précédente"},
    )


def limit_field(items: str) -> Integer:
    """The `limit` query parameter: `items` per page, 1 to MAX_LIMIT, French refusals."""
    return Integer(
        load_default=DEFAULT_LIMIT,
        validate=Range(
            min=1,
            max=MAX_LIMIT,
            error=_l("« limit » est un nombre entre 1 et %(max)s.", max=MAX_LIMIT),
        ),
        error_messages={"invalid": _l("« limit » est un nombre entier.")},
        metadata={"description": f"{items} par page (1 à {MAX_LIMIT}, {DEFAULT_LIMIT} par défaut)"},
    )


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: int

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            if len(value) > 200:
                raise ValueError(value)
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            moment, _sep, ident = raw.partition("|")
            created_at = datetime.fromisoformat(moment)
            if created_at.tzinfo is None or not ident.isdigit():
                raise ValueError(raw)
            return cls(created_at, int(ident))
        except (ValueError, UnicodeDecodeError, binascii.Error) as error:
            raise Problem(
                400,
                _("Curseur invalide"),
                _(
                    "Le paramètre « cursor » ne vient pas d'une page précédente : "
                    "reprenez la liste au début."
                ),
                code="invalid_cursor",
                errors={"cursor": [_("Curseur invalide.")]},
            ) from error


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def keyset_page(
    statement: Select[Any],
    model: Any,
    *,
    cursor: str | None,
    limit: int,
    created: str = "created_at",
) -> Page[Any]:
    """One page of `statement` ordered by (`created`, `id`) descending, after `cursor`.
    `created`: the model's moment column (archives order by `published_at`)."""
    moment = getattr(model, created)
    if cursor:
        after = Cursor.decode(cursor)
        statement = statement.where(
            # The redundant `<=` is what PostgreSQL turns into an index range (company_id,
            # created_at); with the OR alone it reads from the newest row and filters
            # (bench/portal_api.py prints both plans).
            moment <= after.created_at,
            or_(
                moment < after.created_at,
                and_(moment == after.created_at, model.id < after.id),
            ),
        )
    from client_portal_rp.extensions import db

    rows = list(
        db.session.scalars(statement.order_by(moment.desc(), model.id.desc()).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    next_cursor = Cursor(getattr(last, created), last.id).encode() if more and last else None
    return Page(rows, next_cursor)
