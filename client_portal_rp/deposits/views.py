"""« Déposez vos documents » (placeholder: filled by the deposits work)."""

from flask import Blueprint

from client_portal_rp.tenancy import Access, company_view

bp = Blueprint("deposits", __name__)


@bp.get("/entreprises/<company_id>/depots")
@company_view()
def index(access: Access) -> str:
    return "placeholder"
