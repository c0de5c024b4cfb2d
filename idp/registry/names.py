"""The one normalisation of person names used for registry search, everywhere.

Search is accent-, case-, hyphen-, apostrophe- and space-insensitive: `Lefèvre`, `LEFEVRE`
and `le fevre` are the same key, and `D'Arcy`, `darcy` and `d arcy` too. The key keeps only
ASCII letters and digits, so a prefix search is a plain index range on the stored column
(`search_key >= q AND search_key < q || '~'`), the same on SQLite and PostgreSQL (where the
column uses the "C" collation).
"""

from __future__ import annotations

import unicodedata

# Letters that NFKD does not decompose into a base letter plus marks.
_LIGATURES = str.maketrans(
    {
        "œ": "oe",
        "Œ": "oe",
        "æ": "ae",
        "Æ": "ae",
        "ø": "o",
        "Ø": "o",
        "ł": "l",
        "Ł": "l",
        "đ": "d",
        "Đ": "d",
        "ı": "i",
    }
)
# Sorts after every character a key may hold ([a-z0-9]): the exclusive upper bound of a prefix.
PREFIX_UPPER_BOUND = "~"


def search_key(*parts: str) -> str:
    """`search_key("Lefèvre", "Jean-François") == "lefevrejeanfrancois"`."""
    text = " ".join(parts).translate(_LIGATURES)
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum())


def display_name(family_name: str, given_names: str) -> str:
    """`LEFÈVRE Jean-François`: the family name in capitals, as the Order lists members."""
    return f"{family_name.upper()} {given_names}".strip()
