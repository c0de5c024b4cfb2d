"""Cursor pagination for the API's lists (newest first): the cursor is the last item's
(`created_at`, `id`) in the portal's shared encoding (client_portal_rp/paging.py), and the next
page is a keyset query, so a deposit added meanwhile neither shifts nor repeats items and page
200 costs what page 1 does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiflask.fields import Integer, String
from apiflask.validators import Length, Range
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, or_

from client_portal_rp.api.problems import Problem
from client_portal_rp.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    InvalidCursor,
    Page,
    decode_cursor,
    encode_cursor,
)


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


def _after(cursor: str) -> tuple[datetime, int]:
    try:
        moment, ident = decode_cursor(cursor, datetime, int)
    except InvalidCursor as error:
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
    return moment, ident


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
        after_moment, after_id = _after(cursor)
        statement = statement.where(
            # The redundant `<=` is what PostgreSQL turns into an index range (company_id,
            # created_at); with the OR alone it reads from the newest row and filters
            # (bench/portal_api.py prints both plans).
            moment <= after_moment,
            or_(
                moment < after_moment,
                and_(moment == after_moment, model.id < after_id),
            ),
        )
    from client_portal_rp.extensions import db

    rows = list(
        db.session.scalars(statement.order_by(moment.desc(), model.id.desc()).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    next_cursor = encode_cursor(getattr(last, created), last.id) if more and last else None
    return Page(rows, next_cursor)
