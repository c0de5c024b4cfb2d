"""Text that people type: what is refused everywhere (docs/security.md 18, issue 11 defect 3).

Control characters (line breaks included), bidirectional overrides, zero-width and other
invisible format characters, surrogates, private-use and unassigned code points are refused in
every text input: in a name they would reach emails sent to any address (a line break starts a
phishing paragraph; a bidi override reverses what the reader sees), and NUL breaks PostgreSQL.
Passwords are the exception: any printable character is accepted, only controls are refused.
"""

from __future__ import annotations

import unicodedata

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def has_forbidden_characters(value: str, *, password: bool = False) -> bool:
    if password:
        return any(unicodedata.category(c) == "Cc" for c in value)
    return any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in value)
