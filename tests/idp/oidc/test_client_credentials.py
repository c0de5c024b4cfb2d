"""client_credentials: a confidential client's own token, for its own registered scopes,
written nowhere (OIDC_NOTES pitfall 9: unknown scopes are refused, not dropped)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from idp.extensions import db
from idp.oidc import tokens
from idp.oidc.models import OAuthClient
from tests.idp.oidc.helpers import basic_authorization, register_client
from tests.idp.oidc.tokens_support import (
    client_credentials,
    introspect,
    oauth_row_counts,
    revoke,
    segments,
    userinfo,
)


def _machine(**options):
    options.setdefault("grant_types", ["client_credentials"])
    options.setdefault("scopes", ["openid", "profile", "api.read", "api.write"])
    return register_client(name="Outil de cabinet", **options)


def test_client_credentials_issues_the_clients_own_token_and_writes_nothing(client):
    rp = _machine()
    client_credentials(client, rp)  # the signing keys exist from here on
    before = oauth_row_counts()
    response = client_credentials(client, rp, scope="api.read")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["scope"] == "api.read"
    assert response.headers["Cache-Control"] == "no-store"
    header, claims = segments(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    assert claims["sub"] == claims["client_id"] == claims["aud"] == rp.client_id
    assert claims["scope"] == "api.read"
    assert claims["exp"] - claims["iat"] == 600
    assert not {"gid", "sid", "auth_time", "acr", "amr"} & set(claims)
    assert oauth_row_counts() == before
    valid = tokens.validate_access_token(body["access_token"])
    assert valid.user is None and valid.subject == rp.client_id


def test_client_credentials_without_scope_gets_the_clients_non_user_scopes(client):
    rp = _machine()
    body = client_credentials(client, rp).get_json()
    assert body["scope"] == "api.read api.write"


@pytest.mark.parametrize(
    "scope", ["openid", "offline_access", "profile", "email", "api.admin", "api.read openid"]
)
def test_client_credentials_refuses_unknown_or_user_scopes(client, scope):
    rp = _machine()
    response = client_credentials(client, rp, scope=scope)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_scope"
    assert "access_token" not in response.get_json()


def test_client_credentials_only_for_clients_that_registered_it(client):
    rp = register_client(grant_types=["authorization_code", "refresh_token"])
    response = client_credentials(client, rp)
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


def test_client_credentials_refused_to_public_clients(client):
    rp = _machine(public=True)
    response = client_credentials(client, rp)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_client_credentials_wrong_secret_is_invalid_client(client):
    rp = _machine()
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic_authorization(rp.client_id, "wrong-secret")},
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_client_credentials_with_client_secret_post(client):
    rp = _machine(auth_method="client_secret_post")
    response = client_credentials(client, rp, scope="api.write")
    assert response.status_code == 200, response.get_data(as_text=True)


def test_client_credentials_resource_indicators_join_the_audience(client):
    rp = _machine(resources=["https://api.example/", "https://files.example/"])
    response = client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "resource": ["https://api.example/", "https://files.example/"],
        },
        headers={"Authorization": basic_authorization(rp.client_id, rp.secret)},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    _, claims = segments(response.get_json()["access_token"])
    assert claims["aud"] == [rp.client_id, "https://api.example/", "https://files.example/"]


@pytest.mark.parametrize("resource", ["api", "/relative", "https://api.example/#frag"])
def test_client_credentials_bad_resource_is_invalid_target(client, resource):
    rp = _machine(resources=[resource])  # even registered, a malformed one is refused
    response = client_credentials(client, rp, resource=resource)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_target"


def test_client_credentials_token_is_revocable_by_its_jti(client):
    rp = _machine()
    token = client_credentials(client, rp).get_json()["access_token"]
    assert introspect(client, rp, token).get_json()["active"] is True
    assert revoke(client, rp, token).status_code == 200
    assert introspect(client, rp, token).get_json() == {"active": False}
    with pytest.raises(tokens.InvalidAccessToken):
        tokens.validate_access_token(token)


def test_client_credentials_token_dies_with_its_client(client):
    rp = _machine()
    token = client_credentials(client, rp).get_json()["access_token"]
    db.session.execute(
        update(OAuthClient).where(OAuthClient.id == rp.id).values(disabled_at=db.func.now())
    )
    db.session.commit()
    with pytest.raises(tokens.InvalidAccessToken):
        tokens.validate_access_token(token)


def test_client_credentials_token_opens_no_userinfo(client):
    rp = _machine()
    token = client_credentials(client, rp).get_json()["access_token"]
    response = userinfo(client, token)
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
