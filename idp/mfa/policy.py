"""Which authorization requests need "sécurité avancée" (ADR 0022, « Which requests need
MFA »), and the Order's per-profile policy. Nothing here commits.

`required_acr` decides, at `/authorize` after authentication, the least level the session must
have. MFA (`ACR_ADVANCED`) is required when any of:
1. `acr_values` names the MFA level and not the password level (a request that accepts both
   is satisfied by either: `acr_values` is a preference; unknown values are ignored);
2. the `claims` parameter asks `acr` (in `id_token` or `userinfo`) with `value`/`values` of
   which the only level we support is MFA. Essential: cancelling answers
   `unmet_authentication_requirements`; essential with no value we can assert raises
   `UnsupportedEssentialAcr`. A voluntary `acr` claim is the same preference as `acr_values`
   (OpenID Connect Core 3.1.2.1 defines `acr_values` as a voluntary `acr` claim);
3. the client is "MFA always" (`oauth_clients.require_mfa`);
4. one of the user's held profiles (`idp.registry.services.held_profiles`, as the client
   profile policy counts them) is under the Order's policy (`mfa_profile_policies`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from idp.accounts.models import User
from idp.audit.models import AuditEventType
from idp.audit.services import Actor, record
from idp.database import DbSession
from idp.errors import DomainError
from idp.mfa.models import MfaProfilePolicy
from idp.oidc.acr import ACR_ADVANCED, ACR_BASIC, ACR_VALUES
from idp.oidc.models import OAuthClient
from idp.profiles.catalog import Profile


class Reason(enum.StrEnum):
    """Why a request needs MFA (the first that applies)."""

    ACR_VALUES = "acr_values"
    ESSENTIAL_CLAIM = "essential_claim"
    VOLUNTARY_CLAIM = "voluntary_claim"
    CLIENT = "client"
    PROFILE = "profile"


@dataclass(frozen=True)
class AcrRequirement:
    """The least level a session must have for this request. `essential`: an essential `acr`
    claim demands it (a refusal answers `unmet_authentication_requirements`, else
    `access_denied`)."""

    level: str
    essential: bool = False
    reason: Reason | None = None

    @property
    def needs_mfa(self) -> bool:
        return self.level == ACR_ADVANCED

    def satisfied_by(self, session_acr: str | None) -> bool:
        return not self.needs_mfa or session_acr == ACR_ADVANCED


PASSWORD_IS_ENOUGH = AcrRequirement(ACR_BASIC)


class UnsupportedEssentialAcr(Exception):
    """An essential `acr` claim none of whose values the provider can assert."""


class UnknownProfile(DomainError):
    default_message = _l("Profil inconnu.")


class PolicyChangedMeanwhile(DomainError):
    default_message = _l(
        "La politique vient d'être modifiée par un autre administrateur. Vérifiez-la et "
        "recommencez si besoin."
    )


# --- the request -------------------------------------------------------------------------------


def _supported(values: Iterable[str]) -> set[str]:
    return {value for value in values if value in ACR_VALUES}


def _mfa_only(values: Iterable[str]) -> bool:
    return _supported(values) == {ACR_ADVANCED}


def _claim_values(request: Any) -> tuple[bool, list[str]] | None:
    """(essential, values) of an `acr` claim request, or None when it names no value (any
    level satisfies it then, essential or not)."""
    if not isinstance(request, dict):
        return None
    values: list[str] = []
    if isinstance(request.get("values"), list):
        values = [v for v in request["values"] if isinstance(v, str)]
    elif isinstance(request.get("value"), str):
        values = [request["value"]]
    if not values:
        return None
    return request.get("essential") is True, values


def acr_claim_requests(claims_request: dict[str, Any] | None) -> list[tuple[bool, list[str]]]:
    """The `acr` claim requests of a `claims` parameter (id_token and userinfo) that name
    values."""
    found = []
    for member in ("id_token", "userinfo"):
        section = (claims_request or {}).get(member)
        if isinstance(section, dict) and "acr" in section:
            asked = _claim_values(section["acr"])
            if asked is not None:
                found.append(asked)
    return found


def requested_acr(acr_values: str | None, claims_request: dict[str, Any] | None) -> AcrRequirement:
    """What the request itself asks (rules 1 and 2). Raises UnsupportedEssentialAcr."""
    requirement = PASSWORD_IS_ENOUGH
    for essential, values in acr_claim_requests(claims_request):
        if essential and not _supported(values):
            raise UnsupportedEssentialAcr(values)
        if _mfa_only(values):
            if essential:
                return AcrRequirement(ACR_ADVANCED, essential=True, reason=Reason.ESSENTIAL_CLAIM)
            requirement = AcrRequirement(ACR_ADVANCED, reason=Reason.VOLUNTARY_CLAIM)
    if requirement.needs_mfa:
        return requirement
    if _mfa_only((acr_values or "").split()):
        return AcrRequirement(ACR_ADVANCED, reason=Reason.ACR_VALUES)
    return PASSWORD_IS_ENOUGH


def required_acr(
    session: DbSession,
    client: OAuthClient,
    user: User,
    *,
    acr_values: str | None = None,
    claims_request: dict[str, Any] | None = None,
) -> AcrRequirement:
    """The least level `user`'s session must have for this request of `client` (rules 1-4 of
    the module docstring). Raises UnsupportedEssentialAcr. Reads only; the profile rule costs
    one query, two when a policy exists."""
    requirement = requested_acr(acr_values, claims_request)
    if requirement.needs_mfa:
        return requirement
    if client.require_mfa:
        return AcrRequirement(ACR_ADVANCED, reason=Reason.CLIENT)
    if profile_requires_mfa(session, user):
        return AcrRequirement(ACR_ADVANCED, reason=Reason.PROFILE)
    return PASSWORD_IS_ENOUGH


# --- the Order's per-profile policy --------------------------------------------------------------


def profiles_requiring_mfa(session: DbSession) -> set[str]:
    return set(session.scalars(select(MfaProfilePolicy.profile)))


def profile_requires_mfa(session: DbSession, user: User) -> bool:
    """Whether one of the profiles `user` holds is under the Order's MFA policy."""
    policed = profiles_requiring_mfa(session)
    if not policed:
        return False
    from idp.registry.services import held_profiles

    return any(profile in policed for profile in held_profiles(session, user))


def check_profile(profile: str) -> Profile:
    try:
        return Profile(profile)
    except ValueError:
        raise UnknownProfile(
            _l(
                "Profil inconnu : « %(value)s » (%(known)s).",
                value=profile,
                known=", ".join(p.value for p in Profile),
            )
        ) from None


def set_profile_policy(session: DbSession, profile: str, required: bool, *, actor: Actor) -> bool:
    """Holders of `profile` need (or no longer need) a second factor at every partner site.
    Returns whether anything changed (a change is audited). Raises UnknownProfile."""
    code = check_profile(profile).value
    current = session.get(MfaProfilePolicy, code)
    if required == (current is not None):
        return False
    if required:
        session.add(MfaProfilePolicy(profile=code, set_by_id=actor.user_id))
    else:
        session.execute(delete(MfaProfilePolicy).where(MfaProfilePolicy.profile == code))
    try:
        session.flush()
    except IntegrityError as error:  # another administrator turned it on at the same instant
        session.rollback()
        raise PolicyChangedMeanwhile() from error
    record(
        session,
        AuditEventType.MFA_PROFILE_POLICY_CHANGED,
        subject=None,
        actor=actor,
        profile=code,
        required=required,
    )
    return True
