"""Information pages linked from every page's footer: help, legal notices, accessibility."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template

from idp.config import settings

bp = Blueprint("pages", __name__)

# When the accessibility statement was last reviewed: update with the statement's text.
ACCESSIBILITY_STATEMENT_DATE = date(2026, 12, 2)


def session_lifetime_hours() -> int:
    """The longest a login lasts (the session's absolute timeout), in whole hours."""
    return max(1, round(settings().session_absolute.total_seconds() / 3600))


@bp.get("/help", endpoint="help")
def help_page() -> str:
    return render_template("pages/help.html", support_email=settings().support_email)


@bp.get("/legal")
def legal() -> str:
    cfg = settings()
    return render_template(
        "pages/legal.html",
        support_email=cfg.support_email,
        publisher=cfg.legal_publisher,
        host=cfg.legal_host,
        cookie_name=cfg.session_cookie_name,
        session_hours=session_lifetime_hours(),
    )


@bp.get("/accessibility")
def accessibility() -> str:
    return render_template(
        "pages/accessibility.html",
        support_email=settings().support_email,
        statement_date=ACCESSIBILITY_STATEMENT_DATE,
    )
