"""The `delegations` claim (scope `delegations`, docs/adr/0025-delegations.md): what a partner
site learns of the delegations a user holds for it.

Only the delegations valid *now* and covering *the requesting client* are listed
(`rules.valid_delegations(..., client=client)`): a site never learns of a delegation naming
other services (SECURITY.md 39), and an ended, expired or suspended one is gone from the next
ID token, userinfo answer or introspection (SECURITY.md 38). Built at each call, never stored.

Each item: `id` (the delegation's public id, what token exchange names), `grantor` (`sub`,
`name`, `registration_number`, `firm`), `services` (the client ids it covers) and
`expires_at` (epoch seconds). The grantor's registration number and firm come from their live
registry claim; a président d'AGC has none: the firm is then the AGC they direct.
"""

from __future__ import annotations

from typing import Any

from idp.accounts.models import User
from idp.database import DbSession
from idp.delegation import rules
from idp.delegation.models import Delegation
from idp.oidc.models import OAuthClient
from idp.profiles.catalog import Profile
from idp.registry.models import RegistryEntry

CLAIM = "delegations"


def grantor_claim(session: DbSession, grantor: User) -> dict[str, Any]:
    """Who delegated: their `sub`, name, and the registry's number and firm (or the AGC)."""
    from idp.profiles.services import agc_of
    from idp.registry.services import live_claims

    live = [claim.entry for claim in live_claims(session, grantor.id)]
    experts = [e for e in live if e.category == Profile.EXPERT_COMPTABLE.value]
    entry: RegistryEntry | None = next(iter(experts or live), None)
    registration_number = entry.registration_number if entry is not None else None
    firm = entry.firm_name if entry is not None else None
    if entry is None or not experts:
        director = agc_of(session, grantor.id)
        if director is not None and grantor.profile == Profile.PRESIDENT_AGC.value:
            firm = director.agc_name
    return {
        "sub": grantor.subject,
        "name": grantor.display_name,
        "registration_number": registration_number,
        "firm": firm or None,
    }


def delegation_item(session: DbSession, delegation: Delegation) -> dict[str, Any]:
    assert delegation.ends_at is not None  # an active delegation has its dates
    return {
        "id": delegation.public_id,
        "grantor": grantor_claim(session, delegation.grantor),
        "services": delegation.client_ids(),
        "expires_at": int(delegation.ends_at.timestamp()),
    }


def delegations_claim(session: DbSession, user: User, client: OAuthClient) -> list[dict[str, Any]]:
    """The delegations `user` holds right now that cover `client` (oldest first)."""
    return [
        delegation_item(session, delegation)
        for delegation in rules.valid_delegations(session, user, client=client)
    ]
