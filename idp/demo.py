"""`idp demo load`: demonstration data for `make run` (development only).

- a small registry of the Île-de-France council, loaded through the councils' own import
  (`registry_import.import_file`), one entry per signup outcome (match, no email on file,
  struck off, suspended, already claimed, other categories);
- accounts: a collaborator (« Autre »), a pending one, an expert-comptable linked to their
  registry entry, and the council's import administrator.

Idempotent: what exists is left as it is (an account's password may have been changed through
the pages since; the command says so). Refused in production, where a known password would be
a hole.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import click
from flask.cli import AppGroup

from idp.accounts.models import User, UserStatus
from idp.config import settings

demo_cli = AppGroup("demo", help="Demonstration data (development only).")


@dataclass(frozen=True)
class DemoAccount:
    username: str
    email: str
    given_name: str
    family_name: str
    status: UserStatus
    password: str
    registration_number: str | None = None  # linked to this registry entry (its profile)
    council_admin: str | None = None  # administrator of this council's imports


DEMO_PASSWORD = "lanterne boussole rivage 27"  # noqa: S105 - printed on purpose, dev only

DEMO_ACCOUNTS = (
    DemoAccount(
        "demo.collaborateur",
        "demo.collaborateur@example.org",
        "Camille",
        "Martin",
        UserStatus.ACTIVE,
        DEMO_PASSWORD,
    ),
    DemoAccount(
        "demo.en-attente",
        "demo.en-attente@example.org",
        "Dominique",
        "Bernard",
        UserStatus.PENDING,
        DEMO_PASSWORD,
    ),
    DemoAccount(
        "demo.expert",
        "demo.expert@example.org",
        "Hélène",
        "Rousseau",
        UserStatus.ACTIVE,
        DEMO_PASSWORD,
        registration_number="75000004",
    ),
    # People of the client portal's demo companies (`portal demo load` invites these emails).
    DemoAccount(
        "demo.salarie",
        "demo.salarie@example.org",
        "Lucas",
        "Moreau",
        UserStatus.ACTIVE,
        DEMO_PASSWORD,
    ),
    DemoAccount(
        "demo.garage",
        "demo.garage@example.org",
        "Nadia",
        "Leroy",
        UserStatus.ACTIVE,
        DEMO_PASSWORD,
    ),
    DemoAccount(
        "demo.conseil",
        "demo.conseil@example.org",
        "Claire",
        "Dubois",
        UserStatus.ACTIVE,
        DEMO_PASSWORD,
        council_admin="IDF",
    ),
)

DEMO_COUNCIL = "IDF"
DEMO_REGISTRY_FILE = "demo-tableau-idf.csv"
# The file as the council's spreadsheet saves it; one entry per signup outcome.
DEMO_REGISTRY_CSV = """\
N° d'inscription;Nom;Prénom(s);Date de naissance;Courriel;Catégorie;Statut;Cabinet;SIREN
75000001;LEFÈVRE;Jean-François;12/04/1975;jfl@example.org;Expert-comptable;Inscrit;Lefèvre SAS;
75000002;D'ARCY;Anne;03/09/1982;;Expert-comptable;Inscrit;;
75000003;DURAND;Paul;21/01/1960;p.durand@example.org;Expert-comptable;Radié;;
75000004;ROUSSEAU;Hélène;05/06/1978;demo.expert@example.org;Expert-comptable;Inscrit;Rousseau Audit;
75000005;NGUYEN;Thi Mai;14/11/1998;mai.nguyen@example.org;Expert-comptable stagiaire;Inscrit;;
75000006;MARTIN;Sophie;30/07/1970;s.martin@example.org;Salarié d'AGC (83 ter);Inscrit;;
75000007;BERNARD;Luc;02/02/1950;luc.bernard@example.org;Expert-comptable honoraire;Inscrit;;
75000008;PETIT;Claire;17/10/1985;c.petit@example.org;Expert-comptable;Suspendu;;
"""
# What `make run` prints for trying signup by profile (name typed, birth date).
DEMO_SIGNUP_HINTS = (
    ("Expert-comptable", "lef", "12/04/1975", "compte créé, email d'activation"),
    ("Expert-comptable", "d'arcy", "03/09/1982", "aucune adresse email au tableau"),
    ("Expert-comptable", "rous", "05/06/1978", "inscription déjà reliée à un compte"),
    ("Expert-comptable", "durand", "21/01/1960", "radié"),
)


def load_demo_registry() -> str:
    """Import the demo registry file once, as a council would; say what was done (French)."""
    from sqlalchemy import select

    from idp.audit.services import SYSTEM
    from idp.extensions import db
    from idp.registry.models import RegistryImport
    from registry_import.service import import_file

    done = db.session.scalar(
        select(RegistryImport.id).where(RegistryImport.file_name == DEMO_REGISTRY_FILE).limit(1)
    )
    if done is not None:
        return "déjà importé"
    outcome = import_file(
        db.session,
        io.BytesIO(DEMO_REGISTRY_CSV.encode("cp1252")),
        file_name=DEMO_REGISTRY_FILE,
        council_code=DEMO_COUNCIL,
        actor=SYSTEM,
    )
    if outcome.errors:  # the demo file is ours: a refusal is a bug
        raise click.ClickException("; ".join(str(error) for error in outcome.errors))
    db.session.commit()
    return f"{outcome.record.added} inscriptions ajoutées"


def load_demo_accounts() -> list[tuple[DemoAccount, str]]:
    """Create the missing demo accounts; return each account with what was done (French)."""
    from idp.accounts import services
    from idp.audit.services import SYSTEM
    from idp.extensions import db

    if settings().is_production:
        raise click.ClickException("Les données de démonstration sont refusées en production.")
    outcome = []
    for account in DEMO_ACCOUNTS:
        user = services.get_user_by_username(db.session, account.username)
        if user is None:
            new = services.NewAccount(
                account.username,
                account.email,
                account.given_name,
                account.family_name,
                account.password,
            )
            user = services.create_account(
                db.session, new, active=account.status == UserStatus.ACTIVE, actor=SYSTEM
            )
            db.session.commit()
            done = "créé"
        elif services.password_hasher().verify(user.password_hash, account.password):
            done = "existe déjà"
        else:
            done = "existe déjà, mot de passe changé depuis (« Mot de passe oublié » le rétablit)"
        if user.status == UserStatus.ACTIVE.value and user.email_verified_at is None:
            # As if activated through their email: relying parties may trust `email_verified`
            # (the client portal attaches invitations by verified email).
            user.email_verified_at = user.activated_at
            db.session.commit()
        _link_registry_and_role(user, account)
        outcome.append((account, f"{done}, statut {user.status}"))
    return outcome


def _link_registry_and_role(user: User, account: DemoAccount) -> None:
    """The demo account's registry claim and council role, when it has them and lacks them."""
    from idp.audit.services import SYSTEM
    from idp.extensions import db
    from idp.registry import services as registry
    from idp.registry.models import ProfileClaim

    if account.registration_number is not None:
        entry = registry.entry_by_registration_number(db.session, account.registration_number)
        if entry is not None and registry.claim_for_entry(db.session, entry.id) is None:
            user.profile = entry.category
            db.session.add(ProfileClaim(user_id=user.id, registry_entry_id=entry.id))
    if account.council_admin is not None:
        council = registry.council_by_code(db.session, account.council_admin)
        if not registry.can_administer(db.session, user.id, council):
            registry.grant_council_role(db.session, user.id, council, actor=SYSTEM)
    db.session.commit()


@demo_cli.command("load")
def load() -> None:
    """Create the demonstration registry and accounts (idempotent; refused in production)."""
    if settings().is_production:
        raise click.ClickException("Les données de démonstration sont refusées en production.")
    click.echo(f"registre {DEMO_COUNCIL}\t{DEMO_REGISTRY_FILE}\t{load_demo_registry()}")
    for account, done in load_demo_accounts():
        click.echo(f"{account.username}\t{account.email}\t{done}")
