"""idp/accounts/usernames.py, SECURITY.md 5: canonical usernames, syntax, reserved names and
their variants (issue 11, defect 6)."""

import pytest

from idp.accounts.errors import InvalidUsername, UsernameTaken
from idp.accounts.models import User
from idp.accounts.usernames import canonical_username, validate_username
from idp.extensions import db
from tests.factories import create_user
from tests.helpers import signup


@pytest.mark.parametrize(
    "variant", ["Jean.Dupont", "jean.dupont", "ｊｅａｎ.ｄｕｐｏｎｔ", "JEAN.DUPONT"]
)
def test_usernames_variants_share_one_canonical_form(variant):
    assert canonical_username(variant) == "jean.dupont"
    assert validate_username(variant) == "jean.dupont"


@pytest.mark.parametrize("variant", ["Jean.Dupont", "ｊｅａｎ.ｄｕｐｏｎｔ", "JEAN.dupont"])
def test_usernames_collide_after_canonicalisation(app, variant):
    create_user("jean.dupont")
    with pytest.raises(UsernameTaken):
        create_user(variant)
    assert db.session.query(User).filter_by(username="jean.dupont").count() == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("jd", "entre 3 et 30"),
        ("a" * 31, "entre 3 et 30"),
        ("jean dupont", "ne peut contenir que"),
        ("jérôme", "ne peut contenir que"),
        ("jean@dupont", "ne peut contenir que"),
        ("jean+1", "ne peut contenir que"),
        (".jean", "commencer et finir"),
        ("jean-", "commencer et finir"),
        ("jean..dupont", "commencer et finir"),
        ("admin", "réservé"),
        ("Root", "réservé"),
        ("SUPPORT", "réservé"),
        ("ordre", "réservé"),
    ],
)
def test_usernames_invalid_are_refused_with_a_precise_french_message(app, raw, message):
    with app.test_request_context(), pytest.raises(InvalidUsername) as error:
        validate_username(raw)
    assert message in error.value.message


@pytest.mark.parametrize(
    "username",
    [
        "sesame.support",
        "support.sesame",
        "no.reply",
        "no_reply",
        "postmaster1",
        "admin2",
        "ordre-officiel",
        "cnoec.paris",
        "s.e.s.a.m.e",
    ],
)
def test_usernames_reserved_variants_are_refused(username):
    with pytest.raises(InvalidUsername, match="réservé"):
        validate_username(username)


@pytest.mark.parametrize("username", ["jean.dupont", "marie-test", "info.fiscale", "camille2"])
def test_usernames_ordinary_names_near_reserved_words_stay_allowed(username):
    assert validate_username(username) == username


@pytest.mark.parametrize("raw", ["abc", "jean.dupont", "j-d_2", "a" * 30, "expert.comptable.75"])
def test_usernames_valid_are_accepted(raw):
    assert validate_username(raw) == raw


def test_signup_form_shows_username_error_on_the_field(client):
    page = signup(client, username="admin").get_data(as_text=True)
    assert 'id="username-error"' in page
    assert "Cet identifiant est réservé" in page
    assert db.session.query(User).count() == 0
