"""The firm's side (placeholder: filled by the firm work)."""

from flask import Blueprint

bp = Blueprint("firm", __name__)


@bp.get("/cabinet/<firm_id>/")
def index(firm_id: str) -> str:
    return "placeholder"
