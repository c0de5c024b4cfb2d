"""idp/profiles/siren.py: 9 digits and a Luhn key."""

from __future__ import annotations

import pytest

from idp.profiles.siren import is_valid_siren, normalize_siren


@pytest.mark.parametrize("siren", ["732829320", "732 829 320", "552100554", "552.100.554"])
def test_siren_valid(siren: str) -> None:
    assert is_valid_siren(siren)


@pytest.mark.parametrize(
    "siren", ["732829321", "12345678", "1234567890", "abcdefghi", "٧٣٢٨٢٩٣٢٠", ""]
)
def test_siren_invalid(siren: str) -> None:
    assert not is_valid_siren(siren)


def test_siren_normalized_without_separators() -> None:
    assert normalize_siren("732 829\u00a0320") == "732829320"
