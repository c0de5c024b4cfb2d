"""Per-client admission of delegates (ADR 0025): a site allowing only experts-comptables and
admitting delegates lets in a collaborator holding a valid delegation covering it from an
expert-comptable, and nobody else: not without a delegation, not once it ended, not with one
for another service, not when the grantor was struck off, not at a site that does not admit
delegates. Checked at /authorize (the policy page, access_denied with prompt=none) and when the
code is issued from the consent page."""

from __future__ import annotations

from datetime import timedelta

from idp.accounts.models import User
from idp.database import utcnow
from idp.delegation import services
from idp.delegation.models import Delegation
from idp.extensions import db
from idp.oidc import clients, keys
from idp.profiles.catalog import Profile
from idp.registry.catalog import RegistryStatus
from tests.idp.delegation.support import (
    agc_president,
    agc_staff,
    collaborator,
    expert,
    set_registry_status,
)
from tests.idp.oidc.helpers import (
    RegisteredClient,
    authorize,
    callback_params,
    code_flow,
    give_consent,
    pkce_pair,
    register_client,
    sign_in,
)

EXPERTS_ONLY = [Profile.EXPERT_COMPTABLE.value]


def _experts_site(
    name: str = "Espace des experts-comptables", **options: object
) -> RegisteredClient:
    options.setdefault("admits_delegates", True)
    return register_client(  # type: ignore[arg-type]
        name=name,
        allowed_profiles=EXPERTS_ONLY,
        accepts_delegations=True,
        scopes=["openid", "profile", "email", "delegations"],
        **options,
    )


def _grant(grantor: User, grantee: User, *sites: RegisteredClient) -> Delegation:
    delegation = services.grant(
        db.session, grantor, grantee.username, [site.client_id for site in sites]
    )
    db.session.commit()
    return delegation


def _pkce() -> dict[str, str]:
    return {"code_challenge": pkce_pair()[1], "code_challenge_method": "S256"}


def _refused(client, site: RegisteredClient) -> bool:
    page = authorize(client, site, scope="openid delegations", **_pkce())
    refused_page = page.status_code == 403 and "Accès non autorisé" in page.get_data(as_text=True)
    silent = callback_params(authorize(client, site, prompt="none", **_pkce()))
    return refused_page and silent.get("error") == "access_denied"


def _admitted(client, site: RegisteredClient) -> bool:
    return "code" in callback_params(authorize(client, site, scope="openid delegations", **_pkce()))


def test_admission_collaborator_without_delegation_is_refused(app, client):
    site = _experts_site()
    sign_in(client, collaborator())
    assert _refused(client, site)


def test_admission_valid_delegation_covering_the_site_admits_then_revocation_refuses(app, client):
    site = _experts_site()
    grantor, marie = expert(), collaborator()
    delegation = _grant(grantor, marie, site)
    sign_in(client, marie)
    keys.ensure_keys()
    flow = code_flow(client, site, scope="openid delegations")
    assert flow.access_token
    services.end(db.session, grantor, delegation)
    db.session.commit()
    assert _refused(client, site)


def test_admission_delegation_for_another_service_only_is_refused(app, client):
    """SECURITY.md 39."""
    site = _experts_site()
    other = register_client(name="Jedeclare", accepts_delegations=True)
    marie = collaborator()
    _grant(expert(), marie, other)
    sign_in(client, marie)
    assert _refused(client, site)


def test_admission_struck_off_or_suspended_grantor_admits_nobody(app, client):
    site = _experts_site()
    grantor, marie = expert(), collaborator()
    _grant(grantor, marie, site)
    sign_in(client, marie)
    assert _admitted(client, site)
    set_registry_status(grantor, RegistryStatus.RADIE)
    assert _refused(client, site)
    set_registry_status(grantor, RegistryStatus.SUSPENDU)
    assert _refused(client, site)
    set_registry_status(grantor, RegistryStatus.INSCRIT)  # reinstated, within its dates
    assert _admitted(client, site)


def test_admission_expired_delegation_is_refused(app, client):
    site = _experts_site()
    marie = collaborator()
    delegation = _grant(expert(), marie, site)
    delegation.ends_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    sign_in(client, marie)
    assert _refused(client, site)


def test_admission_site_not_admitting_delegates_refuses_even_with_a_delegation(app, client):
    site = _experts_site(admits_delegates=False)
    marie = collaborator()
    _grant(expert(), marie, site)
    sign_in(client, marie)
    assert _refused(client, site)


def test_admission_grantor_must_hold_an_allowed_profile(app, client):
    """A président d'AGC's delegation does not open a site reserved to experts-comptables."""
    site = _experts_site()
    staff = agc_staff()
    _grant(agc_president(), staff, site)
    sign_in(client, staff)
    assert _refused(client, site)
    row = site.row()
    row.allowed_profiles = [*EXPERTS_ONLY, Profile.PRESIDENT_AGC.value]
    db.session.commit()
    assert _admitted(client, site)


def test_admission_checked_again_when_the_consent_is_given(app, client):
    """A delegation ended while the consent page was open gets access_denied, no code."""
    site = _experts_site(first_party=False)
    grantor, marie = expert(), collaborator()
    delegation = _grant(grantor, marie, site)
    sign_in(client, marie)
    page = authorize(client, site, scope="openid delegations", **_pkce())
    assert page.status_code == 200 and b'name="consent_request"' in page.data
    services.end(db.session, grantor, delegation)
    db.session.commit()
    assert callback_params(give_consent(client, page))["error"] == "access_denied"


def test_admission_profile_allowed_unit(app):
    """`clients.profile_allowed` itself: the expert passes by profile, the delegate by
    delegation, another collaborator not at all."""
    site = _experts_site()
    grantor, marie, paul = expert(), collaborator(), collaborator("paul.martin")
    _grant(grantor, marie, site)
    row = site.row()
    assert clients.profile_allowed(row, grantor)
    assert clients.profile_allowed(row, marie)
    assert not clients.profile_allowed(row, paul)
    assert clients.profile_allowed(clients.get_client(site.client_id), marie)  # cached copy
