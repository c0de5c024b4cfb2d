"""An imported FEC written directly as its computed rows (`fec_imports`, `fec_months`): what the
indicator pages, the API and `portal indicators` read, without going through the importer.
Amounts are integer cents."""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Mapping
from datetime import date

from client_portal_rp.extensions import db
from client_portal_rp.fec.formulas import FLOW_KEYS, KEYS
from client_portal_rp.models import Company, FecImport, FecMonth


def month_starts(first: date, count: int = 12) -> list[date]:
    """`count` first days of month from `first`'s month."""
    year, month = first.year, first.month
    starts = []
    for _ in range(count):
        starts.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return starts


def make_fec_import(
    company: Company,
    exercice: int,
    months: Mapping[date, Mapping[str, int]] | None = None,
    totals: Mapping[str, int] | None = None,
    *,
    period_start: date | None = None,
    period_end: date | None = None,
) -> FecImport:
    """An import of `exercice` with these months ({first day: {indicator: cents}}, a missing
    indicator is 0). Without `totals`: flows summed over the months, positions of the last
    month. Without months: none. The period runs from the first month to the last's end
    (else the calendar year)."""
    months = dict(sorted((months or {}).items()))
    rows = {m: {key: int(values.get(key, 0)) for key in KEYS} for m, values in months.items()}
    if totals is None:
        last = rows[max(rows)] if rows else {}
        totals = {
            key: sum(r[key] for r in rows.values()) if key in FLOW_KEYS else last.get(key, 0)
            for key in KEYS
        }
    if rows:
        end_month = max(rows)
        start = period_start or min(rows)
        end = period_end or date(
            end_month.year, end_month.month, monthrange(end_month.year, end_month.month)[1]
        )
    else:
        start, end = period_start or date(exercice, 1, 1), period_end or date(exercice, 12, 31)
    fec_import = FecImport(
        company_id=company.id,
        exercice=exercice,
        period_start=start,
        period_end=end,
        filename=f"{company.siren}FEC{end:%Y%m%d}.txt",
        sha256="0" * 64,
        line_count=0,
        entry_count=0,
        total_debit=0,
        total_credit=0,
        totals=dict(totals),
    )
    db.session.add(fec_import)
    db.session.flush()
    for month, values in rows.items():
        db.session.add(FecMonth(import_id=fec_import.id, month=month, **values))
    db.session.commit()
    return fec_import
