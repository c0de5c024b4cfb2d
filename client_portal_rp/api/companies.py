"""The person and their companies: `GET /me`, `GET /companies`, `GET /companies/{id}`."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, Date, List, Nested, String

from client_portal_rp.api import bp
from client_portal_rp.api.auth import api_company, api_user, authenticate, authenticated
from client_portal_rp.models import Module
from client_portal_rp.tenancy import Access, companies_of


class ModuleOut(Schema):
    code = String(required=True, metadata={"description": "depot, compta ou archives"})
    label = String(required=True)
    advanced = Boolean(
        required=True, metadata={"description": "« Sécurité avancée » : jeton acr MFA requis"}
    )


class CompanyOut(Schema):
    id = String(required=True, metadata={"description": "Identifiant public de l'entreprise"})
    name = String(required=True)
    siren = String(required=True)
    role = String(required=True, metadata={"description": "staff, admin ou user"})
    can_manage_accesses = Boolean(required=True)
    modules = List(Nested(ModuleOut), required=True)
    fiscal_year_start = Date(allow_none=True)
    fiscal_year_end = Date(allow_none=True)


class CompanyDetailOut(CompanyOut):
    """One company (a schema class of its own: APIFlask registers an output schema that is
    also nested elsewhere twice)."""


class CompanyListOut(Schema):
    items = List(Nested(CompanyOut), required=True)


class MeOut(Schema):
    subject = String(required=True)
    known = Boolean(
        required=True,
        metadata={"description": "Faux tant que la personne ne s'est jamais connectée au portail"},
    )
    name = String(required=True)
    email = String(required=True)
    advanced = Boolean(required=True, metadata={"description": "Le jeton porte le niveau MFA"})
    scopes = List(String(), required=True)


def company_out(access: Access) -> dict[str, Any]:
    company = access.company
    advanced = company.advanced()
    return {
        "id": company.public_id,
        "name": company.name,
        "siren": company.siren,
        "role": access.role,
        "can_manage_accesses": access.can_manage_accesses,
        "modules": [
            {"code": module.value, "label": module.label, "advanced": module in advanced}
            for module in Module
            if access.has(module)
        ],
        "fiscal_year_start": company.exercice_start,
        "fiscal_year_end": company.exercice_end,
    }


@bp.get("/me")
@bp.output(MeOut)
@bp.doc(summary="La personne du jeton", tags=["Entreprises"])
@authenticated
def me() -> dict[str, Any]:
    token = authenticate()
    user = api_user()
    return {
        "subject": token.subject,
        "known": user is not None,
        "name": user.name if user else "",
        "email": user.email if user else "",
        "advanced": token.advanced,
        "scopes": sorted(token.scopes),
    }


@bp.get("/companies")
@bp.output(CompanyListOut)
@bp.doc(summary="Les entreprises de la personne", tags=["Entreprises"])
@authenticated
def companies() -> dict[str, Any]:
    user = api_user()
    return {"items": [company_out(access) for access in companies_of(user)] if user else []}


@bp.get("/companies/<company_id>")
@bp.output(CompanyDetailOut)
@bp.doc(summary="Une entreprise et ses modules", tags=["Entreprises"], responses=[404])
@api_company()
def company(access: Access) -> dict[str, Any]:
    return company_out(access)
