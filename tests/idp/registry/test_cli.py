"""The `idp registry` commands (idp/cli.py): councils, council administrators, contacts."""

from __future__ import annotations

from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.registry import services
from idp.registry.models import CouncilAdministrator
from tests.factories import create_user


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["registry", *args])


def roles() -> list[tuple[int, str | None]]:
    db.session.expire_all()
    return [
        (role.user_id, role.council.code if role.council else None)
        for role in db.session.scalars(select(CouncilAdministrator))
    ]


def test_cli_registry_councils_lists_the_sixteen(app):
    result = run(app, "councils")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 16
    idf = next(line for line in lines if line.startswith("IDF\t"))
    assert "Paris Île-de-France" in idf


def test_cli_registry_grant_and_revoke_council_admin(app):
    user = create_user("conseil.idf")
    result = run(app, "grant-admin", "conseil.idf", "--council", "idf")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "conseil.idf\tIDF\taccordé"
    assert roles() == [(user.id, "IDF")]
    again = run(app, "grant-admin", "conseil.idf", "--council", "IDF")
    assert again.exit_code == 0 and "déjà accordé" in again.output
    assert roles() == [(user.id, "IDF")]
    listed = run(app, "admins")
    assert listed.output.startswith("conseil.idf\tIDF\t")
    result = run(app, "revoke-admin", "conseil.idf", "--council", "IDF")
    assert result.exit_code == 0 and "retiré" in result.output
    assert roles() == []
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject_id == user.id).order_by(AuditEvent.id)
    ).all()
    kinds = [(e.event_type, e.actor_kind, e.details.get("council")) for e in events]
    assert ("council_role_granted", "cli", "IDF") in kinds
    assert ("council_role_revoked", "cli", "IDF") in kinds


def test_cli_registry_grant_national_admin_is_idempotent(app):
    user = create_user("paul.national")
    assert run(app, "grant-admin", "paul.national", "--national").exit_code == 0
    assert run(app, "grant-admin", "paul.national", "--national").exit_code == 0
    assert roles() == [(user.id, None)]
    assert len(services.administered_councils(db.session, user.id)) == 16
    assert "paul.national\tnational" in run(app, "admins").output
    assert run(app, "revoke-admin", "paul.national", "--national").exit_code == 0
    assert roles() == []


def test_cli_registry_admin_commands_refuse_bad_input(app):
    create_user("conseil.idf")
    neither = run(app, "grant-admin", "conseil.idf")
    both = run(app, "grant-admin", "conseil.idf", "--council", "IDF", "--national")
    assert neither.exit_code == both.exit_code == 2
    assert "Indiquez soit --council CODE, soit --national" in neither.output
    unknown_user = run(app, "grant-admin", "personne", "--council", "IDF")
    assert unknown_user.exit_code == 1 and "Aucun compte avec l'identifiant « personne »" in (
        unknown_user.output
    )
    unknown_council = run(app, "grant-admin", "conseil.idf", "--council", "XYZ")
    assert unknown_council.exit_code == 1 and "Conseil régional inconnu" in unknown_council.output
    not_granted = run(app, "revoke-admin", "conseil.idf", "--council", "IDF")
    assert not_granted.exit_code == 1 and "n'a pas le rôle" in not_granted.output
    assert roles() == []


def test_cli_registry_council_update_changes_contacts(app):
    result = run(
        app,
        "council-update",
        "idf",
        "--email",
        "Tableau@Oec-Paris.example",
        "--phone",
        "01 55 04 31 31",
        "--website",
        "https://www.oec-paris.example/",
    )
    assert result.exit_code == 0, result.output
    council = services.council_by_code(db.session, "IDF")
    db.session.refresh(council)
    assert council.email == "tableau@oec-paris.example"
    assert council.phone == "01 55 04 31 31" and council.website == "https://www.oec-paris.example/"
    assert "IDF\temail\t" in result.output
    again = run(app, "council-update", "IDF", "--phone", "01 55 04 31 31")
    assert again.exit_code == 0 and "aucune coordonnée changée" in again.output


def test_cli_registry_council_update_refuses_bad_values(app):
    council = services.council_by_code(db.session, "IDF")
    before = (council.email, council.website, council.phone)
    bad_email = run(app, "council-update", "IDF", "--email", "pas-une-adresse")
    assert bad_email.exit_code == 1 and "Adresse email invalide." in bad_email.output
    bad_site = run(app, "council-update", "IDF", "--website", "javascript:alert(1)")
    assert bad_site.exit_code == 1 and "https://" in bad_site.output
    control = run(app, "council-update", "IDF", "--phone", "01\u202e23")
    assert control.exit_code == 1 and "Caractères non autorisés." in control.output
    nothing = run(app, "council-update", "IDF")
    assert nothing.exit_code == 2 and "au moins une coordonnée" in nothing.output
    unknown = run(app, "council-update", "XYZ", "--phone", "01")
    assert unknown.exit_code == 1 and "Conseil régional inconnu" in unknown.output
    db.session.expire_all()
    council = services.council_by_code(db.session, "IDF")
    assert (council.email, council.website, council.phone) == before
