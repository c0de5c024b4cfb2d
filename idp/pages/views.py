"""Information pages linked from every page's footer."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__)
