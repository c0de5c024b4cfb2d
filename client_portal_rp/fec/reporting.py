"""What the CLI (`portal fec import`) and the firm's upload page say about an import, beyond
the ImportReport itself: the separator's name, and the date of the import a new one replaces
(read before importing: the importer deletes the old row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from client_portal_rp.extensions import db
from client_portal_rp.fec.importer import ImportReport
from client_portal_rp.models import Company, FecImport


def import_dates(company: Company) -> dict[int, datetime]:
    """When each exercice of `company` was last imported, by exercice."""
    rows = db.session.execute(
        select(FecImport.exercice, FecImport.imported_at).where(FecImport.company_id == company.id)
    ).all()
    return dict(rows)  # (exercice, imported_at) rows


def replaced_at(report: ImportReport, before: dict[int, datetime]) -> datetime | None:
    """The date of the import `report` replaced, when it replaced one."""
    if not report.replaced or report.fec_import is None:
        return None
    return before.get(report.fec_import.exercice)


def separator_name(separator: str) -> str:
    """A separator as a French word (a tab is invisible on a terminal)."""
    return {"\t": "tabulation", "|": "barre verticale (|)"}.get(separator, repr(separator))


def gap(report: ImportReport) -> int:
    """Total debit − total credit, in cents."""
    return report.total_debit - report.total_credit
