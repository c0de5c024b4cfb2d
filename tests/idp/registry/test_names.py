"""One normalisation of names for the registry search (idp/registry/names.py)."""

from __future__ import annotations

import pytest

from idp.registry.names import search_key


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("lefevre jean", ("Lefèvre", "Jean-François")),
        ("LEFÈVRE", ("Lefèvre", "Jean-François")),
        ("le fevre", ("Lefèvre", "Jean-François")),
        ("lefevre-jean-fr", ("Lefèvre", "Jean-François")),
        ("d'arcy", ("D'Arcy", "Anne")),
        ("darcy", ("D'Arcy", "Anne")),
        ("d arcy", ("D'Arcy", "Anne")),
        ("d’arcy", ("D'Arcy", "Anne")),  # typographic apostrophe
        ("oeuvray", ("Œuvray", "Zoé")),
        ("ＤＵＰＯＮＴ", ("Dupont", "Marie")),  # full-width letters
    ],
)
def test_registry_search_key_ignores_accents_case_hyphens_apostrophes_spaces(typed, stored):
    assert search_key(*stored).startswith(search_key(typed))


def test_registry_search_key_keeps_only_ascii_letters_and_digits():
    assert search_key("Ñúñez\u200b-Ø'Brien\t", "Łukasz") == "nunezobrienlukasz"


def test_registry_search_key_does_not_match_another_name():
    assert not search_key("Lefèvre", "Jean").startswith(search_key("lefebvre"))
