"""idp/delegation/rules.py: who may grant to whom (SECURITY.md 37), which delegations count
right now (38), and what a delegation covers (39)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from idp.accounts.models import UserStatus
from idp.database import utcnow
from idp.delegation import rules, services
from idp.extensions import db
from idp.registry.catalog import RegistryStatus
from tests.factories import create_user
from tests.idp.delegation.support import (
    agc_president,
    agc_staff,
    collaborator,
    expert,
    service,
    set_registry_status,
)

pytestmark = pytest.mark.usefixtures("app")


# --- SECURITY.md 37: who grants -------------------------------------------------------------


def test_an_active_expert_comptable_with_a_live_claim_may_grant() -> None:
    assert rules.can_grant(db.session, expert())


@pytest.mark.parametrize("status", [RegistryStatus.SUSPENDU, RegistryStatus.RADIE])
def test_a_suspended_or_struck_off_expert_comptable_may_not_grant(status: RegistryStatus) -> None:
    assert not rules.can_grant(db.session, expert(status=status))


def test_an_expert_comptable_whose_account_is_disabled_may_not_grant() -> None:
    user = expert()
    user.status = UserStatus.DISABLED.value
    db.session.commit()
    assert not rules.can_grant(db.session, user)


def test_a_profile_typed_without_a_registry_claim_grants_nothing() -> None:
    pretender = create_user("faux.expert")
    pretender.profile = "expert-comptable"
    db.session.commit()
    assert not rules.can_grant(db.session, pretender)
    assert rules.grant_refusal(db.session, pretender, collaborator()) is not None


def test_a_collaborator_or_agc_staff_may_not_grant() -> None:
    assert not rules.can_grant(db.session, collaborator())
    assert not rules.can_grant(db.session, agc_staff())


def test_nobody_grants_to_themselves() -> None:
    grantor = expert()
    refusal = rules.grant_refusal(db.session, grantor, grantor)
    assert refusal == "Vous ne pouvez pas vous déléguer vos propres droits."


def test_an_inactive_account_receives_no_delegation() -> None:
    pending = create_user("en.attente", status=UserStatus.PENDING)
    refusal = rules.grant_refusal(db.session, expert(), pending)
    assert refusal is not None and "pas actif" in refusal


def test_an_expert_comptable_grants_to_a_collaborator() -> None:
    assert rules.grant_refusal(db.session, expert(), collaborator()) is None


def test_a_president_d_agc_grants_only_to_the_agc_staff() -> None:
    president = agc_president()
    staff = agc_staff()
    other_agc_staff = agc_staff("autre.agc", siren="552100554")

    assert rules.can_grant(db.session, president)
    assert rules.grant_refusal(db.session, president, staff) is None
    assert "AGC" in (rules.grant_refusal(db.session, president, other_agc_staff) or "")
    assert "AGC" in (rules.grant_refusal(db.session, president, collaborator()) or "")


def test_a_struck_off_agc_staff_member_is_staff_no_more() -> None:
    president = agc_president()
    staff = agc_staff()
    set_registry_status(staff, RegistryStatus.RADIE)
    assert rules.grant_refusal(db.session, president, staff) is not None


def test_an_agc_delegation_ends_when_its_holder_leaves_the_agc_staff() -> None:
    """A président d'AGC delegates to the AGC's staff only: a holder struck off the AGC's
    registry entry holds the delegation no more (read at use, like the grantor's standing)."""
    president, staff, comptexpert = agc_president(), agc_staff(), service()
    delegation = services.grant(db.session, president, staff.username, [comptexpert.client_id])
    db.session.commit()
    assert rules.valid_delegations(db.session, staff, client=comptexpert) == [delegation]
    set_registry_status(staff, RegistryStatus.RADIE)
    assert rules.valid_delegations(db.session, staff, client=comptexpert) == []
    assert rules.is_suspended(db.session, delegation)


# --- SECURITY.md 38: what counts now ---------------------------------------------------------


def _active(**kwargs):  # type: ignore[no-untyped-def]
    grantor, grantee, comptexpert = expert(), collaborator(), service()
    delegation = services.grant(
        db.session, grantor, grantee.username, [comptexpert.client_id], **kwargs
    )
    db.session.commit()
    return delegation, grantor, grantee, comptexpert


def test_an_active_delegation_within_its_dates_counts() -> None:
    delegation, _grantor, grantee, _client = _active()
    assert rules.is_current(delegation) and rules.is_valid(db.session, delegation)
    assert rules.valid_delegations(db.session, grantee) == [delegation]


def test_an_expired_delegation_counts_no_more() -> None:
    delegation, _grantor, grantee, _client = _active(ends_at=utcnow() + timedelta(days=30))
    later = utcnow() + timedelta(days=31)
    assert not rules.is_current(delegation, later)
    assert rules.valid_delegations(db.session, grantee, now=later) == []


def test_an_ended_delegation_counts_no_more() -> None:
    delegation, grantor, grantee, _client = _active()
    services.end(db.session, grantor, delegation)
    db.session.commit()
    assert rules.valid_delegations(db.session, grantee) == []


def test_a_suspended_grantor_suspends_the_delegation_and_reinstatement_restores_it() -> None:
    delegation, grantor, grantee, _client = _active()
    set_registry_status(grantor, RegistryStatus.SUSPENDU)
    assert rules.is_suspended(db.session, delegation)
    assert rules.valid_delegations(db.session, grantee) == []

    set_registry_status(grantor, RegistryStatus.INSCRIT)
    assert not rules.is_suspended(db.session, delegation)
    assert rules.valid_delegations(db.session, grantee) == [delegation]


def test_a_pending_request_counts_not() -> None:
    grantor, grantee, comptexpert = expert(), collaborator(), service()
    services.request_delegation(db.session, grantee, grantor, [comptexpert.client_id], "")
    db.session.commit()
    assert rules.valid_delegations(db.session, grantee) == []


# --- SECURITY.md 39: only the services it names ----------------------------------------------


def test_a_delegation_covers_only_the_services_it_names() -> None:
    delegation, _grantor, grantee, comptexpert = _active()
    other = service("Portail des missions")

    assert rules.valid_delegations(db.session, grantee, client=comptexpert) == [delegation]
    assert rules.valid_delegations(db.session, grantee, client=other) == []
    assert rules.covers(delegation, [comptexpert.client_id])
    assert not rules.covers(delegation, [comptexpert.client_id, other.client_id])
