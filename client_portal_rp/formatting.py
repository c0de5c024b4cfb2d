"""Display formats shared by the portal's pages: money is stored as integer cents and shown in
the French way, « 1 212 843,90 € » (U+202F between thousands, U+00A0 before the sign), and a
negative amount with the minus sign U+2212, « −6 000,00 € » (a hyphen is shorter, and a line
may break after it). For reading only: exports keep numbers as numbers (exports.py) and the API
writes decimal strings with « - » (fec/paging.decimal_euros).

Registered as the Jinja filter `euros` by `register_filters` (client_portal_rp/__init__.py).
"""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency
from flask import Flask, has_request_context
from flask_babel import get_locale

MINUS = "\u2212"  # the minus sign of negative amounts on the pages
GROUP = "\u202f"  # babel's fr_FR thousands separator


def euros(cents: int | None, *, locale: str = "fr_FR") -> str:
    """`121284390` → "1 212 843,90 €" (`locale="en"`: "€1,212,843.90"); None → "" (an
    amount the document does not give). French and English, the pages' cases, are written here
    directly: babel costs ~30 µs a call and an échéancier page shows ~300 amounts
    (test_formatting compares the two)."""
    if cents is None:
        return ""
    whole, rest = divmod(abs(int(cents)), 100)
    sign = MINUS if cents < 0 else ""
    if locale in ("fr", "fr_FR"):
        return f"{sign}{whole:,}".replace(",", GROUP) + f",{rest:02d}\u00a0€"
    if locale == "en":
        return f"{sign}€{whole:,}.{rest:02d}"
    return money(cents, "EUR", locale=locale)


def money(cents: int | None, currency: str = "EUR", *, locale: str = "fr_FR") -> str:
    """An amount in another currency the same way: `(150000, "USD")` → "1 500,00 $US"; an
    empty or unknown code is shown as euros."""
    if cents is None:
        return ""
    code = currency if len(currency or "") == 3 and currency.isalpha() else "EUR"
    text = format_currency(Decimal(int(cents)).scaleb(-2), code.upper(), locale=locale)
    return text.replace("-", MINUS, 1) if cents < 0 else text


def page_locale() -> str:
    """The locale of the page being written (the language switch, else the browser's,
    `web.select_locale`); French outside a request."""
    if not has_request_context():
        return "fr_FR"
    chosen = get_locale()
    return "fr_FR" if chosen is None or chosen.language == "fr" else str(chosen)


def page_euros(cents: int | None) -> str:
    """The `euros` filter: `euros` in the page's locale."""
    return euros(cents, locale=page_locale())


def page_money(cents: int | None, currency: str = "EUR") -> str:
    """The `money` filter: `money` in the page's locale."""
    return money(cents, currency, locale=page_locale())


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["euros"] = page_euros
    app.jinja_env.filters["money"] = page_money
