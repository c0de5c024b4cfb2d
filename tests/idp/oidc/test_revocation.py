"""/revoke (RFC 7009): revoking a refresh token stops further refreshes and the family's
access tokens; revoking an access token refuses it at once until it expires
(docs/security.md 30). Other clients' tokens and unknown tokens: 200, nothing done."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.oidc.models import RefreshToken, RevokedAccessToken
from tests.idp.oidc.helpers import register_client
from tests.idp.oidc.tokens_support import (
    forge,
    grant_of,
    issue,
    refresh,
    revoke,
    segments,
    userinfo,
)


def test_revocation_of_a_refresh_token_stops_refreshes_and_the_family(client):
    issued = issue(client)
    response = revoke(client, issued.rp, issued.refresh_token, token_type_hint="refresh_token")
    assert response.status_code == 200 and response.get_json() == {}
    assert response.headers["Cache-Control"] == "no-store"
    again = refresh(client, issued.rp, issued.refresh_token)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    grant = grant_of(issued.access_token)
    assert grant.revoked_at is not None
    row = db.session.scalars(select(RefreshToken)).one()
    assert row.revoked_at is not None and row.used_at is None
    assert userinfo(client, issued.access_token).status_code == 401


def test_revocation_of_an_access_token_refuses_it_until_it_expires(client):
    issued = issue(client)
    assert revoke(client, issued.rp, issued.access_token).status_code == 200
    assert userinfo(client, issued.access_token).status_code == 401
    _, claims = segments(issued.access_token)
    row = db.session.get(RevokedAccessToken, claims["jti"])
    assert row is not None and int(row.expires_at.timestamp()) == claims["exp"]
    # only that token: the family goes on
    assert grant_of(issued.access_token).revoked_at is None
    fresh = refresh(client, issued.rp, issued.refresh_token)
    assert fresh.status_code == 200
    assert userinfo(client, fresh.get_json()["access_token"]).status_code == 200


def test_revocation_twice_is_harmless(client):
    issued = issue(client)
    assert revoke(client, issued.rp, issued.access_token).status_code == 200
    assert revoke(client, issued.rp, issued.access_token).status_code == 200
    assert revoke(client, issued.rp, issued.refresh_token).status_code == 200
    assert revoke(client, issued.rp, issued.refresh_token).status_code == 200
    assert len(db.session.scalars(select(RevokedAccessToken)).all()) == 1


@pytest.mark.parametrize("hint", ["access_token", "refresh_token"])
def test_revocation_finds_the_token_whatever_the_hint(client, hint):
    issued = issue(client)
    wrong_for_access = "refresh_token" if hint == "access_token" else "access_token"
    revoke(client, issued.rp, issued.access_token, token_type_hint=wrong_for_access)
    assert userinfo(client, issued.access_token).status_code == 401
    revoke(client, issued.rp, issued.refresh_token, token_type_hint=hint)
    assert refresh(client, issued.rp, issued.refresh_token).status_code == 400


def test_revocation_of_another_clients_tokens_is_ignored(client):
    issued = issue(client)
    other = register_client(name="Autre site")
    assert revoke(client, other, issued.access_token).status_code == 200
    assert revoke(client, other, issued.refresh_token).status_code == 200
    assert userinfo(client, issued.access_token).status_code == 200
    assert grant_of(issued.access_token).revoked_at is None
    assert refresh(client, issued.rp, issued.refresh_token).status_code == 200


@pytest.mark.parametrize("token", ["unknown", "a.b.c", "x" * 600, "é"])
def test_revocation_of_an_unknown_token_answers_200(client, token):
    rp = register_client()
    response = revoke(client, rp, token)
    assert response.status_code == 200 and response.get_json() == {}


def test_revocation_of_a_forged_token_records_nothing(client):
    from tests.idp.oidc.tokens_support import foreign_key

    issued = issue(client)
    foreign = forge(base=issued.access_token, key=foreign_key())
    assert revoke(client, issued.rp, foreign).status_code == 200
    assert db.session.scalars(select(RevokedAccessToken)).all() == []


def test_revocation_needs_the_token_parameter(client):
    rp = register_client()
    response = revoke(client, rp, None)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_revocation_needs_an_authenticated_client(client):
    issued = issue(client)
    anonymous = client.post("/revoke", data={"token": issued.refresh_token})
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"] == "invalid_client"
    assert refresh(client, issued.rp, issued.refresh_token).status_code == 200


def test_revocation_by_a_public_client_of_its_own_token(client):
    issued = issue(client, public=True)
    assert revoke(client, issued.rp, issued.refresh_token).status_code == 200
    assert refresh(client, issued.rp, issued.refresh_token).status_code == 400


def test_revocation_reads_the_post_body_only(client):
    issued = issue(client)
    from tests.idp.oidc.helpers import basic_authorization

    response = client.post(
        "/revoke?token=" + issued.refresh_token,
        headers={"Authorization": basic_authorization(issued.rp.client_id, issued.rp.secret)},
    )
    assert response.status_code == 400
    assert refresh(client, issued.rp, issued.refresh_token).status_code == 200
