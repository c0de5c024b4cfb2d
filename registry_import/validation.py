"""One row of a council's file to the values of a registry entry, or French error messages.

Each check says what is wrong and echoes the value (control characters shown as `�`, long
values cut), so a council can fix its file: `date de naissance impossible (31/02/1980)`.
The checks run 100,000 times per import: the common case goes through precompiled regular
expressions and caches (category labels, email domains), the slow path only explains errors.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache, partial
from typing import Any

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
    """The Luhn key of a string of ASCII digits (a SIREN): from the right, every second digit
    doubled (minus 9 above 9), the sum a multiple of 10."""
    total = sum(map(int, digits[-1::-2])) + sum(map(_LUHN_DOUBLED.__getitem__, digits[-2::-2]))
    return total % 10 == 0


_LUHN_DOUBLED = {str(d): 2 * d - 9 if d > 4 else 2 * d for d in range(10)}


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
    """Validates the rows of one file (its columns, the council it is imported for).

    Each field has a check: its cell in, `(value or None, French message or None)` out. The
    checks of fields whose values repeat across a council's members (names, birth dates,
    categories, firms...) are memoised per cell, so most rows cost a cache hit per field;
    registration numbers, emails and SIRENs are all but unique and checked each time.
    """

    columns: h.ColumnMap
    council_code: str
    council_keys: dict[str, str]  # search_key of a council's code or name -> code
    today: date

    def __post_init__(self) -> None:
        cols = self.columns.columns
        self._index = {name: cols.get(name) for name in (*h.FIELD_LABELS,)}
        self._latest_birth = _years_before(self.today, YOUNGEST_AGE_YEARS)
        self._earliest_birth = date(OLDEST_BIRTH_YEAR, 1, 1)
        # A row at least this long holds every mapped column: its cells are picked at once
        # from the row plus a trailing None (the position of the file's absent columns).
        positions = [self._index[name] for name in _CHECKED_FIELDS]
        self._full_width = max(p for p in positions if p is not None) + 1
        self._pick = operator.itemgetter(*(-1 if p is None else p for p in positions))
        # Memoised checks (typed: 1, 1.0 and True are different cells).
        self._family = _memoised(partial(_check_name, label="nom", max_length=FAMILY_NAME_MAX))
        self._given = _memoised(partial(_check_name, label="prénom", max_length=GIVEN_NAMES_MAX))
        self._birth_date = _memoised(self._check_birth_date)
        self._council = _memoised(self._check_council)

    def _cell(self, cells: Sequence[Cell], field_name: str) -> Cell:
        index = self._index[field_name]
        if index is None or index >= len(cells):
            return None
        return cells[index]

    def validate(self, cells: Sequence[Cell]) -> tuple[str | None, EntryValues | None, list[str]]:
        """(registration number or None, values or None, French error messages)."""
        if len(cells) >= self._full_width:
            picked = self._pick((*cells, None))
        else:
            picked = tuple(self._cell(cells, name) for name in _CHECKED_FIELDS)
        number, number_error = _check_registration_number(picked[0])
        family, family_error = self._family(picked[1])
        given, given_error = self._given(picked[2])
        birth, birth_error = self._birth_date(picked[3])
        email, email_error = _check_email(picked[4])
        category, category_error = _check_category(picked[5])
        status, status_error = _check_status(picked[6])
        firm, firm_error = _check_firm_name(picked[7])
        siren, siren_error = _check_siren(picked[8])
        _none, council_error = self._council(picked[9])
        messages = (
            number_error,
            family_error,
            given_error,
            birth_error,
            email_error,
            category_error,
            status_error,
            firm_error,
            siren_error,
            council_error,
        )
        errors = [] if messages == _NO_MESSAGES else [m for m in messages if m is not None]
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

    # --- the checks that depend on the validator ------------------------------------------

    def _check_birth_date(self, value: Cell) -> Checked:
        parsed, message = _parse_date(value)
        if parsed is None:
            return None, message
        if parsed > self.today:
            return None, f"date de naissance dans le futur ({format_date(parsed)})"
        if parsed < self._earliest_birth or parsed > self._latest_birth:
            return None, f"date de naissance invraisemblable ({format_date(parsed)})"
        return parsed, None

    def _check_council(self, value: Cell) -> Checked:
        if self._index[h.COUNCIL] is None:
            return None, None
        raw = cell_text(value).strip()
        if not raw:
            return None, None
        code = council_code_of(raw, self.council_keys)
        if code is None:
            return None, f"conseil régional inconnu (« {shown(raw)} »)"
        if code != self.council_code:
            return None, (
                f"inscription d'un autre conseil régional ({code}) : ce fichier est importé "
                f"pour {self.council_code}, un conseil n'importe que ses propres inscriptions"
            )
        return None, None


# A field's check: (the value, None) or (None, the French message); the council's check only
# says whether the row belongs to the council (its value is always None).
Checked = tuple[Any, str | None]
_CHECKED_FIELDS = (
    h.REGISTRATION_NUMBER,
    h.FAMILY_NAME,
    h.GIVEN_NAMES,
    h.BIRTH_DATE,
    h.EMAIL,
    h.CATEGORY,
    h.STATUS,
    h.FIRM_NAME,
    h.FIRM_SIREN,
    h.COUNCIL,
)
_NO_MESSAGES = (None,) * len(_CHECKED_FIELDS)
CHECK_CACHE_SIZE = 65536


def _memoised(check: Callable[[Cell], Checked]) -> Callable[[Cell], Checked]:
    """A check memoised per cell (typed: 1, 1.0 and True are different cells)."""
    return lru_cache(maxsize=CHECK_CACHE_SIZE, typed=True)(check)


def _check_registration_number(value: Cell) -> Checked:
    number = cell_text(value).strip().upper()
    if not number:
        return None, "numéro d'inscription manquant"
    if len(number) > REGISTRATION_NUMBER_MAX:
        return None, (
            f"numéro d'inscription trop long (« {shown(number)} » : {len(number)} "
            f"caractères, {REGISTRATION_NUMBER_MAX} au plus)"
        )
    if not _REGISTRATION_NUMBER.fullmatch(number):
        return None, (
            f"numéro d'inscription invalide (« {shown(number)} ») : lettres et chiffres attendus"
        )
    return number, None


def _check_name(value: Cell, *, label: str, max_length: int) -> Checked:
    raw = cell_text(value)
    name = " ".join(raw.split())
    if not name:
        return None, f"{label} manquant"
    if not name.isascii():
        name = unicodedata.normalize("NFC", name)
    if len(name) > max_length:
        return None, f"{label} trop long ({len(name)} caractères, {max_length} au plus)"
    if _NAME.fullmatch(name):
        return name, None
    return None, f"{label} invalide (« {shown(raw.strip())} ») : {_why_not_a_name(raw)}"


def _parse_date(value: Cell) -> Checked:
    if isinstance(value, datetime):
        return value.date(), None
    if isinstance(value, date):
        return value, None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not 1 <= value < 2958466:  # Excel's last day: 9999-12-31
            return None, f"date de naissance illisible ({shown(value)})"
        return _EXCEL_EPOCH + timedelta(days=int(value)), None
    raw = cell_text(value).strip()
    if not raw:
        return None, "date de naissance manquante"
    match = _DMY.fullmatch(raw)
    if match:
        day, month, year = (int(part) for part in match.groups())
    else:
        match = _YMD.fullmatch(raw)
        if not match:
            return None, (
                f"date de naissance illisible (« {shown(raw)} ») : JJ/MM/AAAA ou AAAA-MM-JJ attendu"
            )
        year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day), None
    except ValueError:
        return None, f"date de naissance impossible ({shown(raw)})"


def _check_email(value: Cell) -> Checked:
    raw = cell_text(value).strip()
    if not raw:
        return None, None
    email = normalize_email(raw)
    if email is None:
        return None, f"adresse email invalide (« {shown(raw)} »)"
    return email, None


@lru_cache(maxsize=CHECK_CACHE_SIZE, typed=True)
def _check_category(value: Cell) -> Checked:
    raw = cell_text(value).strip()
    if not raw:
        return None, "catégorie manquante"
    category = category_of(raw)
    if category is None:
        return None, f"catégorie inconnue (« {shown(raw)} »)"
    return category.value, None


@lru_cache(maxsize=CHECK_CACHE_SIZE, typed=True)
def _check_status(value: Cell) -> Checked:
    raw = cell_text(value).strip()
    status = status_of(raw)
    if status is None:
        return None, f"statut inconnu (« {shown(raw)} ») : inscrit, suspendu ou radié attendu"
    return status.value, None


@lru_cache(maxsize=CHECK_CACHE_SIZE, typed=True)
def _check_firm_name(value: Cell) -> Checked:
    raw = cell_text(value)
    firm = " ".join(raw.split())  # line breaks of a multi-line cell become spaces
    if _CONTROL.search(firm):
        return None, f"nom de cabinet invalide (« {shown(raw)} ») : caractères de contrôle"
    if len(firm) > FIRM_NAME_MAX:
        return None, f"nom de cabinet trop long ({len(firm)} caractères, {FIRM_NAME_MAX} au plus)"
    return firm or None, None


def _check_siren(value: Cell) -> Checked:
    if isinstance(value, float) and value.is_integer() and 0 < value < 1e9:
        siren = f"{int(value):09d}"  # a spreadsheet number lost its leading zeros
    else:
        siren = "".join(cell_text(value).split())  # spaces and any other whitespace out
    if not siren:
        return None, None
    if len(siren) != 9 or not siren.isascii() or not siren.isdigit():
        return None, f"SIREN invalide (« {shown(value)} ») : 9 chiffres attendus"
    if not luhn_ok(siren):
        return None, f"SIREN invalide ({siren}) : clé de contrôle fausse"
    return siren, None


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
    """`search_key(family_name, given_names)`, from each name's cached key: every step of the
    key (ligatures, NFKD, casefold, keeping ASCII letters and digits) works character by
    character and drops the joining space, so the parts' keys joined are the whole's key;
    names repeat across a council's members, entire rows rarely do."""
    return _name_key(values[0]) + _name_key(values[1])


@lru_cache(maxsize=65536)
def _name_key(name: str) -> str:
    return search_key(name)
