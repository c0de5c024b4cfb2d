"""The key indicators of an exercice as the pages, the API and `portal indicators` read them
(docs/adr/0027): the import's totals and its months (`fec_imports.totals`, `fec_months`,
computed at import), beside the previous exercice's (the same company's import of
`exercice - 1`, when there is one). Pre-aggregated only: nothing here reads `fec_lines`, so an
exercice of 1,000,000 lines costs what one of 100 does (two small queries).

Amounts are integer cents. Trésorerie nette = disponibilités − concours bancaires. The change
in % is (current − previous) / |previous| × 100, rounded half-up to one decimal; None when the
previous figure is missing or zero (no meaningful ratio). A month is compared with the same
month a year before, when the previous exercice has it: October with October for two exercices
closing in September; after a short first exercice (April–September) October has nothing to
compare with, and after a long one (18 months) October meets its own October, not the long
exercice's first month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from client_portal_rp.extensions import db
from client_portal_rp.fec.formulas import KEYS
from client_portal_rp.fec.paging import decimal_euros, exercices_of
from client_portal_rp.models import Company, FecImport, FecMonth

__all__ = [
    "ALL_KEYS",
    "DISPLAY_KEYS",
    "LABELS",
    "Exercice",
    "Indicators",
    "as_json",
    "exercices_of",
    "indicators",
]

NET_CASH = "tresorerie_nette"
ALL_KEYS: tuple[str, ...] = (*KEYS, NET_CASH)
_TENTH = Decimal("0.1")
# The order pages and the CLI show them in; labels are the page's words.
DISPLAY_KEYS: tuple[str, ...] = (
    "chiffre_affaires",
    "charges",
    "resultat",
    NET_CASH,
    "disponibilites",
    "concours_bancaires",
    "creances_clients",
    "dettes_fournisseurs",
)
LABELS = {
    "chiffre_affaires": _l("Chiffre d'affaires"),
    "charges": _l("Charges"),
    "resultat": _l("Résultat"),
    NET_CASH: _l("Trésorerie nette"),
    "disponibilites": _l("Disponibilités"),
    "concours_bancaires": _l("Concours bancaires"),
    "creances_clients": _l("Créances clients"),
    "dettes_fournisseurs": _l("Dettes fournisseurs"),
}

Figures = dict[str, int]  # ALL_KEYS -> cents


def with_net_cash(values: dict[str, Any]) -> Figures:
    """The stored figures (KEYS; a missing one is 0) plus trésorerie nette."""
    figures = {key: int(values.get(key) or 0) for key in KEYS}
    figures[NET_CASH] = figures["disponibilites"] - figures["concours_bancaires"]
    return figures


def change_percent(current: int, previous: int | None) -> Decimal | None:
    """(current − previous) / |previous| in %, one decimal; None without a previous figure."""
    if not previous:
        return None
    ratio = Decimal(current - previous) * 100 / abs(Decimal(previous))
    return ratio.quantize(_TENTH, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Month:
    month: date  # its first day
    figures: Figures


@dataclass(frozen=True)
class Exercice:
    """One import's figures: the exercice's totals and its months in order."""

    exercice: int
    period_start: date
    period_end: date
    totals: Figures
    months: list[Month]


@dataclass(frozen=True)
class Indicators:
    """An exercice beside the previous one (None when the firm imported no FEC for it)."""

    company_id: int
    current: Exercice
    previous: Exercice | None

    @property
    def exercice(self) -> int:
        return self.current.exercice

    def previous_total(self, key: str) -> int | None:
        return None if self.previous is None else self.previous.totals[key]

    def change(self, key: str) -> Decimal | None:
        return change_percent(self.current.totals[key], self.previous_total(key))

    def previous_month(self, month: date) -> Month | None:
        """The previous exercice's month a year before `month` (its first day), if it has it."""
        if self.previous is None:
            return None
        wanted = month.replace(year=month.year - 1)
        return next((m for m in self.previous.months if m.month == wanted), None)


def _exercice(fec_import: FecImport) -> Exercice:
    rows = db.session.scalars(
        select(FecMonth).where(FecMonth.import_id == fec_import.id).order_by(FecMonth.month)
    )
    months = [Month(row.month, with_net_cash({k: getattr(row, k) for k in KEYS})) for row in rows]
    return Exercice(
        exercice=fec_import.exercice,
        period_start=fec_import.period_start,
        period_end=fec_import.period_end,
        totals=with_net_cash(fec_import.totals or {}),
        months=months,
    )


def indicators(company: Company, exercice: int) -> Indicators | None:
    """The company's indicators for `exercice` (the year it closes) and the previous one; None
    when there is no import for it. Always filtered by the company (tenant isolation)."""
    imports = {
        found.exercice: found
        for found in db.session.scalars(
            select(FecImport).where(
                FecImport.company_id == company.id,
                FecImport.exercice.in_((exercice, exercice - 1)),
            )
        )
    }
    current = imports.get(exercice)
    if current is None:
        return None
    previous = imports.get(exercice - 1)
    return Indicators(
        company_id=company.id,
        current=_exercice(current),
        previous=_exercice(previous) if previous is not None else None,
    )


def _figures_json(figures: Figures) -> dict[str, str]:
    return {key: decimal_euros(figures[key]) for key in ALL_KEYS}


def exercice_json(exercice: Exercice) -> dict[str, Any]:
    return {
        "exercice": exercice.exercice,
        "period_start": exercice.period_start.isoformat(),
        "period_end": exercice.period_end.isoformat(),
        **_figures_json(exercice.totals),
        "months": [
            {"month": m.month.strftime("%Y-%m"), **_figures_json(m.figures)}
            for m in exercice.months
        ],
    }


def as_json(ind: Indicators) -> dict[str, Any]:
    """The stable contract of `portal indicators --json` and the API: every indicator as a
    decimal string in euros ("1212843.90", "-12.30"), the months ("2049-10"), the previous
    exercice in the same shape (or null), and `changes`: the change in % per indicator as a
    decimal string with one decimal ("12.5", "-3.0"), null without a previous figure."""
    changes = {key: ind.change(key) for key in ALL_KEYS}
    return {
        **exercice_json(ind.current),
        "changes": {key: None if c is None else str(c) for key, c in changes.items()},
        "previous": exercice_json(ind.previous) if ind.previous is not None else None,
    }


def percent_text(value: Decimal) -> str:
    """12.5 → « 12,5 % » in French (the locale's decimal sign, a no-break space)."""
    return format_decimal(abs(value), format="#,##0.0") + "\u00a0%"


def change_words(ind: Indicators, key: str) -> str:
    """The change said in words (« en hausse de 21,3 % »), not by a colour or an arrow alone."""
    change = ind.change(key)
    if change is None:
        if ind.previous is None:
            return _("pas d'exercice précédent à comparer")
        return _("variation non calculable (exercice précédent à zéro)")
    if change > 0:
        return _("en hausse de %(percent)s", percent=percent_text(change))
    if change < 0:
        return _("en baisse de %(percent)s", percent=percent_text(change))
    return _("stable")
