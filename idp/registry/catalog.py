"""Registry categories and statuses (docs/domain.md), and how council files spell them.

The seven registry categories are the seven registry-matched signup profiles: a category *is*
a `Profile` value, so a claim's category compares directly with a signup profile.
"""

from __future__ import annotations

import enum

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from idp.profiles.catalog import REGISTRY_MATCHED_PROFILES, Profile

RegistryCategory = Profile  # restricted to REGISTRY_CATEGORIES
REGISTRY_CATEGORIES: frozenset[Profile] = REGISTRY_MATCHED_PROFILES


class RegistryStatus(enum.StrEnum):
    INSCRIT = "inscrit"
    SUSPENDU = "suspendu"
    RADIE = "radie"


STATUS_LABELS: dict[RegistryStatus, LazyString] = {
    RegistryStatus.INSCRIT: _l("inscrit"),
    RegistryStatus.SUSPENDU: _l("suspendu"),
    RegistryStatus.RADIE: _l("radié"),
}

REGISTRATION_NUMBER_MAX = 20


def normalize_registration_number(raw: str) -> str:
    """Opaque, compared after trimming and upper-casing (docs/domain.md)."""
    return raw.strip().upper()
