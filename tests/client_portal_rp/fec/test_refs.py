"""The lookup key of a piece reference: `refs.piece_key` (a person's or an invoice's text) and
`compute.piece_key_of` (a FEC's column at import) must give the same key, or a deposit would
not meet its entry."""

from __future__ import annotations

import polars as pl
import pytest

from client_portal_rp.fec.compute import piece_key_of
from client_portal_rp.fec.refs import piece_key

AWKWARD = [
    "VE  0123",
    "ve-0123",
    "Fact. n°12/ß",  # ß has no ASCII form: dropped, not « SS »
    "ﬁche-9",  # a ligature: « FI »
    "Réf é",
    "ÀÉÎõü 7",
    "ＡＢ１２",  # full-width
    "①②",
    "Ⅻ-3",
    "٣4",  # an Arabic-Indic digit: dropped
    "",
    " - / ",
    "x" * 150,  # cut at 100
]


@pytest.mark.parametrize("reference", AWKWARD)
def test_the_column_key_is_the_python_key(reference: str) -> None:
    column = pl.DataFrame({"r": [reference]}).select(piece_key_of(pl.col("r")))["r"]
    assert column[0] == piece_key(reference)


def test_piece_key_examples() -> None:
    assert piece_key("VE  0123") == piece_key("ve-0123") == "VE0123"
    assert piece_key("Fact. n°12/ß") == "FACTN12"
    assert len(piece_key("x" * 150)) == 100
    assert piece_key(" - / ") == ""
