"""Which column of a council's file holds which field: the French header names councils use,
matched in any case, accents, punctuation, order and spacing (`N° d'inscription`,
`NUMERO D'INSCRIPTION`, `Prénom(s)`, `Courriel`...).

A header is reduced to its words (each with the registry's one name normalisation,
`idp.registry.names.search_key`), without filler words (`d'`, `de`, `(s)`...), and looked up in
`HEADER_ALIASES`. Unknown columns are ignored (and named in the report); a
missing required column refuses the file; two columns meaning the same field refuse it too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from idp.registry.names import search_key

# Field names (the attributes of RegistryEntry, plus the council column of national files).
REGISTRATION_NUMBER = "registration_number"
FAMILY_NAME = "family_name"
GIVEN_NAMES = "given_names"
BIRTH_DATE = "birth_date"
EMAIL = "email"
CATEGORY = "category"
STATUS = "status"
FIRM_NAME = "firm_name"
FIRM_SIREN = "firm_siren"
COUNCIL = "council"

REQUIRED_FIELDS = (REGISTRATION_NUMBER, FAMILY_NAME, GIVEN_NAMES, BIRTH_DATE, CATEGORY)

# French labels of the fields, as the report and the messages name them.
FIELD_LABELS: dict[str, str] = {
    REGISTRATION_NUMBER: "N° d'inscription",
    FAMILY_NAME: "Nom",
    GIVEN_NAMES: "Prénom(s)",
    BIRTH_DATE: "Date de naissance",
    EMAIL: "Email",
    CATEGORY: "Catégorie",
    STATUS: "Statut",
    FIRM_NAME: "Cabinet",
    FIRM_SIREN: "SIREN",
    COUNCIL: "Conseil régional",
}

_ALIASES: dict[str, tuple[str, ...]] = {
    REGISTRATION_NUMBER: (
        "N° d'inscription",
        "Numéro d'inscription",
        "No d'inscription",
        "Num d'inscription",
        "Numero inscrit",
        "N° d'inscription à l'Ordre",
        "Numéro d'inscription à l'Ordre",
        "N° Ordre",
        "Numéro Ordre",
        "Numéro",
        "N°",
        "Matricule",
    ),
    FAMILY_NAME: ("Nom", "Nom de famille", "Nom d'usage", "Nom patronymique"),
    GIVEN_NAMES: ("Prénom", "Prénoms", "Prénom(s)"),
    BIRTH_DATE: ("Date de naissance", "Date naissance", "Naissance", "Né(e) le", "Né le"),
    EMAIL: (
        "Email",
        "E-mail",
        "Mail",
        "Courriel",
        "Adresse e-mail",
        "Adresse email",
        "Adresse mail",
        "Adresse électronique",
        "Adresse courriel",
        "Email professionnel",
        "Courriel professionnel",
    ),
    CATEGORY: ("Catégorie", "Catégorie d'inscription", "Qualité"),
    STATUS: ("Statut", "Statut d'inscription", "Situation", "État"),
    FIRM_NAME: ("Cabinet", "Nom du cabinet", "Société", "Raison sociale", "Cabinet (nom)"),
    FIRM_SIREN: ("SIREN", "SIREN du cabinet", "N° SIREN", "Numéro SIREN", "SIREN cabinet"),
    COUNCIL: (
        "Conseil régional",
        "Conseil",
        "CRO",
        "CROEC",
        "Région",
        "Code CRO",
        "Code région",
        "Conseil régional de l'Ordre",
    ),
}

_WORD_SEPARATORS = re.compile(r"[\W_]+")
# Words that do not change what a header means: "N° d'inscription" = "No inscription".
_HEADER_FILLER = frozenset({"d", "de", "du", "des", "l", "la", "le", "les", "a", "au", "s"})


def words(label: str) -> list[str]:
    """`Salarié d'AGC (83 quater)` -> ["salarie", "d", "agc", "83", "quater"]: the label's
    words, each reduced with the registry's name normalisation (names.search_key)."""
    keys = (search_key(t) for t in _WORD_SEPARATORS.split(unicodedata.normalize("NFC", label)))
    return [key for key in keys if key]


def header_key(label: str) -> str:
    """`N° d'inscription`, `NUMERO  D'INSCRIPTION` -> "ninscription" / "numeroinscription"."""
    return "".join(word for word in words(label) if word not in _HEADER_FILLER)


HEADER_ALIASES: dict[str, str] = {
    header_key(alias): field_name for field_name, aliases in _ALIASES.items() for alias in aliases
}


class HeaderError(ValueError):
    """The header line cannot be used: the French message says why."""


@dataclass(frozen=True)
class ColumnMap:
    """Field name -> index in the row, and the header cells that were not understood."""

    columns: dict[str, int]
    ignored: tuple[str, ...]
    width: int

    def has(self, field_name: str) -> bool:
        return field_name in self.columns


def map_header(cells: Sequence[object]) -> ColumnMap:
    """Map a header row; HeaderError (French) when a required column is missing or doubled."""
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for index, cell in enumerate(cells):
        label = str(cell).strip() if cell is not None else ""
        if not label:
            continue
        field_name = HEADER_ALIASES.get(header_key(label))
        if field_name is None:
            ignored.append(label)
            continue
        if field_name in columns:
            first = str(cells[columns[field_name]]).strip()
            raise HeaderError(
                f"les colonnes « {first} » et « {label} » désignent toutes deux "
                f"« {FIELD_LABELS[field_name]} » : gardez-en une seule."
            )
        columns[field_name] = index
    missing = [FIELD_LABELS[f] for f in REQUIRED_FIELDS if f not in columns]
    if missing:
        listed = ", ".join(f"« {label} »" for label in missing)
        plural = (
            "colonnes obligatoires absentes" if len(missing) > 1 else "colonne obligatoire absente"
        )
        raise HeaderError(
            f"{plural} : {listed} (la première ligne du fichier doit nommer les colonnes)."
        )
    return ColumnMap(columns=columns, ignored=tuple(ignored), width=len(cells))
