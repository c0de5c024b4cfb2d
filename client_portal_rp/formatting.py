"""Display formats shared by the portal's pages: money is stored as integer cents and shown in
the French way, « 1 212 843,90 € » (U+202F between thousands, U+00A0 before the sign).

Registered as the Jinja filter `euros` by `register_filters` (client_portal_rp/__init__.py).
"""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency
from flask import Flask


def euros(cents: int | None, *, locale: str = "fr_FR") -> str:
    """`121284390` → "1 212 843,90 €"; None → "" (an amount the document does not give)."""
    if cents is None:
        return ""
    return format_currency(Decimal(int(cents)).scaleb(-2), "EUR", locale=locale)


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["euros"] = euros
