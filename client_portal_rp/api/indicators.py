"""`GET /api/v1/companies/{id}/indicators`: the key indicators of an exercice, beside the
previous exercice, in the JSON of `portal indicators --json` (fec/indicators.py `as_json`: one
contract for the firm's tools, the CLI and the API).

Rights are the page's (`api_company(Module.COMPTA)`: scope `portal.accounting`, the module's
right, "sécurité avancée" by default). `exercice` is the year the exercice closes; without it,
the latest imported. Amounts are decimal strings in euros (`"1212843.90"`), never floats. Read
from the tables computed at import, never from the FEC's lines.
"""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Integer, List, Nested, String
from apiflask.validators import Range
from flask_babel import lazy_gettext as _l

from client_portal_rp.api import bp
from client_portal_rp.api.auth import api_company
from client_portal_rp.api.fec import no_fec
from client_portal_rp.fec.indicators import ALL_KEYS, as_json, exercices_of, indicators
from client_portal_rp.models import Module
from client_portal_rp.tenancy import Access

TAGS = ["Compta"]
AMOUNT = {"description": "Montant en euros, chaîne décimale (par exemple « 1212843.90 »)"}
EXERCICE_ERROR = _l("L'exercice est une année sur quatre chiffres, par exemple 2024.")


class IndicatorsQuery(Schema):
    exercice = Integer(
        strict=False,
        validate=Range(min=1900, max=2999, error=EXERCICE_ERROR),
        error_messages={"invalid": EXERCICE_ERROR},
        metadata={"description": "Exercice : année de clôture (le dernier importé par défaut)"},
    )


def _figures(cls_name: str, **extra: Any) -> Any:
    """A schema with every indicator as a required decimal string, plus `extra` fields."""
    fields: dict[str, Any] = {key: String(required=True, metadata=AMOUNT) for key in ALL_KEYS}
    return Schema.from_dict({**extra, **fields}, name=cls_name)


MonthOut = _figures(
    "IndicatorsMonth",
    month=String(required=True, metadata={"description": "Mois « AAAA-MM »"}),
)
_EXERCICE_FIELDS = {
    "exercice": Integer(required=True, metadata={"description": "Année de clôture"}),
    "period_start": String(required=True, metadata={"format": "date"}),
    "period_end": String(required=True, metadata={"format": "date"}),
}
PreviousOut = _figures(
    "IndicatorsPrevious",
    **_EXERCICE_FIELDS,
    months=List(Nested(MonthOut), required=True),
)
ChangesOut = Schema.from_dict(
    {
        key: String(
            required=True,
            allow_none=True,
            metadata={"description": "Variation en % (« 12.5 »), null sans exercice précédent"},
        )
        for key in ALL_KEYS
    },
    name="IndicatorsChanges",
)
IndicatorsOut = _figures(
    "Indicators",
    **_EXERCICE_FIELDS,
    months=List(Nested(MonthOut), required=True),
    changes=Nested(ChangesOut, required=True),
    previous=Nested(PreviousOut, required=True, allow_none=True),
)


@bp.get("/companies/<company_id>/indicators")
@bp.doc(
    summary="Indicateurs clés d'un exercice",
    description=(
        "Chiffre d'affaires, charges, résultat, disponibilités, concours bancaires, "
        "trésorerie nette, créances clients et dettes fournisseurs de l'exercice (montants "
        "de l'exercice pour les flux, à la clôture pour les positions) et de chaque mois (fin "
        "de mois pour les positions), l'exercice précédent au même format (ou null) et la "
        "variation en %. Le même JSON que `portal indicators --json`."
    ),
    tags=TAGS,
    responses=[404],
)
@api_company(Module.COMPTA)
@bp.input(IndicatorsQuery, location="query")
@bp.output(IndicatorsOut)
def company_indicators(access: Access, query_data: dict[str, Any]) -> dict[str, Any]:
    exercice = query_data.get("exercice")
    if exercice is None:
        years = exercices_of(access.company)
        exercice = years[0] if years else None
    found = indicators(access.company, exercice) if exercice is not None else None
    if found is None:
        raise no_fec(exercice)
    return as_json(found)
