"""idp/accounts/tokens.py, SECURITY.md 8 and 9: the signed tokens of activation and reset links
are bound to their purpose, expire, refuse any tampering, and die with the state they carry."""

from __future__ import annotations

import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from idp.accounts.errors import TokenExpired, TokenInvalid
from idp.accounts.tokens import TokenService, fingerprints_match, state_fingerprint

SECRET = "test-secret-key-0123456789abcdef0123456789"
ACTIVATION = TokenService(SECRET, "activation", 3600)
RESET = TokenService(SECRET, "password-reset", 3600)
PAYLOAD = {"sub": "subject-1", "fp": "abc"}


def test_tokens_round_trip_their_payload():
    assert ACTIVATION.loads(ACTIVATION.dumps(PAYLOAD)) == PAYLOAD


def test_tokens_are_bound_to_their_purpose():
    with pytest.raises(TokenInvalid):
        RESET.loads(ACTIVATION.dumps(PAYLOAD))
    with pytest.raises(TokenInvalid):
        ACTIVATION.loads(RESET.dumps(PAYLOAD))


def test_tokens_of_another_secret_key_are_refused():
    forged = TokenService("another-secret", "activation", 3600).dumps(PAYLOAD)
    with pytest.raises(TokenInvalid):
        ACTIVATION.loads(forged)


def test_tokens_expire_after_their_max_age(monkeypatch):
    token = ACTIVATION.dumps(PAYLOAD)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 3600 - 5)
    assert ACTIVATION.loads(token) == PAYLOAD
    monkeypatch.setattr(time, "time", lambda: now + 3600 + 5)
    with pytest.raises(TokenExpired):
        ACTIVATION.loads(token)


def test_tokens_tampered_payload_or_signature_is_refused():
    token = ACTIVATION.dumps(PAYLOAD)
    payload, timestamp, signature = token.split(".")
    other_payload = ACTIVATION.dumps({"sub": "subject-2", "fp": "abc"}).split(".")[0]
    # Flip the first character: the last one of base64 carries unused low bits, and changing
    # only those leaves the decoded signature the same (the test then failed at random).
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for tampered in (
        f"{other_payload}.{timestamp}.{signature}",  # another account's subject
        f"{payload}.{timestamp}.{flipped}",
        f"{payload}.{signature}",
    ):
        with pytest.raises(TokenInvalid):
            ACTIVATION.loads(tampered)


@pytest.mark.parametrize("token", ["", "abc", "a" * 1025, "eyJzdWIiOiJ4In0.tampered.sig"])
def test_tokens_malformed_or_oversized_are_refused(token):
    with pytest.raises(TokenInvalid):
        ACTIVATION.loads(token)


def test_tokens_signed_non_dict_payload_is_refused():
    """A correctly signed value that is not a mapping is no token of ours."""
    serializer = URLSafeTimedSerializer(SECRET, salt="sesame.activation")
    with pytest.raises(TokenInvalid):
        ACTIVATION.loads(serializer.dumps(["subject-1"]))


def test_tokens_state_fingerprint_changes_with_the_state():
    before = state_fingerprint("subject-1", "$argon2id$old", "active")
    assert fingerprints_match(before, state_fingerprint("subject-1", "$argon2id$old", "active"))
    assert not fingerprints_match(before, state_fingerprint("subject-1", "$argon2id$new", "active"))
    assert not fingerprints_match(
        before, state_fingerprint("subject-1", "$argon2id$old", "pending")
    )
    # parts are separated: moving text from one part to the next is another state
    assert state_fingerprint("ab", "c") != state_fingerprint("a", "bc")
    assert state_fingerprint(None, "x") == state_fingerprint("", "x")
    assert len(before) == 22
