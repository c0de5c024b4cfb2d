"""RFC 8707 resource indicators at /token (docs/adr/0028-client-resources.md): a client may ask
only for the resources it registered (`OAuthClient.resources`), compared exactly (no prefix,
no trailing-slash or case tricks); anything else is `invalid_target` with an English
description, and nothing is spent: the code stays redeemable, the refresh token usable."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.oidc.models import AuthorizationCode, RefreshToken
from tests.idp.oidc.helpers import (
    authorize,
    callback_params,
    pkce_pair,
    redeem_code,
    register_client,
    sign_in,
)
from tests.idp.oidc.tokens_support import client_credentials, issue, refresh, segments

API = "https://portail.example/api/v1"
# The registered resource written otherwise: each is another resource, refused.
LOOKALIKES = (
    "https://portail.example/api/v1/",  # trailing slash
    "https://portail.example/API/v1",  # case of the path
    "https://portail.example/api",  # a prefix of it
    "https://portail.example/api/v1/deposits",  # a longer path
    "https://portail.example/api/v1?x=1",  # a query
)


def _refused(response, resource: str) -> None:
    """`invalid_target`, its description English ASCII as the rest of /token."""
    body = response.get_json()
    assert response.status_code == 400, (response.status_code, body)
    assert body["error"] == "invalid_target", body
    assert "access_token" not in body
    description = body["error_description"]
    assert description.isascii() and "not registered" in description, description
    assert resource not in description  # the request's text is not echoed back


def _code(client, rp) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    response = authorize(client, rp, code_challenge=challenge, code_challenge_method="S256")
    return callback_params(response)["code"], verifier


def _used_at(code: str):
    digest = hashlib.sha256(code.encode()).hexdigest()
    db.session.expire_all()
    return db.session.scalar(
        select(AuthorizationCode.used_at).where(AuthorizationCode.code_digest == digest)
    )


def _refresh_used_at(token: str):
    digest = hashlib.sha256(token.encode()).hexdigest()
    db.session.expire_all()
    return db.session.scalar(
        select(RefreshToken.used_at).where(RefreshToken.token_digest == digest)
    )


def _machine(**options):
    return register_client(
        name="Outil de cabinet", grant_types=["client_credentials"], scopes=["api.read"], **options
    )


# --- the code exchange ----------------------------------------------------------------------


def test_client_resources_code_exchange_refuses_an_unregistered_resource_and_spends_no_code(
    client,
):
    rp = register_client()
    sign_in(client)
    code, verifier = _code(client, rp)
    _refused(redeem_code(client, rp, code, verifier=verifier, resource=API), API)
    assert _used_at(code) is None
    again = redeem_code(client, rp, code, verifier=verifier)
    assert again.status_code == 200, again.get_data(as_text=True)
    assert segments(again.get_json()["access_token"])[1]["aud"] == rp.client_id
    assert _used_at(code) is not None


def test_client_resources_code_exchange_grants_a_registered_resource_in_aud(client):
    other = "https://fichiers.example/"
    rp = register_client(resources=[API, other])
    sign_in(client)
    code, verifier = _code(client, rp)
    response = redeem_code(client, rp, code, verifier=verifier, resource=[other, API])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert segments(response.get_json()["access_token"])[1]["aud"] == [rp.client_id, other, API]


@pytest.mark.parametrize("lookalike", LOOKALIKES)
def test_client_resources_code_exchange_compares_exactly(client, lookalike):
    rp = register_client(resources=[API])
    sign_in(client)
    code, verifier = _code(client, rp)
    _refused(redeem_code(client, rp, code, verifier=verifier, resource=lookalike), lookalike)
    assert _used_at(code) is None


def test_client_resources_one_unregistered_resource_refuses_the_whole_request(client):
    rp = register_client(resources=[API])
    sign_in(client)
    code, verifier = _code(client, rp)
    evil = "https://evil.example/"
    _refused(redeem_code(client, rp, code, verifier=verifier, resource=[API, evil]), evil)
    assert _used_at(code) is None


def test_client_resources_are_the_clients_own_not_another_clients(client):
    register_client(name="Portail", resources=[API])
    rp = register_client(name="Autre site")
    sign_in(client)
    code, verifier = _code(client, rp)
    _refused(redeem_code(client, rp, code, verifier=verifier, resource=API), API)


# --- refresh --------------------------------------------------------------------------------


def test_client_resources_refresh_refuses_an_unregistered_resource_and_keeps_the_token(client):
    issued = issue(client)
    _refused(refresh(client, issued.rp, issued.refresh_token, resource=API), API)
    assert _refresh_used_at(issued.refresh_token) is None
    again = refresh(client, issued.rp, issued.refresh_token)
    assert again.status_code == 200, again.get_data(as_text=True)


def test_client_resources_refresh_grants_a_registered_resource_in_aud(client):
    issued = issue(client, resources=[API])
    response = refresh(client, issued.rp, issued.refresh_token, resource=API)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert segments(response.get_json()["access_token"])[1]["aud"] == [issued.rp.client_id, API]
    _refused(
        refresh(client, issued.rp, response.get_json()["refresh_token"], resource=API + "/"),
        API + "/",
    )


def test_client_resources_removed_from_the_client_are_refused_at_the_next_refresh(client):
    issued = issue(client, resources=[API])
    row = issued.rp.row()
    row.resources = []
    db.session.commit()
    _refused(refresh(client, issued.rp, issued.refresh_token, resource=API), API)


# --- client_credentials ---------------------------------------------------------------------


def test_client_resources_client_credentials_refuses_an_unregistered_resource(client):
    rp = _machine()
    _refused(client_credentials(client, rp, resource=API), API)


def test_client_resources_client_credentials_grants_a_registered_resource_in_aud(client):
    rp = _machine(resources=[API])
    response = client_credentials(client, rp, resource=API)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert segments(response.get_json()["access_token"])[1]["aud"] == [rp.client_id, API]


@pytest.mark.parametrize("lookalike", LOOKALIKES)
def test_client_resources_client_credentials_compares_exactly(client, lookalike):
    rp = _machine(resources=[API])
    _refused(client_credentials(client, rp, resource=lookalike), lookalike)


def test_client_resources_malformed_resource_is_still_refused_as_malformed(client):
    """The syntax check comes first: a registered list cannot admit a relative URI."""
    rp = _machine(resources=[API])
    response = client_credentials(client, rp, resource="api/v1")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_target"
    assert "absolute URI" in body["error_description"]
