"""idp/delegation/services.py: the use cases and their rules (SECURITY.md 37-39), their audit
events and emails; the registry import that suspends a grantor (38); the grant to an email
that waits for its account; the expiry notice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from idp.accounts import services as accounts
from idp.accounts.models import UserStatus
from idp.audit.models import AuditEvent, AuditEventType
from idp.database import utcnow
from idp.delegation import rules, services
from idp.delegation.models import Delegation, DelegationStatus
from idp.delegation.services import DelegationError
from idp.extensions import db
from idp.registry.catalog import RegistryStatus
from tests.factories import create_user
from tests.helpers import SIGNUP_PASSWORD, outbox
from tests.idp.delegation.support import (
    agc_president,
    agc_staff,
    collaborator,
    entry_of,
    expert,
    service,
)
from tests.registry_import.files import csv_bytes, run_import
from tests.registry_import.files import member as registry_row

pytestmark = pytest.mark.usefixtures("app")


def _events(event_type: AuditEventType) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == event_type.value)
            .order_by(AuditEvent.id)
        )
    )


def _requested(*client_names: str):  # type: ignore[no-untyped-def]
    grantor, grantee = expert(), collaborator()
    clients = [service(name) for name in client_names or ("Comptexpert",)]
    delegation = services.request_delegation(
        db.session, grantee, grantor, [c.client_id for c in clients], "  Pour la saisie.  "
    )
    db.session.commit()
    return delegation, grantor, grantee, clients


# --- request ---------------------------------------------------------------------------------


def test_a_request_is_addressed_to_the_expert_comptable_audited_on_both_sides_and_emailed() -> None:
    delegation, grantor, grantee, (comptexpert,) = _requested()

    assert delegation.status == DelegationStatus.REQUESTED
    assert delegation.message == "Pour la saisie."
    assert delegation.client_ids() == [comptexpert.client_id]
    events = _events(AuditEventType.DELEGATION_REQUESTED)
    assert {e.subject_id for e in events} == {grantor.id, grantee.id}
    assert all(e.actor_id == grantee.id and e.actor_kind == "user" for e in events)
    assert all(e.details["delegation"] == delegation.public_id for e in events)
    (mail,) = outbox()
    assert mail.recipient == grantor.email and mail.template == "delegation/requested"
    assert f"/account/delegations/{delegation.public_id}" in mail.body_text
    assert "http://" in mail.body_text or "https://" in mail.body_text


def test_nobody_asks_a_delegation_of_themselves() -> None:
    grantor = expert()
    with pytest.raises(DelegationError):
        services.request_delegation(db.session, grantor, grantor, [service().client_id], "")


def test_a_request_to_someone_who_may_not_grant_is_refused() -> None:
    comptexpert, asker = service(), collaborator()
    struck_off = expert("radie", status=RegistryStatus.RADIE)
    for not_a_grantor in (collaborator("autre.collab"), struck_off):
        with pytest.raises(DelegationError) as refused:
            services.request_delegation(
                db.session, asker, not_a_grantor, [comptexpert.client_id], ""
            )
        assert "expert-comptable inscrit" in refused.value.message


def test_a_request_names_at_least_one_service_that_accepts_delegations() -> None:
    grantor, grantee = expert(), collaborator()
    closed = service("Site fermé", accepts=False)
    with pytest.raises(DelegationError, match="au moins un service"):
        services.request_delegation(db.session, grantee, grantor, [], "")
    with pytest.raises(DelegationError, match="n'accepte pas"):
        services.request_delegation(db.session, grantee, grantor, [closed.client_id], "")
    with pytest.raises(DelegationError, match="n'accepte pas"):
        services.request_delegation(db.session, grantee, grantor, ["inconnu"], "")


def test_a_request_message_is_limited() -> None:
    with pytest.raises(DelegationError, match="1000"):
        services.request_delegation(
            db.session, collaborator(), expert(), [service().client_id], "x" * 1001
        )


# --- approve, refuse (SECURITY.md 37, 39) ----------------------------------------------------


def test_approval_defaults_to_one_year_and_tells_the_collaborator() -> None:
    delegation, grantor, grantee, _clients = _requested()
    before = utcnow()

    services.approve(db.session, grantor, delegation)
    db.session.commit()

    assert delegation.status == DelegationStatus.ACTIVE
    assert delegation.ends_at is not None
    assert before + timedelta(days=365) <= delegation.ends_at <= utcnow() + timedelta(days=365)
    assert rules.valid_delegations(db.session, grantee) == [delegation]
    approved = _events(AuditEventType.DELEGATION_APPROVED)
    assert {e.subject_id for e in approved} == {grantor.id, grantee.id}
    assert outbox()[-1].recipient == grantee.email
    assert outbox()[-1].template == "delegation/approved"


def test_approval_may_narrow_the_services_never_widen_them() -> None:
    delegation, grantor, _grantee, (a, b) = _requested("Comptexpert", "Portail des missions")
    extra = service("Jedeclare")

    with pytest.raises(DelegationError, match="services demandés"):
        services.approve(db.session, grantor, delegation, client_ids=[a.client_id, extra.client_id])
    db.session.rollback()
    with pytest.raises(DelegationError, match="au moins un service"):
        services.approve(db.session, grantor, delegation, client_ids=[])
    db.session.rollback()

    services.approve(db.session, grantor, delegation, client_ids=[b.client_id])
    db.session.commit()
    assert delegation.client_ids() == [b.client_id]


def test_the_end_date_is_at_most_three_years_and_in_the_future() -> None:
    delegation, grantor, _grantee, _clients = _requested()
    with pytest.raises(DelegationError, match="trois ans"):
        services.approve(
            db.session, grantor, delegation, ends_at=utcnow() + timedelta(days=3 * 365 + 2)
        )
    db.session.rollback()
    with pytest.raises(DelegationError, match="futur"):
        services.approve(db.session, grantor, delegation, ends_at=utcnow() - timedelta(days=1))
    db.session.rollback()
    services.approve(db.session, grantor, delegation, ends_at=utcnow() + timedelta(days=3 * 365))


def test_a_collaborator_cannot_approve_their_own_request() -> None:
    delegation, _grantor, grantee, _clients = _requested()
    with pytest.raises(DelegationError) as refused:
        services.approve(db.session, grantee, delegation)
    assert refused.value.status == 404
    db.session.rollback()
    assert db.session.get(Delegation, delegation.id).status == DelegationStatus.REQUESTED  # type: ignore[union-attr]


def test_another_expert_comptable_cannot_approve_a_request_not_addressed_to_them() -> None:
    delegation, _grantor, _grantee, _clients = _requested()
    with pytest.raises(DelegationError) as refused:
        services.approve(db.session, expert("autre.expert"), delegation)
    assert refused.value.status == 404


def test_a_grantor_struck_off_since_the_request_cannot_approve_it() -> None:
    delegation, grantor, _grantee, _clients = _requested()
    entry_of(grantor).status = "radie"
    db.session.commit()
    with pytest.raises(DelegationError) as refused:
        services.approve(db.session, grantor, delegation)
    assert refused.value.status == 403


def test_a_request_is_decided_once() -> None:
    delegation, grantor, _grantee, _clients = _requested()
    services.refuse(db.session, grantor, delegation, "Vous n'êtes pas du cabinet.")
    db.session.commit()
    with pytest.raises(DelegationError) as again:
        services.approve(db.session, grantor, delegation)
    assert again.value.status == 409


def test_a_refusal_keeps_its_reason_and_tells_the_collaborator() -> None:
    delegation, grantor, grantee, _clients = _requested()
    services.refuse(db.session, grantor, delegation, "  Vous n'êtes pas du cabinet. ")
    db.session.commit()
    assert delegation.status == DelegationStatus.REFUSED
    assert delegation.refusal_reason == "Vous n'êtes pas du cabinet."
    mail = outbox()[-1]
    assert mail.recipient == grantee.email and "Vous n'êtes pas du cabinet." in mail.body_text


# --- grant ------------------------------------------------------------------------------------


def test_an_expert_comptable_grants_directly_by_username() -> None:
    grantor, grantee, comptexpert = expert(), collaborator(), service()
    delegation = services.grant(db.session, grantor, grantee.username, [comptexpert.client_id])
    db.session.commit()
    assert delegation.grantee_id == grantee.id and rules.is_valid(db.session, delegation)
    assert outbox()[-1].template == "delegation/granted"


def test_a_grant_to_oneself_is_refused_by_username_and_by_email() -> None:
    grantor, comptexpert = expert(), service()
    for name in (grantor.username, grantor.email.upper()):
        with pytest.raises(DelegationError) as refused:
            services.grant(db.session, grantor, name, [comptexpert.client_id])
        assert refused.value.status == 403


def test_only_a_grantor_grants() -> None:
    comptexpert = service()
    with pytest.raises(DelegationError) as refused:
        services.grant(db.session, collaborator(), "x@cabinet.example", [comptexpert.client_id])
    assert refused.value.status == 403


def test_a_grant_to_an_unknown_username_is_refused() -> None:
    with pytest.raises(DelegationError, match="Aucun compte"):
        services.grant(db.session, expert(), "personne.inconnue", [service().client_id])


def test_a_president_d_agc_grants_to_the_agc_staff_only() -> None:
    president, staff, comptexpert = agc_president(), agc_staff(), service()
    services.grant(db.session, president, staff.username, [comptexpert.client_id])
    with pytest.raises(DelegationError) as refused:
        services.grant(db.session, president, collaborator().username, [comptexpert.client_id])
    assert refused.value.status == 403


def test_a_grant_to_an_email_without_account_waits_then_attaches_on_activation() -> None:
    grantor, comptexpert = expert(), service()
    delegation = services.grant(
        db.session, grantor, "Nouvelle.Collab@Cabinet.example", [comptexpert.client_id]
    )
    db.session.commit()
    assert delegation.grantee_id is None
    assert delegation.grantee_email == "nouvelle.collab@cabinet.example"
    (invitation,) = [m for m in outbox() if m.template == "delegation/invitation"]
    assert invitation.recipient == "nouvelle.collab@cabinet.example"
    assert "/delegations/invitation/" in invitation.body_text

    newcomer = accounts.register_user(
        db.session,
        accounts.NewAccount(
            "nouvelle.collab", "nouvelle.collab@cabinet.example", "Anaïs", "Roux", SIGNUP_PASSWORD
        ),
    )
    db.session.commit()
    assert rules.valid_delegations(db.session, newcomer) == []  # pending: not yet
    (activation,) = [m for m in outbox() if m.template == "activation"]
    link = next(w for w in activation.body_text.split() if "/activate/" in w)
    token = link.rsplit("/", 1)[1]
    accounts.activate(db.session, token, SIGNUP_PASSWORD, ip="192.0.2.1")
    db.session.commit()

    db.session.refresh(delegation)
    assert delegation.grantee_id == newcomer.id and delegation.grantee_email is None
    assert rules.valid_delegations(db.session, newcomer) == [delegation]
    assert {e.subject_id for e in _events(AuditEventType.DELEGATION_ATTACHED)} == {
        grantor.id,
        newcomer.id,
    }


def test_an_agc_invitation_does_not_attach_to_someone_outside_the_agc() -> None:
    president, comptexpert = agc_president(), service()
    services.grant(db.session, president, "inconnu@cabinet.example", [comptexpert.client_id])
    db.session.commit()
    outsider = create_user("outsider", email="inconnu@cabinet.example")
    assert services.attach_pending(db.session, outsider) == 0


# --- end --------------------------------------------------------------------------------------


def _granted():  # type: ignore[no-untyped-def]
    grantor, grantee, comptexpert = expert(), collaborator(), service()
    delegation = services.grant(db.session, grantor, grantee.username, [comptexpert.client_id])
    db.session.commit()
    return delegation, grantor, grantee


def test_the_grantor_revokes_and_the_collaborator_is_told() -> None:
    delegation, grantor, grantee = _granted()
    services.end(db.session, grantor, delegation)
    db.session.commit()
    assert (delegation.status, delegation.end_reason) == ("ended", "revoked")
    assert rules.valid_delegations(db.session, grantee) == []
    assert outbox()[-1].recipient == grantee.email and outbox()[-1].template == "delegation/ended"


def test_the_collaborator_renounces() -> None:
    delegation, grantor, grantee = _granted()
    services.end(db.session, grantee, delegation)
    db.session.commit()
    assert delegation.end_reason == "renounced" and outbox()[-1].recipient == grantor.email


def test_an_outsider_cannot_end_a_delegation_and_an_ended_one_stays_ended() -> None:
    delegation, grantor, _grantee = _granted()
    with pytest.raises(DelegationError) as outsider:
        services.end(db.session, expert("autre.expert"), delegation)
    assert outsider.value.status == 404
    services.end(db.session, grantor, delegation)
    with pytest.raises(DelegationError) as again:
        services.end(db.session, grantor, delegation)
    assert again.value.status == 409


def test_a_request_is_withdrawn_by_its_collaborator_and_refused_not_ended_by_the_grantor() -> None:
    delegation, grantor, grantee, _clients = _requested()
    with pytest.raises(DelegationError, match="Refusez"):
        services.end(db.session, grantor, delegation)
    services.end(db.session, grantee, delegation)
    assert delegation.end_reason == "withdrawn"


# --- SECURITY.md 38: a registry import suspends the grantor at once ----------------------------


@pytest.mark.parametrize("status", ["Radié", "Suspendu"])
def test_a_registry_import_that_strikes_off_the_grantor_suspends_then_restores(status: str) -> None:
    grantor = expert(registration_number="100001")
    grantee, comptexpert = collaborator(), service()
    delegation = services.grant(db.session, grantor, grantee.username, [comptexpert.client_id])
    db.session.commit()
    row = {"email": grantor.email}

    run_import(csv_bytes([registry_row("100001", status=status, **row)]))
    assert rules.valid_delegations(db.session, grantee) == []
    assert rules.is_suspended(db.session, delegation)

    run_import(csv_bytes([registry_row("100001", status="Inscrit", **row)]))
    assert rules.valid_delegations(db.session, grantee) == [delegation]


def test_a_reinstatement_after_the_end_date_restores_nothing() -> None:
    grantor = expert(registration_number="100001")
    grantee, comptexpert = collaborator(), service()
    services.grant(
        db.session,
        grantor,
        grantee.username,
        [comptexpert.client_id],
        ends_at=utcnow() + timedelta(days=10),
    )
    db.session.commit()
    run_import(csv_bytes([registry_row("100001", status="Radié", email=grantor.email)]))
    run_import(csv_bytes([registry_row("100001", status="Inscrit", email=grantor.email)]))
    assert rules.valid_delegations(db.session, grantee, now=utcnow() + timedelta(days=11)) == []


# --- expiry notice ----------------------------------------------------------------------------


def test_the_expiry_notice_goes_to_both_parties_once_two_weeks_before() -> None:
    grantor, grantee, comptexpert = expert(), collaborator(), service()
    soon = services.grant(
        db.session,
        grantor,
        grantee.username,
        [comptexpert.client_id],
        ends_at=utcnow() + timedelta(days=13),
    )
    services.grant(
        db.session,
        grantor,
        collaborator("plus.tard").username,
        [comptexpert.client_id],
        ends_at=utcnow() + timedelta(days=20),
    )
    db.session.commit()
    before = len(outbox())

    assert services.send_expiry_notices(db.session) == 1
    db.session.commit()
    notices = outbox()[before:]
    assert sorted(m.recipient for m in notices) == sorted([grantor.email, grantee.email])
    assert all(m.template == "delegation/expiring" for m in notices)
    assert soon.expiry_notice_sent_at is not None

    assert services.send_expiry_notices(db.session) == 0  # once
    assert services.send_expiry_notices(db.session, now=utcnow() + timedelta(days=7)) == 1


def test_no_expiry_notice_for_an_ended_delegation() -> None:
    delegation, grantor, _grantee = _granted()
    services.end(db.session, grantor, delegation)
    db.session.commit()
    assert services.send_expiry_notices(db.session, now=utcnow() + timedelta(days=360)) == 0


def test_an_inactive_account_attaches_nothing() -> None:
    pending = create_user("pas.actif", status=UserStatus.PENDING)
    assert services.attach_pending(db.session, pending) == 0
