"""The profiles a person signs up with (docs/domain.md), their labels, and which ones are
matched against the Order's registry.

An account has one signup profile (`User.profile`). The registry work links an account to the
registry entries it was matched with (one claim each), so a président d'AGC who is also an
expert-comptable holds both: see docs/adr/0010-profiles.md.
"""

from __future__ import annotations

import enum

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l


class Profile(enum.StrEnum):
    EXPERT_COMPTABLE = "expert-comptable"
    SALARIE_AGC = "salarie-agc"
    STAGIAIRE = "stagiaire"
    MEMORIALISTE = "memorialiste"
    HONORAIRE = "honoraire"
    ECE = "ece"
    CAFCAC = "cafcac"
    PRESIDENT_AGC = "president-agc"
    AUTRE = "autre"


PROFILE_LABELS: dict[Profile, LazyString] = {
    Profile.EXPERT_COMPTABLE: _l("Expert-comptable"),
    Profile.SALARIE_AGC: _l("Salarié d'AGC (83 ter ou 83 quater)"),
    Profile.STAGIAIRE: _l("Expert-comptable stagiaire"),
    Profile.MEMORIALISTE: _l("Mémorialiste"),
    Profile.HONORAIRE: _l("Expert-comptable honoraire"),
    Profile.ECE: _l("Membre ECE"),
    Profile.CAFCAC: _l("Filière CAFCAC"),
    Profile.PRESIDENT_AGC: _l("Président ou directeur d'AGC"),
    Profile.AUTRE: _l("Autre (collaborateur, étudiant, enseignant…)"),
}

REGISTRY_MATCHED_PROFILES = frozenset(
    {
        Profile.EXPERT_COMPTABLE,
        Profile.SALARIE_AGC,
        Profile.STAGIAIRE,
        Profile.MEMORIALISTE,
        Profile.HONORAIRE,
        Profile.ECE,
        Profile.CAFCAC,
    }
)


def profile_label(code: str) -> str:
    try:
        return str(PROFILE_LABELS[Profile(code)])
    except ValueError:
        return code
