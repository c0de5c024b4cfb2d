"""`portal demo load`: the portal's demonstration data for `make run` (development only).

A firm and two client companies, and invitations for the IdP's demo accounts (idp/demo.py),
accepted at their first login through Sésame (their verified email is the invited one):

- demo.expert (Hélène Rousseau, expert-comptable): staff of the firm « Rousseau Audit »;
- demo.collaborateur (Camille Martin): admin of « Boulangerie Martin », every module;
- demo.salarie (Lucas Moreau): user of « Boulangerie Martin », deposits only;
- demo.garage (Nadia Leroy): admin of « Garage Leroy », every module.

Idempotent: an existing firm or company is left as it is. Refused in production.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from client_portal_rp.companies import add_company, create_firm, find_firm
from client_portal_rp.extensions import db
from client_portal_rp.invitations import invite
from client_portal_rp.models import Company, Invitation, Module, Role

demo_cli = AppGroup("demo", help="Demonstration data (development only).")

DEMO_FIRM = "Rousseau Audit"
DEMO_ACTOR = "Données de démonstration"


@dataclass(frozen=True)
class DemoCompany:
    siren: str
    name: str


BAKERY = DemoCompany("732829320", "Boulangerie Martin")
GARAGE = DemoCompany("552100554", "Garage Leroy")
# (email, company or None for the firm's staff, role, modules)
DEMO_PEOPLE: tuple[tuple[str, DemoCompany | None, Role, frozenset[Module]], ...] = (
    ("demo.expert@example.org", None, Role.USER, frozenset()),
    ("demo.collaborateur@example.org", BAKERY, Role.ADMIN, frozenset(Module)),
    ("demo.salarie@example.org", BAKERY, Role.USER, frozenset({Module.DEPOSIT})),
    ("demo.garage@example.org", GARAGE, Role.ADMIN, frozenset(Module)),
)


def load() -> list[str]:
    """Create what is missing; return what was done, in French."""
    done: list[str] = []
    firm = find_firm(DEMO_FIRM)
    if firm is None:
        firm = create_firm(DEMO_FIRM)
        done.append(f"cabinet « {DEMO_FIRM} » créé")
    companies: dict[str, Company] = {}
    for demo in (BAKERY, GARAGE):
        company = db.session.scalar(select(Company).where(Company.siren == demo.siren))
        if company is None:
            company = add_company(firm, siren=demo.siren, name=demo.name, actor_label=DEMO_ACTOR)
            done.append(f"entreprise « {demo.name} » créée")
        companies[demo.siren] = company
    for email, demo_company, role, modules in DEMO_PEOPLE:
        company = companies[demo_company.siren] if demo_company else None
        exists = db.session.scalar(
            select(Invitation.id).where(
                Invitation.email == email,
                Invitation.company_id == company.id if company else Invitation.company_id.is_(None),
            )
        )
        if exists is None:
            new = invite(
                firm=firm,
                company=company,
                email=email,
                name="",
                role=role,
                modules=set(modules),
                invited_by=None,
                actor_label=DEMO_ACTOR,
            )
            # A demo may be opened months after `make run` created it.
            new.invitation.expires_at = new.invitation.created_at + timedelta(days=3650)
            done.append(f"invitation de {email} ({company.name if company else 'cabinet'})")
    db.session.commit()
    return done or ["déjà chargées"]


@demo_cli.command("load")
def load_command() -> None:
    """Load the demonstration data (idempotent)."""
    if current_app.config.get("PORTAL_ENV") == "production":
        raise click.ClickException("Les données de démonstration sont refusées en production.")
    for line in load():
        click.echo(f"portail : {line}")
