"""Forms of the signup by profile. Field checks only; the registry rules live in services."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import Field, HiddenField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from idp.accounts.forms import REQUIRED, NewPasswordMixin, SesameForm, SignupForm
from idp.profiles.siren import is_valid_siren
from idp.registry.catalog import REGISTRATION_NUMBER_MAX

USERNAME_LABEL = _l("Identifiant (définitif, il ne pourra jamais être modifié)")
_DMY = re.compile(r"^\s*(\d{1,2})\s*[/.\- ]\s*(\d{1,2})\s*[/.\- ]\s*(\d{4})\s*$")
_ISO = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")


def parse_birth_date(raw: str) -> date | None:
    """`12/04/1975`, `12.04.1975`, `12-4-1975`, `12 04 1975` or `1975-04-12` (what a date
    input sends); None when it is not a real date."""
    if match := _DMY.match(raw):
        day, month, year = (int(g) for g in match.groups())
    elif match := _ISO.match(raw):
        year, month, day = (int(g) for g in match.groups())
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


class ChooseEntryForm(SesameForm):
    """The name picked in the list (a signed token), or the registration number typed."""

    candidate = HiddenField()
    registration_number = StringField(
        _l("Numéro d'inscription au tableau"),
        validators=[Optional(), Length(max=REGISTRATION_NUMBER_MAX + 10)],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if valid and not (self.candidate.data or (self.registration_number.data or "").strip()):
            self.registration_number.errors = [
                *self.registration_number.errors,
                _l("Choisissez votre nom dans la liste, ou saisissez votre numéro d'inscription."),
            ]
            return False
        return valid


class BirthDateForm(SesameForm):
    birth_date = StringField(
        _l("Date de naissance"),
        validators=[DataRequired(REQUIRED), Length(max=20)],
        render_kw={
            "autocomplete": "bday",
            "inputmode": "numeric",
            "placeholder": _l("JJ/MM/AAAA"),
        },
    )

    def validate_birth_date(self, field: Field) -> None:
        parsed = parse_birth_date(field.data or "")
        if parsed is None or not (date(1900, 1, 1) <= parsed <= date.today()):
            raise ValidationError(
                _l("Date invalide : saisissez-la sous la forme JJ/MM/AAAA, par exemple 07/03/1975.")
            )
        self.parsed = parsed

    parsed: date


class RegistryAccountForm(NewPasswordMixin, SesameForm):
    """Username and password: names and email come from the registry."""

    username = StringField(
        USERNAME_LABEL,
        validators=[DataRequired(REQUIRED), Length(max=100)],
        render_kw={
            "autocomplete": "username",
            "autocapitalize": "none",
            "spellcheck": "false",
            "aria-describedby": "username-rules",
        },
    )


class AgcForm(SesameForm):
    agc_name = StringField(
        _l("Nom de l'AGC"),
        validators=[DataRequired(REQUIRED), Length(max=200, message=_l("200 caractères au plus."))],
        render_kw={"autocomplete": "organization"},
    )
    siren = StringField(
        _l("SIREN de l'AGC"),
        validators=[DataRequired(REQUIRED), Length(max=20)],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    also_expert = RadioField(
        _l("Êtes-vous aussi expert-comptable inscrit au tableau de l'Ordre ?"),
        choices=[
            SelectChoice("oui", _l("Oui : je suis aussi expert-comptable")),
            SelectChoice("non", _l("Non")),
        ],
        validators=[DataRequired(_l("Répondez oui ou non."))],
    )

    def validate_siren(self, field: Field) -> None:
        if not is_valid_siren(field.data or ""):
            raise ValidationError(
                _l("SIREN invalide : 9 chiffres, dont le dernier est une clé de contrôle.")
            )


class AgcDetailsForm(SignupForm):
    """The président d'AGC not matched with the registry: what "Autre" asks."""
