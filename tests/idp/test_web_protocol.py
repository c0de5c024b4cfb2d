"""idp/web.py: protocol blueprints declare, once, that they take no CSRF token and answer
errors in JSON; pages keep both."""

from __future__ import annotations

import pytest
from flask import Flask

from idp.web import ProtocolBlueprint
from tests.helpers import build_app


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
