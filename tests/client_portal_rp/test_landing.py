"""The portal's landing page, its security headers and its configuration from the environment."""

from __future__ import annotations

import pytest
from flask import Flask

from client_portal_rp import (
    DEV_SECRET_KEY,
    ConfigurationError,
    build_config,
    create_app,
)


@pytest.fixture
def portal_app() -> Flask:  # not named `app`: that name is the IdP's (tests/conftest.py)
    return create_app({"TESTING": True, "PORTAL_IDP_ISSUER": "https://sesame.example"})


def test_landing_page_is_french_and_points_to_sesame(portal_app: Flask) -> None:
    response = portal_app.test_client().get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="fr">' in page
    assert "<h1>Portail client</h1>" in page
    assert "Connexion avec Sésame" in page
    assert 'href="https://sesame.example/signup"' in page
    assert 'name="viewport"' in page


def test_landing_security_headers_forbid_inline_code_and_framing(portal_app: Flask) -> None:
    response = portal_app.test_client().get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # plain http in development
    assert " style=" not in response.get_data(as_text=True)  # the CSP would block it


def test_landing_stylesheet_is_served(portal_app: Flask) -> None:
    response = portal_app.test_client().get("/static/css/portal.css")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "@media" in response.get_data(as_text=True)


def test_landing_unknown_page_is_a_french_404(portal_app: Flask) -> None:
    response = portal_app.test_client().get("/nope")
    assert response.status_code == 404
    assert "Page introuvable" in response.get_data(as_text=True)


def test_landing_config_reads_portal_variables() -> None:
    cfg = build_config(
        {
            "PORTAL_SECRET_KEY": "portal-secret",
            "SECRET_KEY": "idp-secret",
            "PORTAL_IDP_ISSUER": "https://sesame.example/",
            "PORTAL_BASE_URL": "https://portail.example",
        }
    )
    assert cfg["SECRET_KEY"] == "portal-secret"
    assert cfg["PORTAL_IDP_ISSUER"] == "https://sesame.example"
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["SESSION_COOKIE_NAME"] == "portal_session"
    assert build_config({})["SECRET_KEY"] == DEV_SECRET_KEY
    assert build_config({"SECRET_KEY": "shared"})["SECRET_KEY"] == "shared"


def test_landing_production_refuses_development_secret_and_http() -> None:
    with pytest.raises(ConfigurationError, match="PORTAL_SECRET_KEY"):
        build_config({"PORTAL_ENV": "production"})
    with pytest.raises(ConfigurationError, match="https"):
        build_config({"PORTAL_ENV": "production", "PORTAL_SECRET_KEY": "x" * 40})
    cfg = build_config(
        {
            "PORTAL_ENV": "production",
            "PORTAL_SECRET_KEY": "x" * 40,
            "PORTAL_BASE_URL": "https://portail.example",
            "PORTAL_IDP_ISSUER": "https://sesame.example",
        }
    )
    assert cfg["PORTAL_ENV"] == "production"


def test_landing_health_answers_ok(portal_app: Flask) -> None:
    response = portal_app.test_client().get("/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
