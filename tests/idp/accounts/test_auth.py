"""idp/accounts/auth.py: the request's session and where a login may send the browser next
(docs/security.md 17; the same targets over HTTP: tests/idp/test_web_security.py)."""

from __future__ import annotations

import pytest
from flask import request

from idp.accounts.auth import current_session, safe_next_url
from idp.extensions import db
from tests.factories import create_user
from tests.helpers import HOSTILE_NEXT_TARGETS, empty_g, login

COOKIE = "sesame_session"


@pytest.mark.parametrize("target", [*HOSTILE_NEXT_TARGETS, "", None, "/" + "a" * 2000])
def test_auth_safe_next_url_refuses_foreign_or_odd_targets(target):
    assert safe_next_url(target, "/account") == "/account"


@pytest.mark.parametrize(
    "target", ["/account/password", "/account?tab=sessions", "/signup/done", "/", "/a%20b"]
)
def test_auth_safe_next_url_follows_local_paths(target):
    assert safe_next_url(target, "/account") == target


def test_auth_current_session_getter_never_commits(app, client):
    """The getter only reads: a view's pending, uncommitted change is not committed by it."""
    user = create_user("jean.dupont")
    login(client, "jean.dupont")
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    with app.test_request_context(headers={"Cookie": f"{COOKIE}={cookie.value}"}):
        app.session_interface.open_session(app, request)
        empty_g()  # this request's own lookup, not the one cached by the login's request
        user.given_name = "Pas enregistré"
        assert current_session() is not None
        db.session.rollback()
    db.session.expire_all()
    assert user.given_name == "Camille"
