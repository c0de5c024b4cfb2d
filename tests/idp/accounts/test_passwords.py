"""idp/accounts/passwords.py, SECURITY.md 3 and 4: password policy and argon2id hashing."""

import unicodedata

import pytest

from idp.accounts.errors import WeakPassword
from idp.accounts.passwords import PasswordContext, PasswordHasher, check_password_policy
from idp.audit.models import AuditEvent
from idp.config import Argon2Parameters
from idp.extensions import db
from tests.factories import create_user
from tests.helpers import TEST_PASSWORD, login

CONTEXT = PasswordContext("jean.dupont", "jean.dupont@cabinet.example", ("Jean", "Dupont"))


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("court", "au moins 12 caractères"),
        ("x" * 257, "au plus 256 caractères"),
        ("azertyuiop", "au moins 12"),
        ("azertyuiop123", "les plus courants"),
        ("motdepasse1234", "les plus courants"),
        ("password1234", "les plus courants"),
        ("jean.dupont2024!", "identifiant"),
        ("Dupont-Forever-99", "identifiant"),
        ("aaaaaaaaaaaaaaaa", "trop facile"),
        ("123456789012345", "trop facile"),
        ("qwertyuiopasdf", "trop facile"),
    ],
)
def test_password_policy_refuses_with_the_reason(app, password, message):
    with app.test_request_context(), pytest.raises(WeakPassword) as error:
        check_password_policy(password, CONTEXT)
    assert message in error.value.message


@pytest.mark.parametrize(
    "password",
    [
        "cheval agrafe batterie correcte",
        "Le bilan de l'exercice 2025 est clos !",
        "ça, c'est une phrase très sûre",  # accents and spaces welcome
        "x7#Kp2$vLq9@wE4z",
        "é" * 3 + "Zq8!pL0@mN5&",
        "a" * 1 + "Tr0ub4dor&3-horse-staple-x" * 9,  # 235 characters: under the maximum
    ],
)
def test_password_policy_accepts_strong_passwords_without_composition_rules(app, password):
    with app.test_request_context():
        check_password_policy(password, CONTEXT)


def test_password_policy_normalises_nfkc_before_counting(app):
    # Eleven full-width characters stay eleven characters after NFKC: still too short.
    with app.test_request_context(), pytest.raises(WeakPassword):
        check_password_policy("ｘ７#Ｋｐ２$ｖＬｑ９", CONTEXT)


def test_password_length_counts_what_was_typed_not_its_nfkc_expansion():
    """One typed character whose NFKC form is 18 characters long is still one character."""
    assert len(unicodedata.normalize("NFKC", "\ufdfa")) == 18
    with pytest.raises(WeakPassword, match="au moins 12"):
        check_password_policy("\ufdfa")
    with pytest.raises(WeakPassword, match="au moins 12"):
        check_password_policy("\ufdfa" * 3)


def test_password_hashes_are_argon2id_and_verify_nfkc_equivalents():
    hasher = PasswordHasher(Argon2Parameters(time_cost=1, memory_cost_kib=8, parallelism=1))
    stored = hasher.hash("ｃｈｅｖａｌ agrafe batterie")
    assert stored.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert hasher.verify(stored, "cheval agrafe batterie")
    assert not hasher.verify(stored, "cheval agrafe batteriE")
    assert not hasher.verify(None, "anything")
    assert not hasher.verify("not-a-hash", "anything")


def test_password_hash_with_old_parameters_is_upgraded_at_next_login(app, client, configure):
    user = create_user("jean.dupont")
    old_hash = user.password_hash
    assert "m=8,t=1,p=1" in old_hash
    configure(argon2=Argon2Parameters(time_cost=2, memory_cost_kib=16, parallelism=1))
    if True:
        assert login(client, "jean.dupont").status_code == 302
        db.session.expire_all()
        assert "m=16,t=2,p=1" in user.password_hash
        assert db.session.query(AuditEvent).filter_by(event_type="password_rehashed").count() == 1
        client.post("/logout")
        assert login(client, "jean.dupont", TEST_PASSWORD).status_code == 302


def test_password_rules_are_explained_on_the_signup_form(client):
    page = client.get("/signup/autre").get_data(as_text=True)
    assert "Au moins 12 caractères" in page
    assert "mots de passe courants" in page
    assert 'aria-describedby="password-rules"' in page
