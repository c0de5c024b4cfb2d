"""« Mon compte »: which sites each session was used for, the connected applications and the
withdrawal of a consent (docs/security.md 35, ADR 0021)."""

from __future__ import annotations

import threading
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from idp.database import utcnow
from idp.extensions import db
from idp.oidc.account import record_session_client
from idp.oidc.models import SessionClient
from tests.factories import create_session, create_user
from tests.idp.oidc.logout_rows import create_oauth_client


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
