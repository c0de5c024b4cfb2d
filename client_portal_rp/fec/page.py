"""« Consultez votre compta en ligne »: the indicators page (`main.compta`, client_portal_rp/web.py,
template compta.html) and its monthly table as CSV or XLSX (`?format=csv|xlsx`).

`?exercice=AAAA` picks the exercice (default: the latest imported); the page reads
fec/indicators.py only (pre-aggregated at import). Charts are server-side SVG (fec/charts.py):
monthly revenue and expenses as bars with the previous exercice as dashed outlines, net cash
at each month's end as a curve with the previous exercice dotted; each is followed by the same
figures as a table. An expense bar links to the drill-down (`fec.charges`) when that page is
installed (`endpoint_url`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import current_app, render_template, request, url_for
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from client_portal_rp.exports import Column, Table, csv_response, xlsx_response
from client_portal_rp.fec import charts
from client_portal_rp.fec.indicators import (
    DISPLAY_KEYS,
    LABELS,
    NET_CASH,
    Indicators,
    change_words,
    exercices_of,
    indicators,
)
from client_portal_rp.fec.paging import FecReadError, parse_exercice
from client_portal_rp.formatting import page_locale
from client_portal_rp.tenancy import Access

EXPORT_FORMATS = ("csv", "xlsx")


def endpoint_url(endpoint: str, **values: Any) -> str | None:
    """The URL of `endpoint`, or None when no such page is installed (yet)."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


SCALES = ((1_000_000, "M"), (1_000, "k"))


def compact_euros(cents: int) -> str:
    """An axis label: 1 250 000,00 € → « 1,25 M€ », 48 000 € → « 48 k€ »; in English
    « €1.25M », « €48k »."""
    euros = cents / 100
    size, unit = next(((s, u) for s, u in SCALES if abs(euros) >= s), (1, ""))
    if page_locale() != "fr_FR":
        sign = "-" if euros < 0 else ""
        return f"{sign}€{format_decimal(abs(euros) / size, format='#,##0.##')}{unit}"
    return f"{format_decimal(euros / size, format='#,##0.##')}\u00a0{unit}€"


@dataclass(frozen=True)
class Card:
    key: str
    label: str
    current: int
    previous: int | None
    change: str  # in words
    direction: str  # "up", "down", "flat", "none" (a CSS class and an arrow, never alone)


@dataclass(frozen=True)
class MonthRow:
    month: date
    label: str  # « octobre 2049 »
    figures: dict[str, int]
    previous: dict[str, int] | None  # the previous exercice's month at this position
    previous_label: str | None


def cards(ind: Indicators) -> list[Card]:
    found = []
    for key in DISPLAY_KEYS:
        change = ind.change(key)
        direction = (
            "none" if change is None else "up" if change > 0 else "down" if change < 0 else "flat"
        )
        found.append(
            Card(
                key,
                str(LABELS[key]),
                ind.current.totals[key],
                ind.previous_total(key),
                change_words(ind, key),
                direction,
            )
        )
    return found


def month_rows(ind: Indicators) -> list[MonthRow]:
    rows = []
    for month in ind.current.months:
        before = ind.previous_month(month.month)
        rows.append(
            MonthRow(
                month.month,
                format_date(month.month, "MMMM yyyy"),
                month.figures,
                before.figures if before else None,
                format_date(before.month, "MMMM yyyy") if before else None,
            )
        )
    return rows


def _previous(rows: list[MonthRow], key: str) -> list[int | None]:
    return [row.previous[key] if row.previous else None for row in rows]


def month_table(ind: Indicators, rows: list[MonthRow]) -> Table:
    """The monthly figures for download: each indicator of the exercice, then the previous
    exercice's month a year before."""
    previous = ind.previous.exercice if ind.previous else None
    columns = [Column(_("Mois"))] + [Column(str(LABELS[k]), "money") for k in DISPLAY_KEYS]
    if previous is not None:
        columns += [Column(_("Mois de l'exercice %(exercice)s", exercice=previous))]
        columns += [
            Column(_("%(indicator)s %(exercice)s", indicator=LABELS[k], exercice=previous), "money")
            for k in DISPLAY_KEYS
        ]
    lines: list[list[Any]] = []
    for row in rows:
        line: list[Any] = [row.label, *(row.figures[k] for k in DISPLAY_KEYS)]
        if previous is not None:
            line.append(row.previous_label)
            line += [row.previous[k] if row.previous else None for k in DISPLAY_KEYS]
        lines.append(line)
    title = _("Indicateurs par mois %(exercice)s", exercice=ind.exercice)
    return Table(title, columns, lines)


def _page(access: Access, status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("exercices", exercices_of(access.company))
    context.setdefault("ind", None)
    return render_template("compta.html", access=access, **context), status


def indicators_page(access: Access) -> tuple[str, int] | Response:
    company = access.company
    export = (request.args.get("format") or "").strip().lower() or None
    if export is not None and export not in EXPORT_FORMATS:
        return _page(access, 400, error=_("Format d'export inconnu : choisissez csv ou xlsx."))
    try:
        wanted = parse_exercice(request.args.get("exercice"))
    except FecReadError as error:
        return _page(access, 400, error=error.message)
    exercices = exercices_of(company)
    if not exercices:
        return _page(access, exercices=exercices)  # the firm has published no FEC yet
    year = wanted if wanted is not None else exercices[0]
    ind = indicators(company, year)
    if ind is None:
        message = _("Aucun FEC importé pour l'exercice %(exercice)s.", exercice=year)
        return _page(access, 404, exercices=exercices, error=message, wanted=year)
    rows = month_rows(ind)
    if export is not None:
        table = month_table(ind, rows)
        filename = f"indicateurs-{company.siren}-{ind.exercice}"
        return csv_response(table, filename) if export == "csv" else xlsx_response(table, filename)
    short = [format_date(r.month, "MMM") for r in rows]
    flows = charts.bar_chart(
        short,
        [[r.figures["chiffre_affaires"] for r in rows], [r.figures["charges"] for r in rows]],
        [_previous(rows, "chiffre_affaires"), _previous(rows, "charges")],
        compact_euros,
    )
    cash = charts.line_chart(
        short, [r.figures[NET_CASH] for r in rows], _previous(rows, NET_CASH), compact_euros
    )
    return _page(
        access,
        exercices=exercices,
        ind=ind,
        wanted=ind.exercice,
        cards=cards(ind),
        rows=rows,
        flows=flows,
        cash=cash,
        chart=charts,
        charges_url=endpoint_url(
            "fec.charges", company_id=company.public_id, exercice=ind.exercice
        ),
        schedule_url=endpoint_url(
            "fec.schedule", company_id=company.public_id, exercice=ind.exercice
        ),
    )
