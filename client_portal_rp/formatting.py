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
    return money(cents, "EUR", locale=locale)


def money(cents: int | None, currency: str = "EUR", *, locale: str = "fr_FR") -> str:
    """An amount in another currency the same way: `(150000, "USD")` → "1 500,00 $US"; an
    empty or unknown code is shown as euros."""
    if cents is None:
        return ""
    code = currency if len(currency or "") == 3 and currency.isalpha() else "EUR"
    return format_currency(Decimal(int(cents)).scaleb(-2), code.upper(), locale=locale)


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["euros"] = euros
    app.jinja_env.filters["money"] = money
