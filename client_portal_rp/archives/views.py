"""« Accédez à vos archives » (placeholder: filled by the archives work)."""

from flask import Blueprint

from client_portal_rp.tenancy import Access, company_view

bp = Blueprint("archives", __name__)


@bp.get("/entreprises/<company_id>/archives")
@company_view()
def index(access: Access) -> str:
    return "placeholder"
