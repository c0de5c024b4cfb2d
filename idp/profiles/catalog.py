"""The profiles a person signs up with (DOMAIN.md), their labels, and which ones are matched."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from idp.accounts.models import Profile

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
