"""idp/profiles/masking.py: the one way an email is shown masked (docs/security.md 11)."""

from __future__ import annotations

import pytest

from idp.profiles.masking import mask_email


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("jean.dupont@cabinet.fr", "j***@c***.fr"),
        ("jf.lefevre@cabinet-lefevre.example", "j***@c***.example"),
        ("a@b.fr", "a***@b***.fr"),
        ("marie@mail.cabinet.co.uk", "m***@m***.uk"),
        ("  Jean@Cabinet.FR ", "J***@C***.FR"),
        ("local@localhost", "l***@l***"),
        ("pas-une-adresse", "***"),
        ("", "***"),
        ("@cabinet.fr", "***"),
    ],
)
def test_masking_shows_first_letters_and_top_level_domain(email: str, masked: str) -> None:
    assert mask_email(email) == masked
