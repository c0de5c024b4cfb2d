"""Registry lookups: the autocomplete's prefix search, councils, council roles."""

from __future__ import annotations

import pytest

from idp.audit.services import CLI
from idp.extensions import db
from idp.registry import services
from tests.factories import create_registry_entry, create_user


def test_registry_councils_are_the_sixteen_of_the_order(app):
    codes = {council.code for council in services.councils(db.session)}
    assert codes == {
        "ARA", "BFC", "BRE", "CVL", "GE", "HDF", "IDF", "NOR",
        "NAQ", "OCC", "PDL", "PACA", "GLP", "MTQ", "GUY", "REU",
    }  # fmt: skip


def test_registry_council_code_is_case_insensitive(app):
    assert services.council_by_code(db.session, " idf ").name == "Paris Île-de-France"
    with pytest.raises(services.UnknownCouncil):
        services.council_by_code(db.session, "XYZ")


def test_registry_search_finds_family_then_given_names(app):
    jf = create_registry_entry("Lefèvre", "Jean-François")
    create_registry_entry("Lefebvre", "Paul")
    darcy = create_registry_entry("D'Arcy", "Anne")
    assert services.search_entries(db.session, "lefevre jean") == [jf]
    assert services.search_entries(db.session, "LEFÈV") == [jf]
    for typed in ("d'arcy", "darcy", "d arcy"):
        assert services.search_entries(db.session, typed) == [darcy]


def test_registry_search_needs_three_letters_and_returns_at_most_ten(app):
    for n in range(12):
        create_registry_entry("Martin", f"Prénom{n:02d}")
    assert services.search_entries(db.session, "ma") == []
    assert services.search_entries(db.session, "m a") == []
    assert len(services.search_entries(db.session, "mar")) == 10
    assert len(services.search_entries(db.session, "mar", limit=50)) == 10


def test_registry_search_uses_the_index(app):
    """An index range, not a scan (SQLite's plan; PostgreSQL's planner picks it on size)."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    plan = db.session.execute(
        db.text(
            "EXPLAIN QUERY PLAN SELECT id FROM registry_entries "
            "WHERE search_key >= 'lef' AND search_key < 'lef~' ORDER BY search_key LIMIT 10"
        )
    ).all()
    assert any("ix_registry_entries_search_key" in str(row) for row in plan), plan


def test_registry_registration_number_is_trimmed_and_upper_cased(app):
    entry = create_registry_entry(registration_number="AB123")
    assert services.entry_by_registration_number(db.session, "  ab123 ") == entry
    assert services.entry_by_registration_number(db.session, "") is None


def test_registry_national_administrator_administers_every_council(app):
    local, national = create_user("claire.idf"), create_user("paul.national")
    idf = services.council_by_code(db.session, "IDF")
    services.grant_council_role(db.session, local.id, idf, actor=CLI)
    services.grant_council_role(db.session, national.id, None, actor=CLI)
    db.session.commit()
    assert [c.code for c in services.administered_councils(db.session, local.id)] == ["IDF"]
    assert len(services.administered_councils(db.session, national.id)) == 16
    ara = services.council_by_code(db.session, "ARA")
    assert not services.can_administer(db.session, local.id, ara)
    assert services.can_administer(db.session, national.id, ara)
    assert services.revoke_council_role(db.session, local.id, idf, actor=CLI)
    assert services.administered_councils(db.session, local.id) == []
