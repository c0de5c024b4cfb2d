"""Emails shown masked on pages that anyone who knows a name could reach (docs/security.md 11)."""

from __future__ import annotations


def mask_email(email: str) -> str:
    """`jean.dupont@cabinet.fr` -> `j***@c***.fr`: the first letter of the local part and of
    the domain, and the top-level domain. Anything without an `@` gives `***`."""
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or not domain:
        return "***"
    name, dot, tld = domain.rpartition(".")
    if not dot or not name:
        return f"{local[0]}***@{domain[0]}***"
    return f"{local[0]}***@{name[0]}***.{tld}"
