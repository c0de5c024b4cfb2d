"""Forms of the delegation pages. Field checks only: who may grant, which services and which
end date are the domain's rules (idp.delegation.rules, services), shown on the form."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from wtforms import Field, HiddenField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from idp.accounts.forms import REQUIRED, SesameForm
from idp.delegation.services import MESSAGE_MAX
from idp.oidc.models import OAuthClient
from idp.profiles.forms import parse_birth_date

PARIS = ZoneInfo("Europe/Paris")
MAX_YEARS = 3


class ServicesField(SelectMultipleField):
    """Checkboxes of services. Which ones may be named is the domain's rule (its French
    message), not WTForms' English "not a valid choice"."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: Any) -> None:
        if not self.data:
            raise ValidationError(_l("Choisissez au moins un service."))


def offer(field: ServicesField, clients: list[OAuthClient]) -> None:
    field.choices = [(client.client_id, client.name) for client in clients]


def today() -> date:
    return datetime.now(PARIS).date()


def years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def end_of(day: date) -> datetime:
    """A delegation ending on `day` counts no more from that day's midnight, Paris time."""
    return datetime.combine(day, time(0, 0), tzinfo=PARIS)


class EndDateMixin:
    ends_on = StringField(
        _l("Date de fin"),
        validators=[DataRequired(REQUIRED), Length(max=20)],
        render_kw={"type": "date"},
    )
    parsed_end: date

    def validate_ends_on(self, field: Field) -> None:
        parsed = parse_birth_date(field.data or "")
        if parsed is None:
            raise ValidationError(
                _l("Date invalide : saisissez-la sous la forme JJ/MM/AAAA, par exemple 07/03/2027.")
            )
        if parsed <= today():
            raise ValidationError(_l("La date de fin doit être dans le futur."))
        if parsed > years_later(today(), MAX_YEARS):
            raise ValidationError(_l("Une délégation dure au plus trois ans."))
        self.parsed_end = parsed

    def default_end(self) -> None:
        """One year from today, unless the person already typed a date."""
        if not self.ends_on.data:
            self.ends_on.data = years_later(today(), 1).isoformat()


class SearchForm(SesameForm):
    """The plain search (no script): a name or a registration number."""

    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField(_l("Nom ou numéro d'inscription de l'expert-comptable"), [Length(max=100)])


class RequestForm(SesameForm):
    candidate = HiddenField(validators=[DataRequired(_l("Choisissez l'expert-comptable."))])
    services = ServicesField(_l("Services"))
    message = TextAreaField(
        _l("Message à l'expert-comptable (facultatif)"),
        validators=[Optional(), Length(max=MESSAGE_MAX)],
        render_kw={"rows": 4, "maxlength": MESSAGE_MAX},
    )


class DecisionForm(EndDateMixin, SesameForm):
    services = ServicesField(_l("Services accordés"))
    reason = TextAreaField(
        _l("Motif du refus (facultatif, transmis au demandeur)"),
        validators=[Optional(), Length(max=MESSAGE_MAX)],
        render_kw={"rows": 3, "maxlength": MESSAGE_MAX},
    )


class RefusalForm(SesameForm):
    reason = TextAreaField(
        _l("Motif du refus (facultatif, transmis au demandeur)"),
        validators=[Optional(), Length(max=MESSAGE_MAX)],
        render_kw={"rows": 3, "maxlength": MESSAGE_MAX},
    )


class GrantForm(EndDateMixin, SesameForm):
    grantee = StringField(
        _l("Identifiant Sésame ou adresse email du collaborateur"),
        validators=[DataRequired(REQUIRED), Length(max=254)],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
    )
    services = ServicesField(_l("Services"))
