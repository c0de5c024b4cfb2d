"""The portal's one cursor encoding (client_portal_rp/paging.py): what it writes it reads back;
anything else, a naive moment included, is InvalidCursor, which each reader turns into its
answer."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from client_portal_rp.paging import MAX_CURSOR, InvalidCursor, decode_cursor, encode_cursor


def test_a_cursor_reads_back_what_it_wrote() -> None:
    moment = datetime(2026, 12, 3, 18, 0, 5, 123456, tzinfo=UTC)
    values = ("F/ORANGE 1", 12, date(2050, 9, 30), moment)
    assert decode_cursor(encode_cursor(*values), str, int, date, datetime) == values


@pytest.mark.parametrize(
    ("cursor", "kinds"),
    [
        ("", (str, int)),
        ("not base64 !", (str, int)),
        (encode_cursor("x"), (str, int)),  # one value where two are expected
        (encode_cursor("x", "12"), (str, int)),  # a text where a number is expected
        (encode_cursor("x", True), (str, int)),  # a boolean is not a number
        (encode_cursor("2026-12-03T18:00:05", 1), (datetime, int)),  # no time zone
        (encode_cursor("31/12/2050", 1), (date, int)),
        ("A" * (MAX_CURSOR + 1), (str, int)),
    ],
)
def test_anything_else_is_an_invalid_cursor(cursor: str, kinds: tuple[type, ...]) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, *kinds)
