"""SIREN numbers (INSEE): nine digits whose Luhn checksum is valid."""

from __future__ import annotations


def normalize_siren(raw: str) -> str:
    """Spaces, dots and non-breaking spaces typed between the groups are dropped."""
    return "".join(ch for ch in raw if ch not in " .\u00a0\u202f-")


def is_valid_siren(raw: str) -> bool:
    siren = normalize_siren(raw)
    if len(siren) != 9 or not siren.isascii() or not siren.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(siren)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0
