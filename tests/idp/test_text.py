"""idp/text.py: hostile text (issue 11, defect 3). Control characters, line breaks, bidi
overrides and invisible characters are refused in every text input, as a form error and never
a 500; passwords refuse only control characters.

The reserved-name variants (defect 6) are in tests/idp/accounts/test_usernames.py, the NFKC
password length (defect 10) in tests/idp/accounts/test_passwords.py.
"""

from __future__ import annotations

import pytest

from idp.accounts.models import User
from idp.extensions import db
from idp.mail.models import OutboxMessage
from idp.text import has_forbidden_characters
from tests.helpers import csrf_token, login, signup

HOSTILE = [  # in a name, each would reach emails sent to any address
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
    token = csrf_token(client, "/password/forgot")
    response = client.post("/password/forgot", data={"csrf_token": token, "identifier": identifier})
    assert response.status_code == 200
    assert "caractères non autorisés" in response.get_data(as_text=True)


@pytest.mark.parametrize("value", HOSTILE)
def test_text_forbidden_characters_are_found_in_names(value):
    assert has_forbidden_characters(value)


@pytest.mark.parametrize(
    "value",
    ["Marie-Hélène", "Jean Dupont", "ＭＡＲＩＥ", "O'Connor", "cabinet@dupont.example", "Ærø"],
)
def test_text_ordinary_names_have_no_forbidden_character(value):
    assert not has_forbidden_characters(value)


def test_text_passwords_refuse_only_control_characters():
    assert not has_forbidden_characters("Ma\u200brie \u202egnp", password=True)
    for control in ("\x00", "\n", "\r", "\x1b", "\x7f"):
        assert has_forbidden_characters(f"mot{control}de passe", password=True)
