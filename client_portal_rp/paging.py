"""Keyset pagination shared by the portal's lists (the API's deposits and archives, the FEC's
échéanciers and drill-down, pages and API alike): a page of items and the cursor of the next,
page sizes, and the cursor's encoding.

A cursor is the last row's sort key, opaque to the reader: base64url of a small JSON array.
`decode_cursor` checks it against the expected kinds and raises InvalidCursor otherwise; each
reader turns that into its own French answer (a page's message, the API's problem).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_CURSOR = 400


class InvalidCursor(ValueError):
    """A cursor that no page of this list wrote."""


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(*values: str | int | date | datetime) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, date) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(value: str, *kinds: type) -> tuple[Any, ...]:
    """The values `encode_cursor` wrote, checked against `kinds` (str, int, date or an aware
    datetime); InvalidCursor for anything else."""
    try:
        if len(value) > MAX_CURSOR:
            raise ValueError(value)
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        items = json.loads(raw)
        if not isinstance(items, list) or len(items) != len(kinds):
            raise ValueError(raw)
        decoded: list[Any] = []
        for item, kind in zip(items, kinds, strict=True):
            if kind is datetime:
                moment = datetime.fromisoformat(item)
                if moment.tzinfo is None:
                    raise ValueError(raw)
                decoded.append(moment)
            elif kind is date:
                decoded.append(date.fromisoformat(item))
            elif isinstance(item, kind) and not isinstance(item, bool):
                decoded.append(item)
            else:
                raise ValueError(raw)
        return tuple(decoded)
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error) as error:
        raise InvalidCursor(value[:MAX_CURSOR]) from error
