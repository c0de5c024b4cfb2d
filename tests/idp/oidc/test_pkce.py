"""PKCE (docs/security.md 22): required for public clients already at /authorize, S256 only
(plain refused, and no silent default to plain), the verifier must match, and a code issued
without a challenge is not redeemed with a verifier (nor the reverse)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from idp.config import settings
from idp.extensions import db
from idp.oidc.models import AuthorizationCode, Grant
from tests.idp.oidc.helpers import (
    authorize,
    callback_params,
    code_flow,
    get_code,
    pkce_pair,
    redeem_code,
    register_client,
    sign_in,
)


def _codes() -> int:
    return int(db.session.scalar(select(func.count()).select_from(AuthorizationCode)) or 0)


def _grants() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Grant)) or 0)


def test_pkce_public_client_without_challenge_is_refused_at_authorize(app, client):
    rp = register_client(public=True)
    sign_in(client)
    params = callback_params(authorize(client, rp, state="s"))
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]
    assert params["state"] == "s" and params["iss"] == settings().issuer
    assert _codes() == 0


def test_pkce_public_client_with_s256_gets_tokens(app, client):
    rp = register_client(public=True)
    sign_in(client)
    flow = code_flow(client, rp)
    assert flow.access_token and flow.id_token


@pytest.mark.parametrize("public", [True, False])
def test_pkce_plain_method_is_refused(app, client, public):
    rp = register_client(public=public)
    sign_in(client)
    verifier, _ = pkce_pair()
    params = callback_params(
        authorize(client, rp, code_challenge=verifier, code_challenge_method="plain")
    )
    assert params["error"] == "invalid_request"
    assert _codes() == 0


@pytest.mark.parametrize("public", [True, False])
def test_pkce_challenge_without_method_is_refused_not_taken_as_plain(app, client, public):
    rp = register_client(public=public)
    sign_in(client)
    _verifier, challenge = pkce_pair()
    params = callback_params(authorize(client, rp, code_challenge=challenge))
    assert params["error"] == "invalid_request"
    assert _codes() == 0


@pytest.mark.parametrize(
    "challenge",
    ["short", "x" * 129, "a" * 42 + "!", "é" * 43],
    ids=["short", "long", "char", "utf8"],
)
def test_pkce_malformed_challenge_is_refused(app, client, challenge):
    rp = register_client(public=True)
    sign_in(client)
    params = callback_params(
        authorize(client, rp, code_challenge=challenge, code_challenge_method="S256")
    )
    assert params["error"] == "invalid_request"


@pytest.mark.parametrize("public", [True, False])
def test_pkce_wrong_verifier_is_refused(app, client, public):
    rp = register_client(public=public)
    sign_in(client)
    _verifier, challenge = pkce_pair()
    code = get_code(client, rp, code_challenge=challenge, code_challenge_method="S256")["code"]
    other, _ = pkce_pair()
    response = redeem_code(client, rp, code, verifier=other)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert _grants() == 0


@pytest.mark.parametrize("public", [True, False])
def test_pkce_missing_verifier_for_a_challenged_code_is_refused(app, client, public):
    rp = register_client(public=public)
    sign_in(client)
    verifier, challenge = pkce_pair()
    code = get_code(client, rp, code_challenge=challenge, code_challenge_method="S256")["code"]
    response = redeem_code(client, rp, code, verifier=None)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    assert _grants() == 0
    assert redeem_code(client, rp, code, verifier=verifier).status_code == 200


def test_pkce_verifier_for_a_code_issued_without_challenge_is_refused(app, client):
    """A confidential client may skip PKCE; its code then takes no verifier (RFC 9700 4.8:
    an attacker's injected code would otherwise pass with any verifier)."""
    rp = register_client()
    sign_in(client)
    code = get_code(client, rp)["code"]
    verifier, _ = pkce_pair()
    response = redeem_code(client, rp, code, verifier=verifier)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    assert _grants() == 0


def test_pkce_confidential_client_without_pkce_still_works(app, client):
    rp = register_client()
    sign_in(client)
    code = get_code(client, rp)["code"]
    response = redeem_code(client, rp, code, verifier=None)
    assert response.status_code == 200, response.get_json()


def test_pkce_stores_the_challenge_and_s256(app, client):
    rp = register_client(public=True)
    sign_in(client)
    _verifier, challenge = pkce_pair()
    get_code(client, rp, code_challenge=challenge, code_challenge_method="S256")
    row = db.session.scalar(select(AuthorizationCode))
    assert (row.code_challenge, row.code_challenge_method) == (challenge, "S256")
