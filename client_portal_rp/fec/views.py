"""« Consultez votre compta en ligne », the pages under the indicators: the échéanciers (clients,
fournisseurs) and the drill-down (charges by supplier → a supplier's entries → a piece reference
→ the deposited document, « Récupérez la pièce comptable »).

Every page goes through `company_view(Module.COMPTA)`: 404 for another company's person, 403
without the module, MFA step-up when the company marks the module « sécurité avancée » (then
the page is never kept for reading offline). Each reads one import of the company (`?exercice=`,
else the latest) through fec/schedules.py and fec/drilldown.py, whose queries always name it.
Every table is also a CSV or XLSX download (`?format=csv|xlsx`, client_portal_rp/exports.py).

The piece's file: a person with the compta module downloads the deposit reached through the
drill-down (`piece_download`) even without the deposit module: the compta module shows every
entry of the company, and the piece is what justifies the entry. Only a deposit of the URL's
company whose piece reference the company's imported books carry (`fec_pieces`) is served this
way; any other deposit is a 404 here (it belongs to the deposit module alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import wraps
from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from client_portal_rp.deposits import services as deposit_services
from client_portal_rp.exports import Column, Table, csv_response, xlsx_response
from client_portal_rp.fec import drilldown, schedules
from client_portal_rp.fec.paging import (
    EXPORT_MAX_ROWS,
    FecReadError,
    exercices_of,
    import_of,
    parse_exercice,
)
from client_portal_rp.fec.schedules import BUCKETS, Side
from client_portal_rp.models import FecImport, Module
from client_portal_rp.tenancy import Access, company_view

bp = Blueprint("fec", __name__)

PAGE_SIZE = 50
EXPORT_FORMATS = ("csv", "xlsx")
MAX_PARTY = 60
MAX_REFERENCE = 100


def percent(share: float) -> str:
    """0.1234 → « 12,3 % »."""
    return f"{share * 100:.1f}".replace(".", ",") + "\u00a0%"


def _message(title: str, message: str, status: int, access: Access) -> tuple[str, int]:
    return render_template(
        "fec/drill_message.html", title=title, message=message, access=access
    ), status


class Reading:
    """What every page needs: the import asked for, the exercices to switch to, and the
    page's own arguments checked (an error is a French message, never a 500)."""

    def __init__(self, access: Access) -> None:
        self.access = access
        self.exercices = exercices_of(access.company)
        self.fec_import: FecImport | None = None
        self.cursor = (request.args.get("cursor") or "").strip() or None
        self.export = (request.args.get("format") or "").strip().lower() or None

    def load(self) -> tuple[str, int] | None:
        """None when the page can be shown; else the message page to answer."""
        if self.export is not None and self.export not in EXPORT_FORMATS:
            return self.refuse(_("Le format d'export est « csv » ou « xlsx »."))
        try:
            exercice = parse_exercice(request.args.get("exercice"))
        except FecReadError as error:
            return self.refuse(error.message)
        self.fec_import = import_of(self.access.company, exercice)
        if self.fec_import is None and exercice is None:
            return _message(
                _("Consultez votre compta en ligne"),
                _("Votre cabinet n'a pas encore publié de FEC pour cette entreprise."),
                200,
                self.access,
            )
        if self.fec_import is None:
            return _message(
                _("Exercice introuvable"),
                _(
                    "Votre cabinet n'a pas publié de FEC pour l'exercice %(exercice)s.",
                    exercice=exercice,
                ),
                404,
                self.access,
            )
        return None

    def refuse(self, message: str) -> tuple[str, int]:
        return _message(_("Demande invalide"), message, 400, self.access)

    @property
    def imported(self) -> FecImport:
        assert self.fec_import is not None
        return self.fec_import

    def args(self, **changes: Any) -> dict[str, Any]:
        """The page's query arguments for a link (exercice kept), with `changes`."""
        kept = {"exercice": self.imported.exercice}
        kept.update(changes)
        return {k: v for k, v in kept.items() if v not in (None, "")}

    def download(self, table: Table, filename: str) -> Response:
        stem = f"{filename}-{self.access.company.siren}-{self.imported.exercice}"
        if self.export == "xlsx":
            return xlsx_response(table, stem)
        return csv_response(table, stem)


def _page(view: Callable[..., Any]) -> Callable[..., Any]:
    """The view receives a loaded Reading; a refused argument or a bad cursor is a page with
    its message."""

    @wraps(view)
    def wrapper(access: Access, **kwargs: Any) -> Any:
        reading = Reading(access)
        refused = reading.load()
        if refused is not None:
            return refused
        try:
            return view(reading, **kwargs)
        except FecReadError as error:
            return reading.refuse(error.message)

    return wrapper


def _render(template: str, reading: Reading, **context: Any) -> str:
    return render_template(
        template,
        access=reading.access,
        company=reading.access.company,
        fec_import=reading.imported,
        exercices=reading.exercices,
        reading=reading,
        percent=percent,
        bucket_labels=[(b, b.label) for b in BUCKETS],
        **context,
    )


def link_base(endpoint: str, reading: Reading, last: str, **args: Any) -> str:
    """A row link's URL up to its last argument (`...&tiers=`): the template appends each
    row's value URL-encoded. One `url_for` a page rather than one a row (50 `url_for` were
    a third of the échéancier's time)."""
    url = url_for(endpoint, company_id=reading.access.company.public_id, **reading.args(**args))
    return f"{url}{'&' if '?' in url else '?'}{last}="


def _side(reading: Reading) -> Side:
    side = Side.parse(request.args.get("cote"))
    if side is None:
        raise FecReadError(_("Le côté de l'échéancier est « clients » ou « fournisseurs »."))
    return side


def _party_arg(name: str = "tiers") -> str:
    party = (request.args.get(name) or "").strip()
    if not party or len(party) > MAX_PARTY:
        raise FecReadError(_("Choisissez un tiers dans la liste."))
    return party


def _bucket_columns() -> list[Column]:
    return [Column(str(b.label), "money") for b in BUCKETS]


# --- échéanciers -------------------------------------------------------------------------


@bp.get("/entreprises/<company_id>/compta/echeancier", endpoint="schedule")
@company_view(Module.COMPTA)
@_page
def schedule(reading: Reading) -> str | Response:
    """Open items by third party, aged at the exercice's closing date, and the reconciliation
    with the accounts."""
    side = _side(reading)
    if reading.export:
        return _schedule_export(reading, side)
    found = schedules.schedule(reading.imported, side, cursor=reading.cursor, limit=PAGE_SIZE)
    return _render(
        "fec/schedule.html",
        reading,
        side=side,
        schedule=found,
        party_base=link_base("fec.party_items", reading, "tiers", cote=side.value),
    )


def _schedule_export(reading: Reading, side: Side) -> Response:
    found = schedules.schedule(reading.imported, side, limit=EXPORT_MAX_ROWS)
    rows: list[Sequence[Any]] = [
        [p.party, p.label, *(p.ageing.buckets[b] for b in BUCKETS), p.ageing.total]
        for p in found.parties.items
    ]
    rows.append(["", _("Total"), *(found.totals.buckets[b] for b in BUCKETS), found.totals.total])
    table = Table(
        title=side.label,
        columns=[
            Column(_("Compte")),
            Column(_("Tiers")),
            *_bucket_columns(),
            Column(_("Total"), "money"),
        ],
        rows=rows,
    )
    return reading.download(table, f"echeancier-{side.value}")


@bp.get("/entreprises/<company_id>/compta/echeancier/tiers", endpoint="party_items")
@company_view(Module.COMPTA)
@_page
def party_items(reading: Reading) -> str | Response | tuple[str, int]:
    """One third party's open items, oldest due date first."""
    side = _side(reading)
    party = _party_arg()
    label = schedules.party_label(reading.imported, party) or party
    limit = EXPORT_MAX_ROWS if reading.export else PAGE_SIZE
    page = schedules.party_items(
        reading.imported,
        side,
        party,
        cursor=None if reading.export else reading.cursor,
        limit=limit,
    )
    if reading.export:
        table = Table(
            title=label,
            columns=[
                Column(_("Pièce")),
                Column(_("Date de pièce"), "date"),
                Column(_("Échéance"), "date"),
                Column(_("Échéance d'après")),
                Column(_("Montant"), "money"),
                Column(_("Jours de retard"), "integer"),
            ],
            rows=[
                [
                    r.item.piece_ref,
                    r.item.piece_date,
                    r.due_date,  # none for a payment or credit note: never due
                    r.due_source_label,
                    r.item.amount,
                    None if r.days_overdue is None else max(0, r.days_overdue),
                ]
                for r in page.items
            ],
        )
        return reading.download(table, f"echeancier-{side.value}-{party}")
    ageing = schedules.party_ageing(reading.imported, side, party)
    if not page.items and not reading.cursor:
        return _message(
            _("Aucune pièce ouverte"),
            _(
                "%(party)s n'a aucune pièce ouverte au %(date)s.",
                party=label,
                date=reading.imported.period_end.strftime("%d/%m/%Y"),
            ),
            404,
            reading.access,
        )
    return _render(
        "fec/party_items.html",
        reading,
        side=side,
        party=party,
        label=label,
        page=page,
        ageing=ageing,
        piece_base=link_base("fec.piece", reading, "ref", tiers=party),
    )


# --- drill-down --------------------------------------------------------------------------


@bp.get("/entreprises/<company_id>/compta/charges", endpoint="charges")
@company_view(Module.COMPTA)
@_page
def charges(reading: Reading) -> str | Response:
    """Charges by supplier (or by 6x account when the entry has no supplier), largest first."""
    if reading.export:
        found = drilldown.charges_by_supplier(reading.imported, limit=EXPORT_MAX_ROWS)
        table = Table(
            title=_("Charges par fournisseur"),
            columns=[
                Column(_("Compte")),
                Column(_("Fournisseur")),
                Column(_("Charges"), "money"),
                Column(_("Part des charges"), "percent"),
                Column(_("Écritures"), "integer"),
            ],
            rows=[
                [
                    s.party,
                    s.label,
                    s.charges,
                    Decimal(str(round(s.share * 100, 1))),
                    s.entry_count,
                ]
                for s in found.page.items
            ],
        )
        return reading.download(table, "charges-par-fournisseur")
    found = drilldown.charges_by_supplier(reading.imported, cursor=reading.cursor, limit=PAGE_SIZE)
    return _render(
        "fec/charges.html",
        reading,
        charges=found,
        party_base=link_base("fec.party", reading, "tiers"),
    )


@bp.get("/entreprises/<company_id>/compta/tiers", endpoint="party")
@company_view(Module.COMPTA)
@_page
def party(reading: Reading) -> str | Response | tuple[str, int]:
    """A third party's entries in the exercice, by date; each piece reference leads to the
    deposited document."""
    key = _party_arg()
    known = drilldown.party_of(reading.imported, key)
    label = known.label if known is not None and known.label else key
    limit = EXPORT_MAX_ROWS if reading.export else PAGE_SIZE
    page = drilldown.party_entries(
        reading.imported, key, cursor=None if reading.export else reading.cursor, limit=limit
    )
    if known is None and not page.items and not reading.cursor:
        return _message(
            _("Tiers introuvable"),
            _(
                "« %(party)s » n'a aucune écriture dans le FEC de l'exercice %(exercice)s.",
                party=key,
                exercice=reading.imported.exercice,
            ),
            404,
            reading.access,
        )
    if reading.export:
        table = Table(
            title=label,
            columns=[
                Column(_("Date"), "date"),
                Column(_("Journal")),
                Column(_("N° d'écriture")),
                Column(_("Compte")),
                Column(_("Pièce")),
                Column(_("Libellé")),
                Column(_("Débit"), "money"),
                Column(_("Crédit"), "money"),
                Column(_("Lettrage")),
            ],
            rows=[
                [
                    line.ecriture_date,
                    line.journal_code,
                    line.ecriture_num,
                    line.compte_num,
                    line.piece_ref,
                    line.ecriture_lib,
                    line.debit,
                    line.credit,
                    line.ecriture_let,
                ]
                for line in page.items
            ],
        )
        return reading.download(table, f"ecritures-{key}")
    return _render(
        "fec/party.html",
        reading,
        party=key,
        label=label,
        known=known,
        page=page,
        piece_base=link_base("fec.piece", reading, "ref", tiers=key),
    )


@bp.get("/entreprises/<company_id>/compta/pieces", endpoint="piece")
@company_view(Module.COMPTA)
@_page
def piece(reading: Reading) -> str | tuple[str, int]:
    """« Récupérez la pièce comptable »: the company's deposits carrying the reference."""
    reference = " ".join((request.args.get("ref") or "").split())
    if not reference or len(reference) > MAX_REFERENCE:
        return reading.refuse(_("Indiquez la référence de la pièce (100 caractères au plus)."))
    company = reading.access.company
    deposits = drilldown.piece_deposits(company, reference)
    return _render(
        "fec/piece.html",
        reading,
        reference=reference,
        deposits=deposits,
        in_books=bool(deposits) or drilldown.piece_in_books(company, reference),
        back_party=(request.args.get("tiers") or "").strip()[:MAX_PARTY] or None,
    )


@bp.get("/entreprises/<company_id>/compta/pieces/<deposit_id>/fichier", endpoint="piece_download")
@company_view(Module.COMPTA)
def piece_download(access: Access, deposit_id: str) -> Response | tuple[str, int]:
    """The deposited piece as an attachment, for a person with the compta module (the module
    docstring says why). A deposit of another company, or one carrying no piece reference,
    is a 404."""
    deposit = drilldown.piece_deposit(access.company, deposit_id)
    if deposit is None:
        abort(404)
    if not deposit_services.is_ready(deposit):
        return _message(
            _("Document en cours de traitement"),
            deposit_services.not_ready_message(deposit),
            409,
            access,
        )
    try:
        return deposit_services.send_download(deposit)
    except deposit_services.FileUnavailable:
        raise NotFound() from None
