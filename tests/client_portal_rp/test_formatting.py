from __future__ import annotations

from flask import Flask, render_template_string
from flask_babel import refresh

from client_portal_rp.formatting import euros, money


def test_euros_french_format_with_narrow_no_break_thousands() -> None:
    assert euros(121284390) == "1\u202f212\u202f843,90\u00a0€"
    assert euros(5) == "0,05\u00a0€"
    assert euros(-123450) == "\u22121\u202f234,50\u00a0€"  # the minus sign U+2212
    assert euros(None) == ""


def test_euros_is_a_jinja_filter_of_the_portal(portal_app: Flask) -> None:
    with portal_app.test_request_context():
        assert render_template_string("{{ 100000 | euros }}") == "1\u202f000,00\u00a0€"


def test_money_in_another_currency_and_euros_by_default() -> None:
    assert money(150000, "USD") == "1\u202f500,00\u00a0$US"
    assert money(150000, "") == "1\u202f500,00\u00a0€"
    assert money(None, "USD") == ""


def test_euros_writes_what_babel_writes() -> None:
    """The pages' fast path (no babel call) and babel's fr_FR format are the same text."""
    for cents in (0, 1, -1, 99, 100, 123_456, -123_456, 99_999_999, 121_284_390, -(10**13)):
        assert euros(cents) == money(cents, "EUR"), cents


def test_euros_in_english() -> None:
    assert euros(121284390, locale="en") == "€1,212,843.90"
    assert euros(-123450, locale="en") == "\u2212€1,234.50"
    assert euros(5, locale="en") == "€0.05"


def test_euros_in_english_writes_what_babel_writes() -> None:
    for cents in (0, 1, -1, 99, 100, 123_456, -123_456, 99_999_999, 121_284_390, -(10**13)):
        assert euros(cents, locale="en") == money(cents, "EUR", locale="en"), cents


def test_filters_follow_the_page_language(portal_app: Flask) -> None:
    """A page in English writes its amounts the English way, in French the French way."""
    template = "{{ 123450 | euros }} {{ 150000 | money('USD') }}"
    with portal_app.test_request_context(headers={"Accept-Language": "en"}):
        refresh()  # the fixture's app context (and its cached locale) outlives a request
        assert render_template_string(template) == "€1,234.50 $1,500.00"
    with portal_app.test_request_context(headers={"Accept-Language": "fr"}):
        refresh()
        assert render_template_string(template) == "1\u202f234,50\u00a0€ 1\u202f500,00\u00a0$US"
