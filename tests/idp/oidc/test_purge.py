"""`idp oidc purge`: the rows no token needs any more go; the ones that still protect
something (a code within its replay memory, a live refresh token, a revoked token not yet
expired) stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from idp.database import utcnow
from idp.extensions import db
from idp.oidc import tokens
from idp.oidc.models import AuthorizationCode, Grant, RefreshToken, RevokedAccessToken
from tests.idp.oidc.helpers import register_client
from tests.idp.oidc.tokens_support import (
    client_credentials,
    grant_of,
    issue,
    oauth_row_counts,
    refresh,
    revoke,
    userinfo,
)


def _age_everything(by: timedelta) -> None:
    """Move every stored time of the token tables `by` into the past."""
    for model, columns in (
        (AuthorizationCode, ("created_at", "expires_at", "used_at")),
        (Grant, ("created_at", "revoked_at")),
        (RefreshToken, ("created_at", "expires_at", "used_at", "revoked_at")),
        (RevokedAccessToken, ("expires_at", "revoked_at")),
    ):
        for row in db.session.scalars(select(model)):
            for name in columns:
                if getattr(row, name) is not None:
                    setattr(row, name, getattr(row, name) - by)
    db.session.commit()


def test_purge_keeps_everything_still_in_use(app, client):
    issued = issue(client)
    refresh(client, issued.rp, issued.refresh_token)  # a used refresh token, a live one
    other = issue(app.test_client(), rp=issued.rp, user=issued.user)  # a second browser
    revoke(client, other.rp, other.access_token)  # a revoked access token, not expired
    before = oauth_row_counts()
    report = tokens.purge_expired(db.session)
    db.session.commit()
    assert report.total == 0
    assert oauth_row_counts() == before


def test_purge_removes_expired_rows_and_spent_grants(client):
    issued = issue(client)
    fresh = refresh(client, issued.rp, issued.refresh_token).get_json()
    revoke(client, issued.rp, fresh["access_token"])
    _age_everything(timedelta(days=31))
    report = tokens.purge_expired(db.session)
    db.session.commit()
    assert (report.codes, report.revoked_access_tokens, report.refresh_tokens) == (1, 1, 2)
    assert report.grants == 1
    assert oauth_row_counts() == {
        "oauth_authorization_codes": 0,
        "oauth_grants": 0,
        "oauth_refresh_tokens": 0,
        "oauth_revoked_access_tokens": 0,
    }


def test_purge_keeps_a_used_code_for_a_day_to_recognise_its_replay(client):
    issue(client)
    _age_everything(timedelta(hours=23))
    tokens.purge_expired(db.session)
    db.session.commit()
    code = db.session.scalars(select(AuthorizationCode)).one()
    assert code.used_at is not None and code.grant_id is not None
    _age_everything(timedelta(hours=2))
    assert tokens.purge_expired(db.session).codes == 1


def test_purge_keeps_a_live_family_whose_refresh_token_is_recent(client):
    issued = issue(client)
    _age_everything(timedelta(days=2))  # an old login...
    fresh = refresh(client, issued.rp, issued.refresh_token).get_json()  # ...refreshed today
    report = tokens.purge_expired(db.session)
    db.session.commit()
    assert report.grants == 0 and report.refresh_tokens == 0
    assert userinfo(client, fresh["access_token"]).status_code == 200
    assert refresh(client, issued.rp, fresh["refresh_token"]).status_code == 200


def test_purge_removes_revoked_families_after_a_day(client):
    issued = issue(client)
    tokens.revoke_grant(db.session, grant_of(issued.access_token), "test")
    db.session.commit()
    assert tokens.purge_expired(db.session).grants == 0
    _age_everything(timedelta(days=1, minutes=1))
    report = tokens.purge_expired(db.session)
    db.session.commit()
    assert report.grants == 1
    assert db.session.scalars(select(RefreshToken)).all() == []  # with its refresh tokens
    assert refresh(client, issued.rp, issued.refresh_token).status_code == 400


def test_purge_command_reports_in_french(app, client):
    rp = register_client(grant_types=["client_credentials"], scopes=["api"])
    token = client_credentials(client, rp).get_json()["access_token"]
    revoke(client, rp, token)
    db.session.execute(
        update(RevokedAccessToken).values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["oidc", "purge"])
    assert result.exit_code == 0, result.output
    assert "1 jeton(s) d'accès révoqué(s)" in result.output
    assert db.session.scalars(select(RevokedAccessToken)).all() == []
