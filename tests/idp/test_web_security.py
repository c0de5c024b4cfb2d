"""SECURITY.md 13, 16, 17 and 18: CSRF, security headers, `next=` targets, escaping."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from idp.accounts import services
from idp.accounts.models import User, UserSession, UserStatus
from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.mail.delivery import deliver_pending
from idp.mail.models import OutboxMessage
from tests.factories import create_user
from tests.helpers import (
    HOSTILE_NEXT_TARGETS,
    TEST_PASSWORD,
    activate,
    csrf_in,
    csrf_token,
    login,
)

NEW_PASSWORD = "radium polonium nobel 1903"
EXPIRED_FORM = "Formulaire expiré"

# --- 13. CSRF --------------------------------------------------------------------------------


@dataclass
class CsrfCase:
    """One state-changing form: where to post, what to post, how to see whether it acted."""

    url: str
    data: dict[str, str]
    acted: Callable[[], bool]
    extra: dict[str, Any] = field(default_factory=dict)


def _sessions_of(user: User) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.query(UserSession).filter_by(user_id=user.id).order_by(UserSession.id))


def _password_hash(user: User) -> str | None:
    db.session.expire_all()
    return db.session.get(User, user.id).password_hash  # type: ignore[union-attr]


def _outbox_count() -> int:
    db.session.expire_all()
    return db.session.query(OutboxMessage).count()


def _logged_in(client: FlaskClient, username: str = "jean.dupont") -> None:
    assert login(client, username).status_code == 302
    client.get("/account")  # the session now holds its (new) CSRF token


def _case_login(app: Flask, client: FlaskClient) -> CsrfCase:
    user = create_user("jean.dupont")
    client.get("/login")
    return CsrfCase(
        "/login",
        {"username": "jean.dupont", "password": TEST_PASSWORD},
        lambda: bool(_sessions_of(user)),
    )


def _case_signup(app: Flask, client: FlaskClient) -> CsrfCase:
    client.get("/signup/autre")
    data = {
        "username": "marie.curie",
        "given_name": "Marie",
        "family_name": "Curie",
        "email": "marie@cabinet.example",
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }

    def acted() -> bool:
        db.session.expire_all()
        return db.session.query(User).filter_by(username="marie.curie").count() == 1

    return CsrfCase("/signup/autre", data, acted)


def _case_logout(app: Flask, client: FlaskClient) -> CsrfCase:
    user = create_user("jean.dupont")
    _logged_in(client)
    return CsrfCase(
        "/logout",
        {},
        lambda: (
            _sessions_of(user)[0].revoked_at is not None
            and client.get("/account").status_code == 302
        ),
    )


def _case_forgot_password(app: Flask, client: FlaskClient) -> CsrfCase:
    create_user("jean.dupont")
    client.get("/password/forgot")
    return CsrfCase("/password/forgot", {"identifier": "jean.dupont"}, lambda: _outbox_count() > 0)


def _case_resend_activation(app: Flask, client: FlaskClient) -> CsrfCase:
    create_user("jean.dupont", status=UserStatus.PENDING)
    before = _outbox_count()  # the signup's activation email
    client.get("/activate/resend")
    return CsrfCase(
        "/activate/resend", {"identifier": "jean.dupont"}, lambda: _outbox_count() > before
    )


def _case_reset_password(app: Flask, client: FlaskClient) -> CsrfCase:
    user = create_user("jean.dupont")
    services.queue_password_reset_email(db.session, user)
    db.session.commit()
    message = db.session.query(OutboxMessage).filter_by(template="password_reset").one()
    link = next(w for w in message.body_text.split() if "/password/reset/" in w)
    path = link.removeprefix("http://idp.test")
    before = _password_hash(user)
    client.get(path)
    return CsrfCase(
        path,
        {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        lambda: _password_hash(user) != before,
    )


def _case_change_password(app: Flask, client: FlaskClient) -> CsrfCase:
    user = create_user("jean.dupont")
    _logged_in(client)
    before = _password_hash(user)
    return CsrfCase(
        "/account/password",
        {
            "current_password": TEST_PASSWORD,
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
        lambda: _password_hash(user) != before,
    )


def _case_revoke_session(app: Flask, client: FlaskClient) -> CsrfCase:
    user = create_user("jean.dupont")
    _logged_in(app.test_client())  # the "other browser", opened first
    _logged_in(client)
    other = _sessions_of(user)[0]
    return CsrfCase(
        f"/account/sessions/{other.public_id}/revoke",
        {},
        lambda: _sessions_of(user)[0].revoked_at is not None,
    )


def _case_revoke_other_sessions(app: Flask, client: FlaskClient) -> CsrfCase:
    user = create_user("jean.dupont")
    _logged_in(app.test_client())
    _logged_in(client)
    return CsrfCase(
        "/account/sessions/revoke-others",
        {},
        lambda: _sessions_of(user)[0].revoked_at is not None,
    )


def _case_language(app: Flask, client: FlaskClient) -> CsrfCase:
    client.get("/login")
    return CsrfCase(
        "/language/en",
        {"next": "/login"},
        lambda: '<html lang="en">' in client.get("/login").get_data(as_text=True),
    )


CSRF_CASES = {
    "login": _case_login,
    "signup": _case_signup,
    "logout": _case_logout,
    "forgot_password": _case_forgot_password,
    "resend_activation": _case_resend_activation,
    "reset_password": _case_reset_password,
    "change_password": _case_change_password,
    "revoke_session": _case_revoke_session,
    "revoke_other_sessions": _case_revoke_other_sessions,
    "language": _case_language,
}


@pytest.mark.parametrize("form", CSRF_CASES)
@pytest.mark.parametrize("token", ["missing", "foreign"])
def test_csrf_post_without_own_token_is_refused(app, client, form, token):
    case = CSRF_CASES[form](app, client)
    data = dict(case.data)
    if token == "foreign":  # a valid token, but of the attacker's own session
        data["csrf_token"] = csrf_token(app.test_client(), "/login")
    audit_before = db.session.query(AuditEvent).count()

    response = client.post(case.url, data=data)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert EXPIRED_FORM in page and "Rechargez la page" in page
    assert not case.acted()
    db.session.expire_all()
    assert db.session.query(AuditEvent).count() == audit_before


@pytest.mark.parametrize("form", CSRF_CASES)
def test_csrf_post_with_own_token_acts(app, client, form):
    """The control: the same request with the session's own token does change the state, so
    the refusal above is the token's doing."""
    case = CSRF_CASES[form](app, client)
    assert not case.acted()
    token = csrf_token(client, "/login")  # any page of this session carries its token
    response = client.post(case.url, data={**case.data, "csrf_token": token})
    assert response.status_code in (200, 302), response.get_data(as_text=True)
    assert case.acted()


# --- 16. Headers -----------------------------------------------------------------------------

ANONYMOUS_PAGES = [
    "/login",
    "/login?next=/account",
    "/signup",
    "/signup/autre",
    "/signup/done?email=marie@cabinet.example",
    "/password/forgot",
    "/activate/resend",
    "/activate/not-a-token",  # 400 page
    "/password/reset/not-a-token",  # 400 page
    "/account",  # redirect to login
    "/page-that-does-not-exist",  # 404
    "/logout",  # GET: 405
    "/static/css/app.css",
    "/static/js/app.js",
    "/health",
]
LOGGED_IN_PAGES = ["/account", "/account/password", "/login", "/"]


def _csp(response: Any) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = [w.lower() for w in words[1:]]
    return directives


def assert_security_headers(response: Any, *, https: bool = False) -> None:
    csp = _csp(response)
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts, "no script-src nor default-src"
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert "*" not in scripts and "data:" not in scripts
    assert csp.get("frame-ancestors") == ["'none'"]
    assert csp.get("object-src") == ["'none'"]
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") in {
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    }
    hsts = response.headers.get("Strict-Transport-Security")
    if https:
        assert hsts is not None
        max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))  # type: ignore[union-attr]
        assert max_age >= 31536000
    else:
        assert hsts is None  # HSTS over http would be ignored at best, sticky at worst
    if response.mimetype == "text/html":
        assert "no-store" in response.headers.get("Cache-Control", "")
        body = response.get_data(as_text=True)
        # The CSP forbids inline code: a page relying on it would be broken, so none may exist.
        assert not re.search(r"<script(?![^>]*\bsrc=)", body)
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", body)


@pytest.mark.parametrize("url", ANONYMOUS_PAGES)
def test_headers_on_every_anonymous_page(client, url):
    response = client.get(url)
    assert response.status_code in (200, 302, 400, 404, 405), response.status_code
    assert_security_headers(response)


@pytest.mark.parametrize("url", LOGGED_IN_PAGES)
def test_headers_on_every_logged_in_page(client, url):
    create_user("jean.dupont")
    login(client, "jean.dupont")
    response = client.get(url)
    assert response.status_code in (200, 302)
    assert_security_headers(response)
    if url == "/account":
        assert "jean.dupont" in response.get_data(as_text=True)


def test_headers_on_csrf_refusal_page(client):
    refused = client.post("/signup/autre", data={})
    assert refused.status_code == 400
    assert_security_headers(refused)


def test_headers_on_too_large_post_page(client):
    too_big = client.post("/login", data={"x": "a" * (2 * 1024 * 1024)})
    assert too_big.status_code == 413 and "trop volumineu" in too_big.get_data(as_text=True)
    assert_security_headers(too_big)


@pytest.mark.parametrize("url", ["/login", "/signup", "/nowhere", "/account", "/static/js/app.js"])
def test_headers_hsts_under_https(https_app, url):
    response = https_app.test_client().get(url, base_url="https://idp.test")
    assert_security_headers(response, https=True)


# --- 17. next= -------------------------------------------------------------------------------


@pytest.mark.parametrize("target", HOSTILE_NEXT_TARGETS)
def test_next_after_login_refuses_foreign_targets(client, target):
    user = create_user("jean.dupont")
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"csrf_token": token, "username": "jean.dupont", "password": TEST_PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    assert "pwned" not in str(response.headers)
    assert _sessions_of(user), "the login itself succeeded"


@pytest.mark.parametrize("target", ["/account/password", "/account?tab=sessions", "/signup/done"])
def test_next_after_login_follows_local_paths(client, target):
    create_user("jean.dupont")
    token = csrf_token(client, f"/login?next={target}")
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"csrf_token": token, "username": "jean.dupont", "password": TEST_PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == target


def test_next_login_required_round_trip_keeps_the_local_target(client):
    create_user("jean.dupont")
    first = client.get("/account/password")
    assert first.status_code == 302
    assert first.headers["Location"] == "/login?next=/account/password"
    form_page = client.get(first.headers["Location"]).get_data(as_text=True)
    assert 'action="/login?next=/account/password"' in form_page
    token = csrf_token(client, "/login")
    response = client.post(
        "/login?next=/account/password",
        data={"csrf_token": token, "username": "jean.dupont", "password": TEST_PASSWORD},
    )
    assert response.headers["Location"] == "/account/password"


@pytest.mark.parametrize("target", HOSTILE_NEXT_TARGETS)
def test_next_of_language_switch_refuses_foreign_targets(client, target):
    token = csrf_token(client, "/login")
    response = client.post("/language/en", data={"csrf_token": token, "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    # The switch itself was done: only the target was refused.
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)


def test_next_of_language_switch_follows_local_paths(client):
    token = csrf_token(client, "/login")
    response = client.post("/language/en", data={"csrf_token": token, "next": "/signup"})
    assert response.headers["Location"] == "/signup"


# --- 18. Escaping ----------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
RAW_MARKERS = ("<script>alert", "<img src=x", "onerror=alert(1)>")


def assert_escaped(html: str, *payloads: str) -> None:
    for payload in payloads:
        assert str(escape(payload)) in html, f"{payload!r} not shown as text"
        assert payload not in html
    for marker in RAW_MARKERS:
        assert marker not in html


def _signup_with_hostile_names(client: FlaskClient, password: str = NEW_PASSWORD) -> Any:
    token = csrf_token(client, "/signup/autre")
    return client.post(
        "/signup/autre",
        data={
            "csrf_token": token,
            "username": "marie.curie",
            "given_name": SCRIPT,
            "family_name": IMG,
            "email": "marie@cabinet.example",
            "password": password,
            "password_confirm": password,
        },
    )


def test_escaping_signup_form_redisplays_hostile_names_as_text(client):
    response = _signup_with_hostile_names(client, password="court")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Au moins 12 caractères" in page or "12 caractères" in page
    assert_escaped(page, SCRIPT, IMG)
    assert db.session.query(User).count() == 0


def _activate_from_email(client: FlaskClient, smtp: Any) -> None:
    link = smtp.links("marie@cabinet.example")[0]
    assert activate(client, link.removeprefix("http://idp.test"), NEW_PASSWORD).status_code == 302


def test_escaping_hostile_names_in_emails(client, smtp):
    assert _signup_with_hostile_names(client).status_code == 302
    user = db.session.query(User).filter_by(username="marie.curie").one()
    assert (user.given_name, user.family_name) == (SCRIPT, IMG)  # stored as typed

    # The activation email: the HTML part escapes, the text part is plain text.
    assert deliver_pending(db.session).sent == 1
    (message,) = smtp.messages
    html_part = message.get_body(("html",))
    assert html_part is not None
    assert_escaped(str(html_part.get_content()), SCRIPT)
    assert SCRIPT in smtp.text_of(message)

    # The password reset email names the user too.
    _activate_from_email(client, smtp)
    smtp.clear()
    services.queue_password_reset_email(db.session, user)
    db.session.commit()
    assert deliver_pending(db.session).sent == 1
    html_part = smtp.messages[0].get_body(("html",))
    assert html_part is not None
    assert_escaped(str(html_part.get_content()), SCRIPT)


def test_escaping_hostile_names_on_the_account_page(client, smtp):
    assert _signup_with_hostile_names(client).status_code == 302
    deliver_pending(db.session)
    _activate_from_email(client, smtp)
    assert login(client, "marie.curie", NEW_PASSWORD).status_code == 302
    page = client.get("/account").get_data(as_text=True)
    assert "Mon identité" in page
    assert str(escape(f"{SCRIPT} {IMG}")) in page
    assert_escaped(page, SCRIPT, IMG)


def test_escaping_hostile_user_agents_in_sessions_and_audit_list(app, client):
    """The User-Agent is attacker-chosen text shown on "Mon compte" (sessions, last logins)."""
    user = create_user("jean.dupont")
    attacker = app.test_client()
    attacker.environ_base["HTTP_USER_AGENT"] = IMG
    login(attacker, "jean.dupont", "mauvais mot de passe")  # a failed login, in the audit list
    client.environ_base["HTTP_USER_AGENT"] = SCRIPT
    assert login(client, "jean.dupont").status_code == 302

    page = client.get("/account").get_data(as_text=True)

    assert "Activité du compte" in page
    assert "Connexion échouée" in page and "Connexion réussie" in page
    assert_escaped(page, SCRIPT, IMG)
    assert page.count(str(escape(SCRIPT))) == 2  # this session, and its login line
    assert page.count(str(escape(IMG)[:40])) == 1  # the failed login line (label cut at 40)
    failed = db.session.query(AuditEvent).filter_by(subject_id=user.id, event_type="login_failed")
    assert failed.one().user_agent == IMG


def test_headers_referrer_policy_lets_https_forms_through(https_app):
    """Under https, Flask-WTF refuses a POST without a same-origin Referer: the policy must
    let browsers send one to the IdP itself (never to other sites). A browser honouring
    `no-referrer` sent none, and every form of an https deployment answered 400."""
    client = https_app.test_client()
    page = client.get("/login", base_url="https://idp.test")
    assert page.headers["Referrer-Policy"] == "same-origin"
    token = csrf_in(page.get_data(as_text=True))
    form = {"csrf_token": token, "username": "jean.dupont", "password": TEST_PASSWORD}
    without = client.post("/login", data=form, base_url="https://idp.test")
    assert without.status_code == 400  # what a browser obeying no-referrer would get
    with_referer = client.post(
        "/login",
        data=form,
        base_url="https://idp.test",
        headers={"Referer": "https://idp.test/login"},
    )
    assert with_referer.status_code == 302
