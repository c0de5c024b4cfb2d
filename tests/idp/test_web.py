"""idp/web.py: error pages and protocol blueprints.

SECURITY.md 57: every 500 is logged with a request id and shown as a French page with that
id; no stack trace nor exception text leaves the server. Protocol blueprints declare, once,
that they take no CSRF token and answer errors in JSON; pages keep both.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from idp.extensions import db
from idp.web import ProtocolBlueprint
from tests.factories import create_user
from tests.helpers import build_app, login

SECRET_DETAIL = "secret-detail-7f3a: password=hunter2"
FRENCH_500 = "Une erreur est survenue de notre côté"
REQUEST_ID_ON_PAGE = re.compile(r'<code class="request-id">([^<]+)</code>')
FALLBACK_ID = re.compile(r"support : ([^<]+)</p>")


def _boom() -> str:
    raise RuntimeError(SECRET_DETAIL)


def _boom_in_database() -> str:
    raise OperationalError("SELECT * FROM users", {}, Exception("could not connect to server"))


@pytest.fixture
def failing_app(tmp_path: Path) -> Iterator[Flask]:
    """An IdP with routes that fail, run as in production (TESTING off: nothing propagates)."""
    application = build_app(f"sqlite:///{tmp_path}/errors.sqlite", schema=True, TESTING=False)
    application.add_url_rule("/boom", view_func=_boom)
    application.add_url_rule("/boom-db", view_func=_boom_in_database)
    yield application
    with application.app_context():
        db.engine.dispose()


def assert_french_500(response: Any, caplog: pytest.LogCaptureFixture) -> str:
    """The page says what happened in French and carries the id of the logged traceback."""
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert FRENCH_500 in page
    assert "Traceback" not in page and 'File "' not in page
    assert SECRET_DETAIL not in page and "hunter2" not in page
    assert "RuntimeError" not in page and "OperationalError" not in page
    assert "SELECT" not in page
    match = REQUEST_ID_ON_PAGE.search(page) or FALLBACK_ID.search(page)
    assert match, page
    request_id = match.group(1)
    assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", request_id)
    assert response.headers["X-Request-ID"] == request_id
    records = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and request_id in r.getMessage() and r.exc_info
    ]
    assert records, "no error log carries the request id and the exception"
    assert "Traceback" in caplog.text
    return request_id


def test_errors_500_is_a_french_page_with_the_logged_request_id(failing_app, caplog):
    caplog.set_level(logging.ERROR, logger="idp.web")
    response = failing_app.test_client().get("/boom")
    assert_french_500(response, caplog)
    assert SECRET_DETAIL in caplog.text  # the server keeps what the user does not see
    assert "Retour à l'accueil" in response.get_data(as_text=True)
    assert "no-store" in response.headers["Cache-Control"]


def test_errors_500_ids_differ_between_requests(failing_app, caplog):
    caplog.set_level(logging.ERROR, logger="idp.web")
    client = failing_app.test_client()
    first = assert_french_500(client.get("/boom"), caplog)
    second = assert_french_500(client.get("/boom"), caplog)
    assert first != second


def test_errors_500_reuses_a_well_formed_incoming_request_id(failing_app, caplog):
    """A proxy's X-Request-ID is kept, so one id follows the request across the logs."""
    caplog.set_level(logging.ERROR, logger="idp.web")
    client = failing_app.test_client()
    response = client.get("/boom", headers={"X-Request-ID": "proxy-abc123.def"})
    assert assert_french_500(response, caplog) == "proxy-abc123.def"


@pytest.mark.parametrize(
    "incoming", ["<script>alert(1)</script>", "short", "x" * 65, "id with spaces", "é" * 10]
)
def test_errors_500_replaces_a_malformed_incoming_request_id(failing_app, caplog, incoming):
    caplog.set_level(logging.ERROR, logger="idp.web")
    response = failing_app.test_client().get("/boom", headers={"X-Request-ID": incoming})
    request_id = assert_french_500(response, caplog)
    assert request_id != incoming
    assert "<script>alert" not in response.get_data(as_text=True)


def test_errors_database_error_in_a_view_gives_the_french_500(failing_app, caplog):
    caplog.set_level(logging.ERROR, logger="idp.web")
    response = failing_app.test_client().get("/boom-db")
    assert_french_500(response, caplog)
    assert "could not connect" in caplog.text


def _raise_operational_error(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("SELECT * FROM audit_events", {}, Exception("server closed"))


def _run_a_broken_query(*args: Any, **kwargs: Any) -> Any:
    """A real failing statement: on PostgreSQL it also aborts the transaction."""
    return db.session.execute(text("SELECT no_such_column FROM audit_events")).all()


def _logged_in_with_error_log(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    """jean.dupont logged in on `client`; idp.web's error log captured."""
    caplog.set_level(logging.ERROR, logger="idp.web")
    create_user("jean.dupont")
    login(client, "jean.dupont")


@pytest.mark.parametrize("failure", [_raise_operational_error, _run_a_broken_query])
def test_errors_database_failure_in_a_page_gives_the_french_500(
    app, client, monkeypatch, caplog, failure
):
    """The database fails in the middle of rendering "Mon compte": French 500 with its id,
    and the next request works (the failed transaction was rolled back)."""
    _logged_in_with_error_log(client, caplog)

    monkeypatch.setattr("idp.accounts.views.recent_events", failure)
    assert_french_500(client.get("/account"), caplog)
    monkeypatch.undo()
    assert "jean.dupont" in client.get("/account").get_data(as_text=True)


def test_errors_database_down_for_every_query_still_gives_the_french_500(
    app, client, monkeypatch, caplog
):
    """Even the session lookup of the error page's own header fails: still a French 500."""
    _logged_in_with_error_log(client, caplog)

    def database_down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT * FROM user_sessions", {}, Exception("server closed"))

    monkeypatch.setattr("idp.accounts.sessions.find_session", database_down)
    response = client.get("/account")
    assert_french_500(response, caplog)
    assert "Se déconnecter" not in response.get_data(as_text=True)


def test_errors_error_page_that_fails_itself_falls_back_to_a_plain_page(
    app, client, monkeypatch, caplog
):
    _logged_in_with_error_log(client, caplog)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT 1", {}, Exception("server closed"))

    real_render = __import__("idp.web", fromlist=["render_template"]).render_template

    def render_but_not_the_500(name: str, **context: Any) -> str:
        if name == "errors/500.html":
            raise RuntimeError(SECRET_DETAIL)
        return str(real_render(name, **context))

    monkeypatch.setattr("idp.accounts.views.recent_events", broken)
    monkeypatch.setattr("idp.web.render_template", render_but_not_the_500)
    response = client.get("/account")
    assert FALLBACK_ID.search(response.get_data(as_text=True))
    assert_french_500(response, caplog)


def test_errors_csrf_refusal_carries_a_request_id(client):
    """Errors raised before the view (CSRF checks run first) still get a request id."""
    response = client.post("/signup/autre", data={})
    assert response.status_code == 400
    assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", response.headers.get("X-Request-ID", ""))


# --- protocol blueprints ----------------------------------------------------------------------


@pytest.fixture
def app_with_protocol(tmp_path) -> Flask:
    app = build_app(f"sqlite:///{tmp_path}/web.sqlite")
    api = ProtocolBlueprint("api_test", __name__, url_prefix="/api-test")

    @api.post("/echo")
    def echo() -> dict[str, str]:
        return {"ok": "yes"}

    @api.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    app.register_blueprint(api)
    return app


def test_web_protocol_blueprint_needs_no_csrf_token_and_answers_json(app_with_protocol):
    client = app_with_protocol.test_client()
    assert client.post("/api-test/echo").get_json() == {"ok": "yes"}
    missing = client.get("/api-test/nowhere")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    wrong_method = client.get("/api-test/echo")
    assert wrong_method.status_code == 405 and wrong_method.is_json


def test_web_protocol_blueprint_500_is_json_with_a_request_id(app_with_protocol):
    app_with_protocol.testing = False
    response = app_with_protocol.test_client().get("/api-test/boom")
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"] == "server_error" and body["request_id"]


def test_web_pages_still_need_the_csrf_token(app_with_protocol):
    client = app_with_protocol.test_client()
    response = client.post("/login", data={"username": "x", "password": "y"})
    assert response.status_code == 400 and "text/html" in response.content_type
