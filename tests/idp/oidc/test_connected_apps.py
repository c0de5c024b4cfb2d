"""« Mon compte »: which sites each session was used for, the connected applications and the
withdrawal of a consent (docs/security.md 35, ADR 0021)."""

from __future__ import annotations

import html
import threading
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.accounts.models import User, UserSession
from idp.audit.models import AuditEvent, AuditEventType
from idp.database import utcnow
from idp.extensions import db
from idp.oidc.account import SCOPE_LABELS, connected_applications, record_session_client
from idp.oidc.models import Consent, Grant, RefreshToken, SessionClient
from tests.factories import create_session, create_user
from tests.helpers import csrf_in, csrf_token, login
from tests.idp.oidc.logout_rows import (
    create_consent,
    create_grant,
    create_oauth_client,
    use_session_for,
)


def _session_clients() -> list[SessionClient]:
    return list(db.session.scalars(select(SessionClient).order_by(SessionClient.id)))


def test_connected_apps_record_session_client_inserts_then_refreshes(app: Flask) -> None:
    user = create_user("camille.martin")
    user_session, _ = create_session(user)
    client = create_oauth_client()

    record_session_client(db.session, user_session.public_id, client)
    db.session.commit()
    (row,) = _session_clients()
    first_used = row.first_used_at
    row.last_used_at = first_used - timedelta(hours=1)
    db.session.commit()

    record_session_client(db.session, user_session.public_id, client)
    db.session.commit()
    db.session.expire_all()
    (row,) = _session_clients()
    assert row.first_used_at == first_used
    assert row.last_used_at >= first_used
    assert row.last_used_at <= utcnow()


def test_connected_apps_record_session_client_one_row_per_session_and_client(app: Flask) -> None:
    user = create_user("camille.martin")
    first, _ = create_session(user)
    second, _ = create_session(user)
    site_a, site_b = create_oauth_client(), create_oauth_client()
    for user_session, client in [(first, site_a), (first, site_b), (second, site_a)] * 2:
        record_session_client(db.session, user_session.public_id, client)
    db.session.commit()
    pairs = {(r.session_public_id, r.client_id) for r in _session_clients()}
    assert len(_session_clients()) == 3
    assert pairs == {
        (first.public_id, site_a.id),
        (first.public_id, site_b.id),
        (second.public_id, site_a.id),
    }


def test_connected_apps_record_session_client_concurrent_calls_never_fail(
    committed_app: Flask,
) -> None:
    """Two tabs authorizing the same site at the same moment: no unique violation, one row."""
    with committed_app.app_context():
        user = create_user("camille.martin")
        user_session, _ = create_session(user)
        client_id = create_oauth_client().id
        sid = user_session.public_id
        db.session.remove()
    workers = 8
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def authorize() -> None:
        try:
            with committed_app.app_context():
                from idp.oidc.models import OAuthClient

                client = db.session.get(OAuthClient, client_id)
                assert client is not None
                barrier.wait()
                record_session_client(db.session, sid, client)
                db.session.commit()
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=authorize) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with committed_app.app_context():
        rows = _session_clients()
        assert [(r.session_public_id, r.client_id) for r in rows] == [(sid, client_id)]
        db.session.remove()


# --- « Applications connectées » ----------------------------------------------------------------


def _signed_in(client: FlaskClient, username: str = "camille.martin") -> User:
    user = create_user(username)
    assert login(client, username).status_code == 302
    return user


def _this_session(user: User) -> UserSession:
    found = db.session.scalar(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    )
    assert found is not None
    return found


def _grant_row(grant: Grant) -> Grant:
    db.session.expire_all()
    row = db.session.get(Grant, grant.id)
    assert row is not None
    return row


def test_connected_apps_lists_consents_and_live_first_party_grants(app: Flask) -> None:
    user = create_user("camille.martin")
    other = create_user("marie.curie")
    user_session, _ = create_session(user)
    journal = create_oauth_client("Le journal de la profession")
    create_consent(user, journal, ["openid", "email", "ordre"])
    portal = create_oauth_client("Portail client", first_party=True)
    create_grant(user, portal, user_session, scope="openid profile")
    revoked_site = create_oauth_client("Site dont l'accès est révoqué", first_party=True)
    revoked = create_grant(user, revoked_site, user_session)
    revoked.revoked_at = utcnow()
    old_site = create_oauth_client("Site sans jeton vivant", first_party=True)
    old = create_grant(user, old_site, user_session)
    old.created_at = utcnow() - timedelta(hours=1)  # access tokens dead, no refresh token
    kept_site = create_oauth_client("Site hors ligne", first_party=True)
    kept = create_grant(user, kept_site, None, scope="openid offline_access")
    kept.created_at = utcnow() - timedelta(days=3)
    db.session.add(
        RefreshToken(
            token_digest="0" * 64,
            grant_id=kept.id,
            scope=kept.scope,
            expires_at=utcnow() + timedelta(days=20),
        )
    )
    create_consent(other, create_oauth_client("Site d'un autre"), ["openid"])
    db.session.commit()

    apps = {a.name: a for a in connected_applications(db.session, user)}

    assert set(apps) == {"Le journal de la profession", "Portail client", "Site hors ligne"}
    journal_app = apps["Le journal de la profession"]
    assert journal_app.has_consent and not journal_app.first_party
    assert journal_app.client_id == journal.client_id
    assert journal_app.scope_labels == [
        str(SCOPE_LABELS["openid"]),
        str(SCOPE_LABELS["email"]),
        str(SCOPE_LABELS["ordre"]),
    ]
    assert apps["Portail client"].first_party and not apps["Portail client"].has_consent
    assert apps["Portail client"].scopes == ["openid", "profile"]
    assert apps["Site hors ligne"].scopes == ["openid", "offline_access"]


def test_connected_apps_account_page_lists_apps_and_sites_of_sessions(client: FlaskClient) -> None:
    user = _signed_in(client)
    journal = create_oauth_client("Le journal de la profession")
    create_consent(user, journal, ["openid", "email"])
    library = create_oauth_client("Bibliothèque de l'Ordre")
    use_session_for(_this_session(user), library, journal)

    page = html.unescape(client.get("/account").get_data(as_text=True))

    assert "Applications connectées" in page
    assert "Le journal de la profession" in page and str(SCOPE_LABELS["email"]) in page
    assert f"/account/applications/{journal.client_id}/withdraw" in page
    assert "Utilisée pour\u00a0: Le journal de la profession, Bibliothèque de l'Ordre" in page


def test_connected_apps_account_page_without_apps(client: FlaskClient) -> None:
    _signed_in(client)
    page = html.unescape(client.get("/account").get_data(as_text=True))
    assert "Aucun site partenaire n'a accès à votre compte." in page
    assert "Utilisée pour" not in page


def test_connected_apps_hostile_client_name_is_escaped(client: FlaskClient) -> None:
    user = _signed_in(client)
    hostile = create_oauth_client('<script>alert(1)</script>"><img src=x onerror=alert(2)>')
    create_consent(user, hostile, ["openid"])
    use_session_for(_this_session(user), hostile)
    for path in ("/account", f"/account/applications/{hostile.client_id}/withdraw"):
        page = client.get(path).get_data(as_text=True)
        assert "<script>alert(1)" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


# --- « Retirer l'accès » (docs/security.md 35) --------------------------------------------------


def test_connected_apps_withdraw_deletes_consent_and_revokes_the_clients_grants(
    client: FlaskClient,
) -> None:
    user = _signed_in(client)
    user_session = _this_session(user)
    journal = create_oauth_client("Le journal de la profession")
    create_consent(user, journal, ["openid", "email"])
    grants = [create_grant(user, journal, user_session), create_grant(user, journal, None)]
    other_site = create_oauth_client("Bibliothèque de l'Ordre")
    create_consent(user, other_site, ["openid"])
    other_sites_grant = create_grant(user, other_site, user_session)
    other_user = create_user("marie.curie")
    create_consent(other_user, journal, ["openid"])
    other_users_grant = create_grant(other_user, journal, None)
    path = f"/account/applications/{journal.client_id}/withdraw"

    confirm = client.get(path)
    confirm_html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert str(SCOPE_LABELS["email"]) in html.unescape(confirm_html)
    response = client.post(path, data={"csrf_token": csrf_in(confirm_html)})

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account#applications-title")
    assert [_grant_row(g).revoke_reason for g in grants] == ["consent_withdrawn"] * 2
    assert _grant_row(other_sites_grant).revoked_at is None
    assert _grant_row(other_users_grant).revoked_at is None
    consents = {(c.user_id, c.client_id) for c in db.session.scalars(select(Consent))}
    assert consents == {(user.id, other_site.id), (other_user.id, journal.id)}
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.event_type == AuditEventType.OIDC_ACCESS_WITHDRAWN)
    )
    assert event is not None and event.subject_id == user.id and event.actor_id == user.id
    assert event.details == {
        "client_id": journal.client_id,
        "client_name": "Le journal de la profession",
        "grants_revoked": 2,
    }
    page = html.unescape(client.get("/account").get_data(as_text=True))
    assert "Vous avez retiré l'accès de «\u00a0Le journal de la profession\u00a0»" in page
    assert f"/account/applications/{journal.client_id}/withdraw" not in page
    assert "Accès d'un site partenaire retiré" in page  # in « Activité du compte »
    assert client.post(path, data={"csrf_token": csrf_in(confirm_html)}).status_code == 404


def test_connected_apps_withdraw_first_party_revokes_live_grants(client: FlaskClient) -> None:
    user = _signed_in(client)
    portal = create_oauth_client("Portail client", first_party=True)
    grant = create_grant(user, portal, _this_session(user))
    path = f"/account/applications/{portal.client_id}/withdraw"
    token = csrf_in(client.get(path).get_data(as_text=True))
    assert client.post(path, data={"csrf_token": token}).status_code == 302
    assert _grant_row(grant).revoke_reason == "consent_withdrawn"


def test_connected_apps_withdraw_needs_the_form_token(client: FlaskClient) -> None:
    user = _signed_in(client)
    journal = create_oauth_client("Le journal de la profession")
    create_consent(user, journal, ["openid"])
    grant = create_grant(user, journal, None)
    path = f"/account/applications/{journal.client_id}/withdraw"
    for data in ({}, {"csrf_token": "forged"}):
        assert client.post(path, data=data).status_code == 400
    assert _grant_row(grant).revoked_at is None
    assert db.session.scalar(select(Consent.id)) is not None


def test_connected_apps_withdraw_unknown_or_unrelated_client_is_404(client: FlaskClient) -> None:
    user = _signed_in(client)
    token = csrf_token(client, "/account")
    unrelated = create_oauth_client("Site jamais utilisé")
    other_user = create_user("marie.curie")
    create_consent(other_user, unrelated, ["openid"])
    for client_id in ("nobody", unrelated.client_id):
        path = f"/account/applications/{client_id}/withdraw"
        assert client.get(path).status_code == 404
        assert client.post(path, data={"csrf_token": token}).status_code == 404
    assert db.session.scalar(select(Consent.user_id)) == other_user.id
    assert user.id != other_user.id


def test_connected_apps_withdraw_requires_login(client: FlaskClient) -> None:
    journal = create_oauth_client("Le journal de la profession")
    response = client.get(f"/account/applications/{journal.client_id}/withdraw")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- with the real code flow (security 35) ------------------------------------------------------


def _refresh(client: FlaskClient, rp: Any, refresh_token: str | None) -> Any:
    from tests.idp.oidc.helpers import token_request

    assert refresh_token
    return token_request(client, rp, grant_type="refresh_token", refresh_token=refresh_token)


def _userinfo(client: FlaskClient, access_token: str) -> Any:
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def test_connected_apps_withdrawn_consent_stops_tokens_and_asks_again(client: FlaskClient) -> None:
    """A third-party site the user consented to, with live tokens: « Retirer l'accès » makes
    its refresh token fail and userinfo refuse its access token at once, and its next
    authorization shows the consent page again."""
    from tests.idp.oidc.helpers import authorize, code_flow, register_client, sign_in

    rp = register_client(name="Le journal de la profession", first_party=False)
    sign_in(client)
    flow = code_flow(client, rp, scope="openid profile email offline_access")
    assert _userinfo(client, flow.access_token).status_code == 200
    page = html.unescape(client.get("/account").get_data(as_text=True))
    assert "Le journal de la profession" in page and str(SCOPE_LABELS["email"]) in page
    # A first refresh works (and rotates): the family is alive before the withdrawal.
    refreshed = _refresh(client, rp, flow.refresh_token)
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    tokens = refreshed.get_json()

    path = f"/account/applications/{rp.client_id}/withdraw"
    token = csrf_in(client.get(path).get_data(as_text=True))
    assert client.post(path, data={"csrf_token": token}).status_code == 302

    assert _refresh(client, rp, tokens["refresh_token"]).status_code == 400
    for access_token in (flow.access_token, tokens["access_token"]):
        refused = _userinfo(client, access_token)
        assert refused.status_code == 401
        assert "invalid_token" in refused.headers.get("WWW-Authenticate", "")
    again = authorize(client, rp)
    assert again.status_code == 200 and b'name="consent_request"' in again.data
