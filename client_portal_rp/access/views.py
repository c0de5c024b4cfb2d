"""« Administrez vos accès » (placeholder: filled by the access work)."""

from flask import Blueprint

from client_portal_rp.tenancy import Access, company_view

bp = Blueprint("access", __name__)


@bp.get("/entreprises/<company_id>/acces")
@company_view()
def index(access: Access) -> str:
    return "placeholder"


@bp.get("/invitations/<token>")
def invitation(token: str) -> str:
    return "placeholder"
