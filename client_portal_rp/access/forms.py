"""The forms of « Administrez vos accès » and of the company's settings. Every message is
French and says what to fix (WTForms' own English messages are never shown: role and dates are
checked here rather than by RadioField/DateField)."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, StringField, ValidationError
from wtforms.validators import Length

from client_portal_rp.access.services import email_error
from client_portal_rp.models import MODULE_LABELS, Module, Role


class ModulesMixin:
    """The three module checkboxes, in the guides' order."""

    deposit = BooleanField(MODULE_LABELS[Module.DEPOSIT])
    compta = BooleanField(MODULE_LABELS[Module.COMPTA])
    archives = BooleanField(MODULE_LABELS[Module.ARCHIVES])

    def module_fields(self) -> list[tuple[Module, BooleanField]]:
        return [
            (Module.DEPOSIT, self.deposit),
            (Module.COMPTA, self.compta),
            (Module.ARCHIVES, self.archives),
        ]

    def chosen_modules(self) -> set[Module]:
        return {module for module, field in self.module_fields() if field.data}

    def show_modules(self, modules: set[Module]) -> None:
        for module, field in self.module_fields():
            field.data = module in modules


def _check_role(field: Field) -> None:
    if field.data not in Role._value2member_map_:
        raise ValidationError(str(_l("Choisissez le rôle : utilisateur ou administrateur.")))


class InviteForm(ModulesMixin, FlaskForm):
    """« Nouvel utilisateur »."""

    email = StringField(_l("Adresse e-mail (identifiant de connexion)"))
    name = StringField(
        _l("Nom"),
        validators=[Length(max=300, message=_l("Le nom fait 300 caractères au plus."))],
    )
    role = StringField(_l("Rôle"), default=Role.USER.value)

    def validate_email(self, field: Field) -> None:
        message = email_error(field.data or "")
        if message:
            raise ValidationError(message)

    def validate_role(self, field: Field) -> None:
        _check_role(field)


class MemberForm(ModulesMixin, FlaskForm):
    """« Modifier »: role and modules of a member."""

    role = StringField(_l("Rôle"))

    def validate_role(self, field: Field) -> None:
        _check_role(field)


class ActionForm(FlaskForm):
    """A button that changes something (remove, resend, cancel, reset link): CSRF only."""


def parse_date(raw: str | None) -> date | None:
    """An `<input type=date>` value (YYYY-MM-DD) or a French JJ/MM/AAAA; None when empty."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        if "/" in text:
            day, month, year = (int(part) for part in text.split("/"))
            return date(year, month, day)
        return date.fromisoformat(text)
    except ValueError as error:
        raise ValidationError(
            str(_l("Date non valable : indiquez-la au format JJ/MM/AAAA (par exemple 31/12/2025)."))
        ) from error


class SettingsForm(FlaskForm):
    """The company's settings (the firm's staff): "Sécurité avancée" modules, exercice."""

    advanced_deposit = BooleanField(MODULE_LABELS[Module.DEPOSIT])
    advanced_compta = BooleanField(MODULE_LABELS[Module.COMPTA])
    advanced_archives = BooleanField(MODULE_LABELS[Module.ARCHIVES])
    exercice_start = StringField(_l("Ouverture de l'exercice"))
    exercice_end = StringField(_l("Clôture de l'exercice"))

    def advanced_fields(self) -> list[tuple[Module, BooleanField]]:
        return [
            (Module.DEPOSIT, self.advanced_deposit),
            (Module.COMPTA, self.advanced_compta),
            (Module.ARCHIVES, self.advanced_archives),
        ]

    def chosen_advanced(self) -> set[Module]:
        return {module for module, field in self.advanced_fields() if field.data}

    def validate_exercice_start(self, field: Field) -> None:
        parse_date(field.data)

    def validate_exercice_end(self, field: Field) -> None:
        parse_date(field.data)
