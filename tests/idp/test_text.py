"""Hostile text and shapes: control characters, reserved names, NFKC lengths
(issue 11, defects 3, 6 and 10)."""

from __future__ import annotations

import pytest

from idp.accounts.errors import InvalidUsername, WeakPassword
from idp.accounts.models import User
from idp.accounts.passwords import check_password_policy
from idp.accounts.usernames import validate_username
from idp.extensions import db
from idp.mail.models import OutboxMessage
from tests.helpers import login, signup

HOSTILE = [
    pytest.param("Marie\nCliquez ici : http://phishing.example", id="line-break"),
    pytest.param("Marie\r\nBcc: victime@example.org", id="crlf"),
    pytest.param("Marie\x00", id="nul"),
    pytest.param("Marie\u202egnp.exe", id="bidi-override"),
    pytest.param("Ma\u200brie", id="zero-width-space"),
    pytest.param("Marie\x1b[31m", id="escape"),
]


@pytest.mark.parametrize("name", HOSTILE)
def test_input_signup_refuses_control_and_invisible_characters_in_names(client, name):
    response = signup(client, given_name=name)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "caractères non autorisés" in page
    assert db.session.query(User).count() == 0
    assert db.session.query(OutboxMessage).count() == 0


@pytest.mark.parametrize("field", ["username", "email", "family_name"])
def test_input_signup_refuses_nul_in_every_field_without_a_500(client, field):
    response = signup(client, **{field: "jean\x00dupont"})
    assert response.status_code == 200
    assert "caractères non autorisés" in response.get_data(as_text=True)


@pytest.mark.parametrize("username", ["jean\x00dupont", "jean\ndupont", "\u202ejean"])
def test_input_login_with_control_characters_is_a_form_error_not_a_500(client, username):
    response = login(client, username, "peu importe le mot de passe")
    assert response.status_code == 200
    assert "caractères non autorisés" in response.get_data(as_text=True)


@pytest.mark.parametrize("identifier", ["jean\x00dupont", "a@b\x00.example"])
def test_input_forgot_password_with_nul_is_a_form_error(client, identifier):
    from tests.helpers import csrf_token

    token = csrf_token(client, "/password/forgot")
    response = client.post("/password/forgot", data={"csrf_token": token, "identifier": identifier})
    assert response.status_code == 200
    assert "caractères non autorisés" in response.get_data(as_text=True)


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
def test_input_reserved_usernames_refuse_variants(username):
    with pytest.raises(InvalidUsername, match="réservé"):
        validate_username(username)


@pytest.mark.parametrize("username", ["jean.dupont", "marie-test", "info.fiscale", "camille2"])
def test_input_ordinary_usernames_stay_allowed(username):
    assert validate_username(username) == username


def test_input_password_length_counts_what_was_typed_not_its_nfkc_expansion():
    assert (
        len("\ufdfa".encode()) and len(__import__("unicodedata").normalize("NFKC", "\ufdfa")) == 18
    )
    with pytest.raises(WeakPassword, match="au moins 12"):
        check_password_policy("\ufdfa")
    with pytest.raises(WeakPassword, match="au moins 12"):
        check_password_policy("\ufdfa" * 3)
