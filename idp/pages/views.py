"""Information pages linked from every page's footer: help, legal notices, accessibility."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, current_app, render_template

bp = Blueprint("pages", __name__)

DEFAULT_SUPPORT_EMAIL = "support@sesame.localhost"
# When the accessibility statement was last reviewed: update with the statement's text.
ACCESSIBILITY_STATEMENT_DATE = date(2026, 12, 2)


def support_email() -> str:
    return str(current_app.config.get("SUPPORT_EMAIL") or DEFAULT_SUPPORT_EMAIL)


def session_lifetime_hours() -> int:
    """The longest a login lasts (the session cookie's lifetime), in whole hours."""
    lifetime = current_app.config.get("PERMANENT_SESSION_LIFETIME", timedelta(hours=12))
    seconds = lifetime.total_seconds() if isinstance(lifetime, timedelta) else float(lifetime)
    return max(1, round(seconds / 3600))


@bp.get("/help", endpoint="help")
def help_page() -> str:
    return render_template("pages/help.html", support_email=support_email())


@bp.get("/legal")
def legal() -> str:
    config = current_app.config
    return render_template(
        "pages/legal.html",
        support_email=support_email(),
        publisher=config.get("LEGAL_PUBLISHER"),
        host=config.get("LEGAL_HOST"),
        cookie_name=config.get("SESSION_COOKIE_NAME", "session"),
        session_hours=session_lifetime_hours(),
    )


@bp.get("/accessibility")
def accessibility() -> str:
    return render_template(
        "pages/accessibility.html",
        support_email=support_email(),
        statement_date=ACCESSIBILITY_STATEMENT_DATE,
    )
