"""The firm's forms: a new client company (with its first admin, optional), an admin for a
company, a collaborator of the firm. Messages French; dates checked here (not DateField)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, StringField, ValidationError
from wtforms.validators import Length

from client_portal_rp.access.forms import parse_date
from client_portal_rp.access.services import email_error

_NAME_LENGTH = Length(max=300, message=_l("Le nom fait 300 caractères au plus."))


class CompanyForm(FlaskForm):
    """« Ajouter une entreprise »; SIREN and raison sociale are checked by
    companies.add_company (one rule for the page and the CLI)."""

    siren = StringField(_l("SIREN"))
    name = StringField(_l("Raison sociale"))
    exercice_start = StringField(_l("Ouverture de l'exercice"))
    exercice_end = StringField(_l("Clôture de l'exercice"))
    admin_email = StringField(_l("Adresse e-mail de l'administrateur (facultatif)"))
    admin_name = StringField(_l("Nom de l'administrateur"), validators=[_NAME_LENGTH])

    def validate_exercice_start(self, field: Field) -> None:
        parse_date(field.data)

    def validate_exercice_end(self, field: Field) -> None:
        parse_date(field.data)

    def validate_admin_email(self, field: Field) -> None:
        if (field.data or "").strip():
            message = email_error(field.data)
            if message:
                raise ValidationError(message)


class PersonInviteForm(FlaskForm):
    """An email and a name: a company's admin, or a collaborator of the firm."""

    email = StringField(_l("Adresse e-mail (identifiant de connexion)"))
    name = StringField(_l("Nom"), validators=[_NAME_LENGTH])

    def validate_email(self, field: Field) -> None:
        message = email_error(field.data or "")
        if message:
            raise ValidationError(message)
