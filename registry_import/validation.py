"""One row of a council's file to the values of a registry entry, or French error messages.

Each check says what is wrong and echoes the value (control characters shown as `�`, long
values cut), so a council can fix its file: `date de naissance impossible (31/02/1980)`.
The checks run 100,000 times per import: the common case goes through precompiled regular
expressions and caches (category labels, email domains), the slow path only explains errors.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from idp.profiles.catalog import Profile
from idp.registry.catalog import REGISTRATION_NUMBER_MAX, RegistryStatus
from idp.registry.names import search_key
from registry_import import headers as h
from registry_import.reading import Cell

FAMILY_NAME_MAX = 100
GIVEN_NAMES_MAX = 150
FIRM_NAME_MAX = 200
EMAIL_MAX = 254
OLDEST_BIRTH_YEAR = 1900
YOUNGEST_AGE_YEARS = 16
SHOWN_MAX = 40

# The values an entry holds, in this order: compared as a tuple with the stored entry.
EntryValues = tuple[str, str, date, str | None, str, str, str | None, str | None]
VALUE_FIELDS: tuple[str, ...] = (
    h.FAMILY_NAME,
    h.GIVEN_NAMES,
    h.BIRTH_DATE,
    h.EMAIL,
    h.CATEGORY,
    h.STATUS,
    h.FIRM_NAME,
    h.FIRM_SIREN,
)
# Fields kept from the stored entry when the file has no column for them.
OPTIONAL_FIELDS = (h.EMAIL, h.FIRM_NAME, h.FIRM_SIREN)

_NAME = re.compile(r"[^\W\d_]+(?:[ '’.-]+[^\W\d_]+)*\.?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_REGISTRATION_NUMBER = re.compile(r"[A-Z0-9](?:[A-Z0-9 ./_-]*[A-Z0-9])?")
_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")
_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_ASCII = re.compile(rf"({_ATEXT}(?:\.{_ATEXT})*)@([A-Za-z0-9.-]+)")
_SPACES = re.compile(r"\s+")
_EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 = 1900-01-01 past Excel's 1900 leap-year bug
FORMULA_STARTS = ("=", "+", "-", "@")

# Category labels, read leniently: the words of the label (accents, case and punctuation
# aside), without filler words and the article numbers of the AGC statute.
_FILLER_WORDS = frozenset(
    {"d", "de", "du", "des", "l", "la", "le", "les", "en", "ou", "et", "a", "au"}
    | {"83", "ter", "quater", "art", "article", "ordonnance", "1945"}
)
_CATEGORY_WORDS: dict[frozenset[str], Profile] = {}
for _profile, _labels in {
    Profile.EXPERT_COMPTABLE: (
        "expert comptable",
        "experte comptable",
        "expertcomptable",
        "ec",
        "expert comptable inscrit",
        "membre inscrit",
    ),
    Profile.SALARIE_AGC: (
        "salarie agc",
        "salariee agc",
        "salarie aga",
        "expert comptable salarie agc",
        "salarie association gestion comptabilite",
    ),
    Profile.STAGIAIRE: (
        "stagiaire",
        "expert comptable stagiaire",
        "ec stagiaire",
        "stagiaire expertise comptable",
    ),
    Profile.MEMORIALISTE: ("memorialiste", "expert comptable memorialiste"),
    Profile.HONORAIRE: (
        "honoraire",
        "expert comptable honoraire",
        "experte comptable honoraire",
        "ec honoraire",
        "membre honoraire",
    ),
    Profile.ECE: (
        "ece",
        "membre ece",
        "expert comptable entreprise",
        "expert comptable salarie entreprise",
    ),
    Profile.CAFCAC: ("cafcac", "filiere cafcac", "stagiaire cafcac"),
}.items():
    for _label in _labels:
        _CATEGORY_WORDS[frozenset(_label.split())] = _profile

_STATUS_WORDS: dict[str, RegistryStatus] = {
    "inscrit": RegistryStatus.INSCRIT,
    "inscrite": RegistryStatus.INSCRIT,
    "actif": RegistryStatus.INSCRIT,
    "active": RegistryStatus.INSCRIT,
    "suspendu": RegistryStatus.SUSPENDU,
    "suspendue": RegistryStatus.SUSPENDU,
    "suspension": RegistryStatus.SUSPENDU,
    "radie": RegistryStatus.RADIE,
    "radiee": RegistryStatus.RADIE,
    "radiation": RegistryStatus.RADIE,
}


@lru_cache(maxsize=1024)
def category_of(label: str) -> Profile | None:
    """The registry category a council's label means, or None."""
    meaningful = frozenset(w for w in h.words(label) if w not in _FILLER_WORDS)
    return _CATEGORY_WORDS.get(meaningful)


@lru_cache(maxsize=256)
def status_of(label: str) -> RegistryStatus | None:
    """`Inscrit`, `SUSPENDU`, `Radié`, `radie`...; an empty cell means inscrit."""
    found = h.words(label)
    if not found:
        return RegistryStatus.INSCRIT
    if len(found) == 1:
        return _STATUS_WORDS.get(found[0])
    return None


@lru_cache(maxsize=65536)
def _email_domain(domain: str) -> str | None:
    """The normalised domain, or None when email-validator refuses it (cached: a council's
    members share a few thousand domains)."""
    try:
        return validate_email(f"x@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None


def normalize_email(raw: str) -> str | None:
    """Lower-cased normalised address, or None when email-validator refuses it. Plain ASCII
    addresses take a fast path with the same rules (dot-atom local part, cached domain)."""
    match = _EMAIL_ASCII.fullmatch(raw)
    if match and len(match.group(1)) <= 64 and len(raw) <= EMAIL_MAX:
        domain = _email_domain(match.group(2))
        return None if domain is None else f"{match.group(1)}@{domain}".lower()
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def shown(value: Cell) -> str:
    """A value echoed in a message: control characters replaced, cut at 40 characters."""
    text = _CONTROL.sub("\N{REPLACEMENT CHARACTER}", cell_text(value))
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…"


def cell_text(value: Cell) -> str:
    """A cell as text: spreadsheet numbers without `.0`, dates as JJ/MM/AAAA."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def format_date(value: date) -> str:
    return value.strftime("%d/%m/%Y")


@dataclass
class RowValidator:
    """Validates the rows of one file (its columns, the council it is imported for)."""

    columns: h.ColumnMap
    council_code: str
    council_keys: dict[str, str]  # search_key of a council's code or name -> code
    today: date

    def __post_init__(self) -> None:
        cols = self.columns.columns
        self._index = {name: cols.get(name) for name in (*h.FIELD_LABELS,)}
        self._latest_birth = _years_before(self.today, YOUNGEST_AGE_YEARS)
        self._earliest_birth = date(OLDEST_BIRTH_YEAR, 1, 1)

    def _cell(self, cells: Sequence[Cell], field_name: str) -> Cell:
        index = self._index[field_name]
        if index is None or index >= len(cells):
            return None
        return cells[index]

    def validate(self, cells: Sequence[Cell]) -> tuple[str | None, EntryValues | None, list[str]]:
        """(registration number or None, values or None, French error messages)."""
        errors: list[str] = []
        number = self._registration_number(cells, errors)
        family = self._name(cells, h.FAMILY_NAME, "nom", FAMILY_NAME_MAX, errors)
        given = self._name(cells, h.GIVEN_NAMES, "prénom", GIVEN_NAMES_MAX, errors)
        birth = self._birth_date(self._cell(cells, h.BIRTH_DATE), errors)
        email = self._email(self._cell(cells, h.EMAIL), errors)
        category = self._category(self._cell(cells, h.CATEGORY), errors)
        status = self._status(self._cell(cells, h.STATUS), errors)
        firm = self._firm_name(self._cell(cells, h.FIRM_NAME), errors)
        siren = self._siren(self._cell(cells, h.FIRM_SIREN), errors)
        if self._index[h.COUNCIL] is not None:
            self._council(self._cell(cells, h.COUNCIL), errors)
        width = self.columns.width
        if len(cells) > width and any(cell_text(c).strip() for c in cells[width:]):
            errors.append(
                f"{len(cells)} valeurs pour {self.columns.width} colonnes (un séparateur dans "
                "une valeur sans guillemets ?)"
            )
        if errors:
            return number, None, errors
        assert family is not None and given is not None and birth is not None
        assert category is not None and status is not None
        return number, (family, given, birth, email, category, status, firm, siren), errors

    # --- fields ---------------------------------------------------------------------------

    def _registration_number(self, cells: Sequence[Cell], errors: list[str]) -> str | None:
        raw = cell_text(self._cell(cells, h.REGISTRATION_NUMBER))
        number = raw.strip().upper()
        if not number:
            errors.append("numéro d'inscription manquant")
            return None
        if len(number) > REGISTRATION_NUMBER_MAX:
            errors.append(
                f"numéro d'inscription trop long (« {shown(number)} » : {len(number)} "
                f"caractères, {REGISTRATION_NUMBER_MAX} au plus)"
            )
            return None
        if not _REGISTRATION_NUMBER.fullmatch(number):
            errors.append(
                f"numéro d'inscription invalide (« {shown(number)} ») : lettres et chiffres "
                "attendus"
            )
            return None
        return number

    def _name(
        self,
        cells: Sequence[Cell],
        field_name: str,
        label: str,
        max_length: int,
        errors: list[str],
    ) -> str | None:
        raw = cell_text(self._cell(cells, field_name))
        value = " ".join(raw.split())
        if not value:
            errors.append(f"{label} manquant")
            return None
        if not value.isascii():
            value = unicodedata.normalize("NFC", value)
        if len(value) > max_length:
            errors.append(f"{label} trop long ({len(value)} caractères, {max_length} au plus)")
            return None
        if _NAME.fullmatch(value):
            return value
        errors.append(f"{label} invalide (« {shown(raw.strip())} ») : {_why_not_a_name(raw)}")
        return None

    def _birth_date(self, value: Cell, errors: list[str]) -> date | None:
        parsed = self._parse_date(value, errors)
        if parsed is None:
            return None
        if parsed > self.today:
            errors.append(f"date de naissance dans le futur ({format_date(parsed)})")
            return None
        if parsed < self._earliest_birth or parsed > self._latest_birth:
            errors.append(f"date de naissance invraisemblable ({format_date(parsed)})")
            return None
        return parsed

    def _parse_date(self, value: Cell, errors: list[str]) -> date | None:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not 1 <= value < 2958466:  # Excel's last day: 9999-12-31
                errors.append(f"date de naissance illisible ({shown(value)})")
                return None
            return _EXCEL_EPOCH + timedelta(days=int(value))
        raw = cell_text(value).strip()
        if not raw:
            errors.append("date de naissance manquante")
            return None
        match = _DMY.fullmatch(raw)
        if match:
            day, month, year = (int(part) for part in match.groups())
        else:
            match = _YMD.fullmatch(raw)
            if not match:
                errors.append(
                    f"date de naissance illisible (« {shown(raw)} ») : JJ/MM/AAAA ou "
                    "AAAA-MM-JJ attendu"
                )
                return None
            year, month, day = (int(part) for part in match.groups())
        try:
            return date(year, month, day)
        except ValueError:
            errors.append(f"date de naissance impossible ({shown(raw)})")
            return None

    def _email(self, value: Cell, errors: list[str]) -> str | None:
        raw = cell_text(value).strip()
        if not raw:
            return None
        email = normalize_email(raw)
        if email is None:
            errors.append(f"adresse email invalide (« {shown(raw)} »)")
        return email

    def _category(self, value: Cell, errors: list[str]) -> str | None:
        raw = cell_text(value).strip()
        if not raw:
            errors.append("catégorie manquante")
            return None
        category = category_of(raw)
        if category is None:
            errors.append(f"catégorie inconnue (« {shown(raw)} »)")
            return None
        return category.value

    def _status(self, value: Cell, errors: list[str]) -> str | None:
        raw = cell_text(value).strip()
        status = status_of(raw)
        if status is None:
            errors.append(f"statut inconnu (« {shown(raw)} ») : inscrit, suspendu ou radié attendu")
            return None
        return status.value

    def _firm_name(self, value: Cell, errors: list[str]) -> str | None:
        raw = cell_text(value)
        firm = " ".join(raw.split())  # line breaks of a multi-line cell become spaces
        if _CONTROL.search(firm):
            errors.append(f"nom de cabinet invalide (« {shown(raw)} ») : caractères de contrôle")
            return None
        if len(firm) > FIRM_NAME_MAX:
            errors.append(
                f"nom de cabinet trop long ({len(firm)} caractères, {FIRM_NAME_MAX} au plus)"
            )
            return None
        return firm or None

    def _siren(self, value: Cell, errors: list[str]) -> str | None:
        if isinstance(value, float) and value.is_integer() and 0 < value < 1e9:
            siren = f"{int(value):09d}"  # a spreadsheet number lost its leading zeros
        else:
            siren = _SPACES.sub("", cell_text(value))
        if not siren:
            return None
        if len(siren) != 9 or not siren.isascii() or not siren.isdigit():
            errors.append(f"SIREN invalide (« {shown(value)} ») : 9 chiffres attendus")
            return None
        if not luhn_ok(siren):
            errors.append(f"SIREN invalide ({siren}) : clé de contrôle fausse")
            return None
        return siren

    def _council(self, value: Cell, errors: list[str]) -> None:
        raw = cell_text(value).strip()
        if not raw:
            return
        code = council_code_of(raw, self.council_keys)
        if code is None:
            errors.append(f"conseil régional inconnu (« {shown(raw)} »)")
        elif code != self.council_code:
            errors.append(
                f"inscription d'un autre conseil régional ({code}) : ce fichier est importé "
                f"pour {self.council_code}, un conseil n'importe que ses propres inscriptions"
            )


def council_keys(councils: Sequence[tuple[str, str]]) -> dict[str, str]:
    """search_key of each council's code and name (with or without `CROEC`, `CRO`, `Conseil
    régional`...) -> code."""
    keys: dict[str, str] = {}
    for code, name in councils:
        for label in (code, name):
            key = search_key(label)
            keys[key] = code
            for prefix in _COUNCIL_PREFIXES:
                keys[prefix + key] = code
    return keys


_COUNCIL_PREFIXES = (
    "cro",
    "croec",
    "oec",
    "conseilregional",
    "conseilregionalde",
    "conseilregionaldu",
    "conseilregionald",
    "conseilregionaldela",
)


def council_code_of(raw: str, keys: dict[str, str]) -> str | None:
    return keys.get(search_key(raw))


def _why_not_a_name(raw: str) -> str:
    text = raw.strip()
    if _CONTROL.search(text):
        return "caractères de contrôle"
    if text.startswith(FORMULA_STARTS):
        return "un nom ne commence pas par =, +, - ou @"
    if any(ch.isdigit() for ch in text):
        return "chiffres interdits"
    return "seuls les lettres, espaces, tirets, apostrophes et points sont admis"


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def entry_search_key(values: EntryValues) -> str:
    return search_key(values[0], values[1])
