"""« Consultez votre compta en ligne » as JSON: the échéanciers (summary, reconciliation and
parties by ageing bucket), charges by supplier, and a third party's entries, from the same
reads as the pages (fec/schedules.py, fec/drilldown.py).

Rights are the page's (`api_company(Module.COMPTA)`: scope `portal.accounting`, the module's
right, "sécurité avancée" by default). `exercice` is the year the exercice closes; without it,
the latest imported. Amounts are decimal strings in euros (`"1212843.90"`), never floats.
Lists are paginated by cursor (`next_cursor`, `limit` up to 200), keyset underneath.
"""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Date, Integer, List, Nested, String
from apiflask.validators import Range
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from client_portal_rp.api import bp
from client_portal_rp.api.auth import api_company
from client_portal_rp.api.pagination import cursor_field, limit_field
from client_portal_rp.api.problems import Problem
from client_portal_rp.fec import drilldown, schedules
from client_portal_rp.fec.paging import FecReadError, decimal_euros, import_of
from client_portal_rp.fec.schedules import Ageing, Bucket, Side
from client_portal_rp.models import FecImport, Module
from client_portal_rp.paging import MAX_CURSOR
from client_portal_rp.tenancy import Access

TAGS = ["Compta"]
SIDES = [side.value for side in Side]
AMOUNT = {"description": "Montant en euros, chaîne décimale (par exemple « 1212843.90 »)"}
BUCKET_KEYS = {
    Bucket.NOT_DUE: "not_due",
    Bucket.DAYS_30: "overdue_1_30",
    Bucket.DAYS_60: "overdue_31_60",
    Bucket.DAYS_90: "overdue_61_90",
    Bucket.OVER_90: "overdue_over_90",
    Bucket.CREDITS: "unapplied_credits",
}


class FecQuery(Schema):
    exercice = Integer(
        strict=False,
        validate=Range(
            min=1900,
            max=2999,
            error=_l("L'exercice est une année sur quatre chiffres, par exemple 2024."),
        ),
        error_messages={
            "invalid": _l("L'exercice est une année sur quatre chiffres, par exemple 2024.")
        },
        metadata={"description": "Exercice : année de clôture (le dernier importé par défaut)"},
    )
    cursor = cursor_field(MAX_CURSOR)
    limit = limit_field("Lignes")


def _amount(**options: Any) -> String:
    return String(required=True, metadata=AMOUNT, **options)


class AgeingOut(Schema):
    not_due = _amount()
    overdue_1_30 = _amount()
    overdue_31_60 = _amount()
    overdue_61_90 = _amount()
    overdue_over_90 = _amount()
    unapplied_credits = String(
        required=True,
        metadata={
            "description": (
                "Règlements et avoirs non lettrés (montants négatifs, chaîne décimale "
                "« -6000.00 ») : jamais échus, comptés dans le total"
            )
        },
    )
    total = _amount()


class PartyAgeingOut(Schema):
    party = String(required=True, metadata={"description": "CompAuxNum, sinon CompteNum"})
    label = String(required=True)
    item_count = Integer(required=True, metadata={"description": "Pièces ouvertes"})
    ageing = Nested(AgeingOut, required=True)


class ReconciliationOut(Schema):
    open_items = _amount()
    balance = _amount()
    difference = _amount()
    explanation = String(required=True)


class ScheduleOut(Schema):
    exercice = Integer(required=True)
    side = String(required=True, metadata={"enum": SIDES})
    reporting_date = Date(required=True, metadata={"description": "Date d'arrêté (clôture)"})
    item_count = Integer(required=True)
    totals = Nested(AgeingOut, required=True)
    reconciliation = Nested(ReconciliationOut, required=True)
    parties = List(Nested(PartyAgeingOut), required=True)
    next_cursor = String(
        required=True,
        allow_none=True,
        metadata={"description": "À passer en « cursor » pour la suite des tiers ; null à la fin"},
    )


class SupplierChargesOut(Schema):
    party = String(required=True)
    label = String(required=True)
    role = String(
        required=True,
        metadata={
            "enum": ["fournisseur", "compte"],
            "description": "« compte » : charges sans fournisseur, regroupées par compte 6x",
        },
    )
    charges = _amount()
    share_percent = String(
        required=True, metadata={"description": "Part des charges, en % (« 12.5 »)"}
    )
    entry_count = Integer(required=True)
    entries_url = String(required=True, metadata={"description": "GET : les écritures du tiers"})


class ChargesOut(Schema):
    exercice = Integer(required=True)
    total_charges = _amount()
    items = List(Nested(SupplierChargesOut), required=True)
    next_cursor = String(required=True, allow_none=True)


class EntryOut(Schema):
    line = Integer(required=True, metadata={"description": "Ligne du FEC (en-tête = 1)"})
    date = Date(required=True)
    journal_code = String(required=True)
    ecriture_num = String(required=True)
    compte_num = String(required=True)
    piece_ref = String(required=True)
    piece_date = Date(required=True, allow_none=True)
    label = String(required=True)
    debit = _amount()
    credit = _amount()
    lettering = String(required=True)
    lettering_date = Date(required=True, allow_none=True)


class EntriesOut(Schema):
    exercice = Integer(required=True)
    party = String(required=True)
    label = String(required=True)
    items = List(Nested(EntryOut), required=True)
    next_cursor = String(required=True, allow_none=True)


def no_fec(exercice: int | None) -> Problem:
    """404 `no_fec`: no import for that exercice (or none at all), for every FEC operation."""
    return Problem(
        404,
        _("Ressource introuvable"),
        _(
            "Votre cabinet n'a pas publié de FEC pour l'exercice %(exercice)s.",
            exercice=exercice,
        )
        if exercice
        else _("Votre cabinet n'a pas encore publié de FEC pour cette entreprise."),
        code="no_fec",
    )


def _import(access: Access, query: dict[str, Any]) -> FecImport:
    exercice = query.get("exercice")
    found = import_of(access.company, exercice)
    if found is None:
        raise no_fec(exercice)
    return found


def _bad_cursor(error: FecReadError) -> Problem:
    return Problem(
        400,
        _("Curseur invalide"),
        error.message,
        code="invalid_cursor",
        errors={"cursor": [_("Curseur invalide.")]},
    )


def ageing_out(ageing: Ageing) -> dict[str, str]:
    out = {BUCKET_KEYS[b]: decimal_euros(v) for b, v in ageing.buckets.items()}
    out["total"] = decimal_euros(ageing.total)
    return out


@bp.get("/companies/<company_id>/schedules/<side>")
@bp.doc(
    summary="Échéancier clients ou fournisseurs",
    description=(
        "Les pièces ouvertes (non lettrées) à la date de clôture de l'exercice, par tiers et "
        "par ancienneté de retard (non échu, 1 à 30, 31 à 60, 61 à 90, plus de 90 jours ; "
        "les règlements et avoirs non lettrés, montants négatifs, à part et jamais échus), "
        "avec le rapprochement avec le solde des comptes (411, 413, 416, 418 ; 401, 403, "
        "4081, 4088). « side » : clients ou fournisseurs. Tiers du plus gros montant au plus "
        "petit, pagination par curseur."
    ),
    tags=TAGS,
    responses=[404],
)
@api_company(Module.COMPTA)
@bp.input(FecQuery, location="query")
@bp.output(ScheduleOut)
def schedule(access: Access, side: str, query_data: dict[str, Any]) -> dict[str, Any]:
    chosen = Side.parse(side) if side else None
    if chosen is None:
        raise Problem(
            404,
            _("Ressource introuvable"),
            _("Le côté de l'échéancier est « clients » ou « fournisseurs »."),
            code="not_found",
        )
    fec_import = _import(access, query_data)
    try:
        found = schedules.schedule(
            fec_import, chosen, cursor=query_data.get("cursor"), limit=query_data["limit"]
        )
    except FecReadError as error:
        raise _bad_cursor(error) from None
    rec = found.reconciliation
    return {
        "exercice": fec_import.exercice,
        "side": chosen.value,
        "reporting_date": found.reporting_date,
        "item_count": found.item_count,
        "totals": ageing_out(found.totals),
        "reconciliation": {
            "open_items": decimal_euros(rec.open_items),
            "balance": decimal_euros(rec.balance),
            "difference": decimal_euros(rec.difference),
            "explanation": rec.explanation(),
        },
        "parties": [
            {
                "party": p.party,
                "label": p.label,
                "item_count": p.item_count,
                "ageing": ageing_out(p.ageing),
            }
            for p in found.parties.items
        ],
        "next_cursor": found.parties.next_cursor,
    }


@bp.get("/companies/<company_id>/charges")
@bp.doc(
    summary="Charges par fournisseur",
    description=(
        "Les charges (classe 6) de l'exercice par fournisseur, les plus grosses d'abord ; les "
        "charges d'une écriture sans fournisseur sont regroupées par compte 6x. Pagination "
        "par curseur."
    ),
    tags=TAGS,
    responses=[404],
)
@api_company(Module.COMPTA)
@bp.input(FecQuery, location="query")
@bp.output(ChargesOut)
def charges(access: Access, query_data: dict[str, Any]) -> dict[str, Any]:
    fec_import = _import(access, query_data)
    try:
        found = drilldown.charges_by_supplier(
            fec_import, cursor=query_data.get("cursor"), limit=query_data["limit"]
        )
    except FecReadError as error:
        raise _bad_cursor(error) from None
    return {
        "exercice": fec_import.exercice,
        "total_charges": decimal_euros(found.total_charges),
        "items": [
            {
                "party": s.party,
                "label": s.label,
                "role": s.role,
                "charges": decimal_euros(s.charges),
                "share_percent": f"{s.share * 100:.1f}",
                "entry_count": s.entry_count,
                "entries_url": url_for(
                    "api.party_entries",
                    company_id=access.company.public_id,
                    party=s.party,
                    exercice=fec_import.exercice,
                ),
            }
            for s in found.page.items
        ],
        "next_cursor": found.page.next_cursor,
    }


@bp.get("/companies/<company_id>/parties/<path:party>/entries")
@bp.doc(
    summary="Les écritures d'un tiers",
    description=(
        "Les lignes du FEC d'un tiers (CompAuxNum, ou le compte quand il n'y a pas de compte "
        "auxiliaire), par date, avec leur pièce et leur lettrage. Pagination par curseur."
    ),
    tags=TAGS,
    responses=[404],
)
@api_company(Module.COMPTA)
@bp.input(FecQuery, location="query")
@bp.output(EntriesOut)
def party_entries(access: Access, party: str, query_data: dict[str, Any]) -> dict[str, Any]:
    fec_import = _import(access, query_data)
    known = drilldown.party_of(fec_import, party)
    try:
        page = drilldown.party_entries(
            fec_import, party, cursor=query_data.get("cursor"), limit=query_data["limit"]
        )
    except FecReadError as error:
        raise _bad_cursor(error) from None
    if known is None and not page.items:
        raise Problem(
            404,
            _("Ressource introuvable"),
            _(
                "« %(party)s » n'a aucune écriture dans le FEC de l'exercice %(exercice)s.",
                party=party[:60],
                exercice=fec_import.exercice,
            ),
            code="not_found",
        )
    return {
        "exercice": fec_import.exercice,
        "party": party,
        "label": known.label if known is not None and known.label else party,
        "items": [
            {
                "line": line.line_no,
                "date": line.ecriture_date,
                "journal_code": line.journal_code,
                "ecriture_num": line.ecriture_num,
                "compte_num": line.compte_num,
                "piece_ref": line.piece_ref,
                "piece_date": line.piece_date,
                "label": line.ecriture_lib,
                "debit": decimal_euros(line.debit),
                "credit": decimal_euros(line.credit),
                "lettering": line.ecriture_let,
                "lettering_date": line.date_let,
            }
            for line in page.items
        ],
        "next_cursor": page.next_cursor,
    }
