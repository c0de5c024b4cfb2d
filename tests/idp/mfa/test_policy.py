"""idp/mfa/policy.py and `idp mfa policy`: which authorization requests need a second factor
(ADR 0022, « Which requests need MFA »), and the Order's per-profile policy (audited, CLI
actor, French refusal of an unknown profile)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.audit.services import CLI, Actor
from idp.extensions import db
from idp.mfa import policy
from idp.mfa.models import MfaProfilePolicy
from idp.oidc.acr import ACR_ADVANCED, ACR_BASIC
from idp.oidc.models import OAuthClient
from idp.profiles.catalog import Profile
from idp.registry.catalog import RegistryStatus
from idp.registry.models import ProfileClaim
from tests.factories import create_registry_entry, create_user

MFA = ACR_ADVANCED
PWD = ACR_BASIC


def _claims(member: str, acr: object) -> dict[str, object]:
    return {member: {"acr": acr}}


# --- what the request asks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("acr_values", "needs_mfa"),
    [
        (None, False),
        ("", False),
        (MFA, True),
        (f"urn:other {MFA}", True),  # unknown values ignored
        (f"{PWD} {MFA}", False),  # both accepted: a preference
        (f"{MFA} {PWD}", False),
        (PWD, False),
        ("urn:other:loa:3", False),
    ],
)
def test_policy_acr_values(acr_values, needs_mfa):
    requirement = policy.requested_acr(acr_values, None)
    assert requirement.needs_mfa is needs_mfa
    assert requirement.essential is False
    assert requirement.level == (MFA if needs_mfa else PWD)


@pytest.mark.parametrize("member", ["id_token", "userinfo"])
@pytest.mark.parametrize(
    ("acr", "needs_mfa", "essential"),
    [
        ({"essential": True, "values": [MFA]}, True, True),
        ({"essential": True, "value": MFA}, True, True),
        ({"essential": True, "values": [MFA, "urn:other"]}, True, True),
        ({"essential": True, "values": [PWD, MFA]}, False, False),
        ({"essential": True, "values": [PWD]}, False, False),
        ({"essential": True}, False, False),  # no values: any level
        ({"values": [MFA]}, True, False),  # voluntary: like acr_values
        ({"essential": "yes", "values": [MFA]}, True, False),  # essential means JSON true
        (None, False, False),
        ("urn:sesame:acr:mfa", False, False),  # not a claim request object
    ],
)
def test_policy_acr_claim(member, acr, needs_mfa, essential):
    requirement = policy.requested_acr(None, _claims(member, acr))
    assert (requirement.needs_mfa, requirement.essential) == (needs_mfa, essential)


def test_policy_essential_acr_claim_wins_over_acr_values_and_voluntary_claims():
    claims = {
        "id_token": {"acr": {"values": [MFA]}},
        "userinfo": {"acr": {"essential": True, "values": [MFA]}},
    }
    requirement = policy.requested_acr(f"{PWD} {MFA}", claims)
    assert requirement.essential and requirement.reason == policy.Reason.ESSENTIAL_CLAIM


@pytest.mark.parametrize(
    "acr",
    [
        {"essential": True, "values": ["urn:other:loa:4"]},
        {"essential": True, "value": "urn:other:loa:4"},
        {"essential": True, "values": ["urn:other:loa:4", 3]},
    ],
)
def test_policy_essential_acr_we_cannot_assert_is_refused(acr):
    with pytest.raises(policy.UnsupportedEssentialAcr):
        policy.requested_acr(MFA, _claims("id_token", acr))
    # voluntary: nothing we can assert, nothing required
    voluntary = {k: v for k, v in acr.items() if k != "essential"}
    assert not policy.requested_acr(None, _claims("id_token", voluntary)).needs_mfa


def test_policy_requirement_is_satisfied_only_by_an_mfa_session():
    needs = policy.AcrRequirement(MFA)
    assert needs.satisfied_by(MFA)
    assert (
        not needs.satisfied_by(PWD) and not needs.satisfied_by("") and not needs.satisfied_by(None)
    )
    assert policy.PASSWORD_IS_ENOUGH.satisfied_by("")


# --- the client and the profile -------------------------------------------------------------


def _client(require_mfa: bool = False) -> OAuthClient:
    client = OAuthClient(
        name="Site", redirect_uris=["https://rp.example/cb"], require_mfa=require_mfa
    )
    db.session.add(client)
    db.session.commit()
    return client


def test_policy_client_require_mfa(app):
    user = create_user("camille.martin")
    assert not policy.required_acr(db.session, _client(), user).needs_mfa
    requirement = policy.required_acr(db.session, _client(require_mfa=True), user)
    assert requirement.needs_mfa and requirement.reason == policy.Reason.CLIENT
    assert not requirement.essential


def test_policy_profile_policy_counts_the_profiles_the_user_holds(app):
    client = _client()
    other = create_user("camille.martin")  # profile "autre"
    member = create_user("jf.lefevre")
    member.profile = Profile.EXPERT_COMPTABLE.value
    entry = create_registry_entry()
    db.session.add(ProfileClaim(user_id=member.id, registry_entry_id=entry.id))
    db.session.commit()
    assert not policy.required_acr(db.session, client, member).needs_mfa
    assert policy.set_profile_policy(db.session, "expert-comptable", True, actor=CLI)
    db.session.commit()
    requirement = policy.required_acr(db.session, client, member)
    assert requirement.needs_mfa and requirement.reason == policy.Reason.PROFILE
    assert not policy.required_acr(db.session, client, other).needs_mfa
    # A suspended expert-comptable no longer holds the profile (idp.registry held_profiles).
    entry.status = RegistryStatus.SUSPENDU.value
    db.session.commit()
    assert not policy.required_acr(db.session, client, member).needs_mfa


def test_policy_set_profile_policy_is_audited_only_when_it_changes(app):
    admin = create_user("paul.national")
    assert policy.set_profile_policy(db.session, "autre", True, actor=Actor.user(admin))
    assert not policy.set_profile_policy(db.session, "autre", True, actor=CLI)
    db.session.commit()
    row = db.session.get(MfaProfilePolicy, "autre")
    assert row is not None and row.set_by_id == admin.id
    assert policy.profiles_requiring_mfa(db.session) == {"autre"}
    assert policy.set_profile_policy(db.session, "autre", False, actor=CLI)
    assert not policy.set_profile_policy(db.session, "autre", False, actor=CLI)
    db.session.commit()
    assert policy.profiles_requiring_mfa(db.session) == set()
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "mfa_profile_policy_changed")
    ).all()
    assert [(e.actor_kind, e.actor_id, e.details) for e in events] == [
        ("user", admin.id, {"profile": "autre", "required": True}),
        ("cli", None, {"profile": "autre", "required": False}),
    ]


def test_policy_unknown_profile_is_refused_in_french(app):
    with pytest.raises(policy.UnknownProfile) as refused:
        policy.set_profile_policy(db.session, "pirate", True, actor=CLI)
    assert "Profil inconnu : « pirate »" in refused.value.message
    assert "expert-comptable" in refused.value.message


# --- idp mfa policy ---------------------------------------------------------------------------


def _run(app, *args: str):
    return app.test_cli_runner().invoke(args=["mfa", "policy", *args])


def test_policy_cli_lists_every_profile(app):
    _run(app, "--profile", "salarie-agc", "--on")
    result = _run(app)
    assert result.exit_code == 0, result.stderr
    lines = dict(line.split("\t") for line in result.stdout.splitlines())
    assert list(lines) == [p.value for p in Profile]
    assert lines["salarie-agc"] == "sécurité avancée exigée"
    assert lines["autre"] == "sécurité avancée non exigée"


def test_policy_cli_turns_a_profile_on_and_off_audited_with_the_cli_actor(app):
    on = _run(app, "--profile", "expert-comptable", "--on")
    assert on.exit_code == 0, on.stderr
    assert on.stdout == "expert-comptable\tsécurité avancée exigée\n"
    assert policy.profiles_requiring_mfa(db.session) == {"expert-comptable"}
    again = _run(app, "--profile", "expert-comptable", "--on")
    assert again.exit_code == 0 and "(inchangé)" in again.stdout
    off = _run(app, "--profile", "expert-comptable", "--off")
    assert off.exit_code == 0 and "non exigée" in off.stdout
    assert policy.profiles_requiring_mfa(db.session) == set()
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "mfa_profile_policy_changed")
    ).all()
    assert [(e.actor_kind, e.details["required"]) for e in events] == [
        ("cli", True),
        ("cli", False),
    ]


def test_policy_cli_unknown_profile_exits_1_with_a_french_message(app):
    result = _run(app, "--profile", "pirate", "--on")
    assert result.exit_code == 1
    assert result.stderr.startswith("Erreur : Profil inconnu : « pirate »")
    assert "Traceback" not in result.output
    assert policy.profiles_requiring_mfa(db.session) == set()


@pytest.mark.parametrize("args", [("--on",), ("--profile", "autre")])
def test_policy_cli_profile_and_switch_go_together(app, args):
    result = _run(app, *args)
    assert result.exit_code == 2 and "vont ensemble" in result.stderr


def test_policy_turned_on_twice_at_the_same_instant_is_a_clear_error(app):
    """Two administrators: both read "not required", both insert; the second gets a domain
    error (its page a message), never a 500."""

    class StaleRead:
        """The session of the second administrator, who read before the first one wrote."""

        def get(self, *args, **kwargs):
            return None

        def __getattr__(self, name):
            return getattr(db.session, name)

    db.session.add(MfaProfilePolicy(profile="expert-comptable"))
    db.session.commit()
    with pytest.raises(policy.PolicyChangedMeanwhile):
        policy.set_profile_policy(StaleRead(), "expert-comptable", True, actor=CLI)
    assert policy.profiles_requiring_mfa(db.session) == {"expert-comptable"}
