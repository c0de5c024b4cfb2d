"""/userinfo (OIDC Core 5.3): GET and POST, the token in the Authorization header or the POST
body, RFC 6750 challenges; expired, revoked and foreign tokens refused (docs/security.md 31)."""

from __future__ import annotations

import time

import pytest

from idp.extensions import db
from idp.oidc import tokens
from tests.idp.oidc.tokens_support import (
    bearer,
    foreign_key,
    forge,
    grant_of,
    issue,
    revoke,
)


def _expect_claims(response, issued) -> None:
    assert response.status_code == 200, response.get_data(as_text=True)
    claims = response.get_json()
    assert claims["sub"] == issued.user.subject
    assert claims["preferred_username"] == "jean.dupont"
    assert claims["email"] == issued.user.email
    assert response.headers["Cache-Control"] == "no-store"


def test_userinfo_get_with_the_authorization_header(client):
    issued = issue(client)
    _expect_claims(client.get("/userinfo", headers=bearer(issued.access_token)), issued)


def test_userinfo_post_with_the_authorization_header(client):
    issued = issue(client)
    _expect_claims(client.post("/userinfo", headers=bearer(issued.access_token)), issued)


def test_userinfo_post_with_the_token_in_the_body(client):
    issued = issue(client)
    _expect_claims(client.post("/userinfo", data={"access_token": issued.access_token}), issued)


def test_userinfo_bearer_scheme_is_case_insensitive(client):
    issued = issue(client)
    response = client.get("/userinfo", headers={"Authorization": "bearer " + issued.access_token})
    _expect_claims(response, issued)


def test_userinfo_claims_follow_the_tokens_scope(client):
    issued = issue(client, scope="openid email")
    claims = client.get("/userinfo", headers=bearer(issued.access_token)).get_json()
    assert claims["sub"] == issued.user.subject and claims["email"] == issued.user.email
    assert "preferred_username" not in claims and "family_name" not in claims


def test_userinfo_without_token_is_a_bare_challenge(client):
    response = client.get("/userinfo")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="userinfo"'


def test_userinfo_ignores_a_token_in_the_query_string(client):
    issued = issue(client)
    response = client.get("/userinfo", query_string={"access_token": issued.access_token})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="userinfo"'


def test_userinfo_token_given_twice_is_invalid_request(client):
    issued = issue(client)
    response = client.post(
        "/userinfo",
        data={"access_token": issued.access_token},
        headers=bearer(issued.access_token),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc"])
def test_userinfo_malformed_authorization_is_invalid_request(client, header):
    response = client.get("/userinfo", headers={"Authorization": header})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_userinfo_refuses_an_expired_token(client):
    issued = issue(client)
    expired = forge({"exp": int(time.time()) - 5}, base=issued.access_token)
    response = client.get("/userinfo", headers=bearer(expired))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="userinfo", error="invalid_token", error_description="expired"'
    )


def test_userinfo_refuses_a_revoked_token_at_once(client):
    issued = issue(client)
    assert revoke(client, issued.rp, issued.access_token).status_code == 200
    response = client.get("/userinfo", headers=bearer(issued.access_token))
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"


def test_userinfo_refuses_a_token_of_a_revoked_family(client):
    issued = issue(client)
    tokens.revoke_grant(db.session, grant_of(issued.access_token), "test")
    db.session.commit()
    assert client.get("/userinfo", headers=bearer(issued.access_token)).status_code == 401


def test_userinfo_refuses_a_foreign_token(client):
    issued = issue(client)
    foreign = forge(base=issued.access_token, key=foreign_key())
    assert client.get("/userinfo", headers=bearer(foreign)).status_code == 401
    post = client.post("/userinfo", data={"access_token": foreign})
    assert post.status_code == 401


def test_userinfo_needs_the_openid_scope(client):
    issued = issue(client)
    without_openid = forge({"scope": "profile email"}, base=issued.access_token)
    response = client.get("/userinfo", headers=bearer(without_openid))
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    assert 'scope="openid"' in response.headers["WWW-Authenticate"]
