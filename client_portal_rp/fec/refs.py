"""The lookup form of an accounting piece reference (FEC `PieceRef`, an invoice number).

The same reference is written `VE  0123` in a fixed-width FEC, `ve0123` by a person and
`VE-0123` on the invoice: the key keeps letters and digits only, upper-cased, so each of them
finds the others. A reference with no letter or digit has no key (it matches nothing).
"""

from __future__ import annotations

import re
import unicodedata

_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")
MAX_KEY = 100
BUCKET = 3  # a key's bucket in `fec_pieces`: its last BUCKET characters


def piece_key(reference: str) -> str:
    """`VE  0123`, `ve-0123` and `VE0123` all give `VE0123`; accents are dropped."""
    text = unicodedata.normalize("NFKD", reference or "")
    text = text.encode("ascii", "ignore").decode("ascii").upper()
    return _NOT_ALNUM.sub("", text)[:MAX_KEY]


def piece_bucket(key: str) -> str:
    """Where `fec_pieces` keeps a key: its last characters (numbering spreads them)."""
    return key[-BUCKET:]
