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
def landing_app() -> Flask:  # not named `app`: that name is the IdP's (tests/conftest.py)
    return create_app({"TESTING": True, "PORTAL_IDP_ISSUER": "https://sesame.example"})


def test_landing_page_is_french_and_points_to_sesame(landing_app: Flask) -> None:
    response = landing_app.test_client().get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="fr">' in page
    assert "<h1>Portail client</h1>" in page
    assert "Connexion avec Sésame" in page
    assert 'href="https://sesame.example/signup"' in page
    assert 'name="viewport"' in page


def test_landing_security_headers_forbid_inline_code_and_framing(landing_app: Flask) -> None:
    response = landing_app.test_client().get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"  # no Referer to other sites
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # plain http in development
    assert " style=" not in response.get_data(as_text=True)  # the CSP would block it


def test_landing_stylesheet_is_served(landing_app: Flask) -> None:
    response = landing_app.test_client().get("/static/css/portal.css")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "@media" in response.get_data(as_text=True)


def test_landing_unknown_page_is_a_french_404(landing_app: Flask) -> None:
    response = landing_app.test_client().get("/nope")
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
    production = {
        "PORTAL_ENV": "production",
        "PORTAL_SECRET_KEY": "x" * 40,
        "PORTAL_BASE_URL": "https://portail.example",
        "PORTAL_IDP_ISSUER": "https://sesame.example",
    }
    with pytest.raises(ConfigurationError, match="PORTAL_CLIENT_ID"):
        build_config(production)
    cfg = build_config(
        {**production, "PORTAL_CLIENT_ID": "portal", "PORTAL_CLIENT_SECRET": "s" * 43}
    )
    assert cfg["PORTAL_ENV"] == "production"


def test_landing_health_answers_ok(landing_app: Flask) -> None:
    response = landing_app.test_client().get("/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_landing_config_reads_the_client_registration() -> None:
    cfg = build_config(
        {
            "PORTAL_CLIENT_ID": "portal",
            "PORTAL_CLIENT_SECRET": "secret",
            "PORTAL_CLIENT_AUTH_METHOD": "client_secret_post",
            "PORTAL_SCOPES": "  openid   profile ",
            "PORTAL_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1/portal",
            "PORTAL_SESSION_HOURS": "8",
        }
    )
    assert (cfg["PORTAL_CLIENT_ID"], cfg["PORTAL_CLIENT_SECRET"]) == ("portal", "secret")
    assert cfg["PORTAL_CLIENT_AUTH_METHOD"] == "client_secret_post"
    assert cfg["PORTAL_SCOPES"] == "openid profile"
    assert cfg["PORTAL_DATABASE_URL"].startswith("postgresql")
    assert cfg["PORTAL_SESSION_HOURS"] == 8
    defaults = build_config({})
    assert defaults["PORTAL_CLIENT_AUTH_METHOD"] == "client_secret_basic"
    assert defaults["PORTAL_SCOPES"] == "openid profile email ordre"
    with pytest.raises(ConfigurationError, match="PORTAL_CLIENT_AUTH_METHOD"):
        build_config({"PORTAL_CLIENT_AUTH_METHOD": "none"})  # the portal is confidential
    with pytest.raises(ConfigurationError, match="PORTAL_SESSION_HOURS"):
        build_config({"PORTAL_SESSION_HOURS": "0"})
