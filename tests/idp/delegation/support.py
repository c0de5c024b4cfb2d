"""Builders of the delegation tests: an expert-comptable (an account with a live registry
claim, as the registry signup leaves it), a président d'AGC and the AGC's staff, a collaborator,
and the services (OIDC clients that accept delegations)."""

from __future__ import annotations

from idp.accounts.models import User
from idp.extensions import db
from idp.oidc.models import OAuthClient
from idp.profiles.catalog import Profile
from idp.profiles.models import AgcDirector
from idp.registry.catalog import RegistryStatus
from idp.registry.models import ProfileClaim, RegistryEntry
from tests.factories import create_registry_entry, create_user
from tests.idp.oidc.helpers import register_client

AGC_SIREN = "732829320"


def member(
    username: str,
    category: Profile,
    *,
    family_name: str,
    given_names: str,
    registration_number: str | None = None,
    status: RegistryStatus = RegistryStatus.INSCRIT,
    firm_name: str | None = "Cabinet Lefèvre",
    firm_siren: str | None = None,
) -> tuple[User, RegistryEntry]:
    """An account matched with a registry entry of `category` (its claim), as the registry
    signup makes it."""
    user = create_user(username, given_name=given_names, family_name=family_name)
    user.profile = category.value
    entry = create_registry_entry(
        family_name,
        given_names,
        registration_number=registration_number,
        email=user.email,
        category=category,
        status=status,
        firm_name=firm_name,
        firm_siren=firm_siren,
    )
    db.session.add(ProfileClaim(user_id=user.id, registry_entry_id=entry.id))
    db.session.commit()
    return user, entry


def expert(
    username: str = "jf.lefevre",
    *,
    family_name: str = "Lefèvre",
    given_names: str = "Jean-François",
    registration_number: str | None = None,
    status: RegistryStatus = RegistryStatus.INSCRIT,
) -> User:
    user, _entry = member(
        username,
        Profile.EXPERT_COMPTABLE,
        family_name=family_name,
        given_names=given_names,
        registration_number=registration_number,
        status=status,
    )
    return user


def entry_of(user: User) -> RegistryEntry:
    claim = db.session.query(ProfileClaim).filter_by(user_id=user.id).one()
    return claim.entry


def set_registry_status(user: User, status: RegistryStatus) -> None:
    entry_of(user).status = status.value
    db.session.commit()


def collaborator(username: str = "marie.curie", **fields: str) -> User:
    """An "Autre" account (a firm's collaborator)."""
    return create_user(username, given_name="Marie", family_name="Curie", **fields)


def agc_president(username: str = "paul.agc", siren: str = AGC_SIREN) -> User:
    user = create_user(username, given_name="Paul", family_name="Durand")
    user.profile = Profile.PRESIDENT_AGC.value
    db.session.add(AgcDirector(user_id=user.id, agc_name="AGC Centre", siren=siren))
    db.session.commit()
    return user


def agc_staff(username: str = "lea.agc", siren: str = AGC_SIREN) -> User:
    user, _entry = member(
        username,
        Profile.SALARIE_AGC,
        family_name="Martin",
        given_names="Léa",
        firm_name="AGC Centre",
        firm_siren=siren,
    )
    return user


def service(name: str = "Comptexpert", *, accepts: bool = True) -> OAuthClient:
    """A partner site; `accepts` makes it one a delegation may name."""
    registered = register_client(name=name)
    client = registered.row()
    client.accepts_delegations = accepts
    db.session.commit()
    return client
