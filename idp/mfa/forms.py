"""WTForms of the second-factor pages (field checks only; rules live in the domain)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from idp.accounts.forms import REQUIRED, SesameForm


def otp_field() -> StringField:
    return StringField(
        _l("Code de vérification"),
        description=_l(
            "Le code à 6 chiffres affiché par votre application d'authentification, ou l'un de "
            "vos codes de secours (xxxx-xxxx-xxxx)."
        ),
        validators=[DataRequired(REQUIRED), Length(max=40)],
        render_kw={
            "autocomplete": "one-time-code",
            "autocapitalize": "none",
            "spellcheck": "false",
            "autofocus": True,
        },
    )


class SecondFactorForm(SesameForm):
    """The second-factor page: the stable field name `otp`, like the login form."""

    otp = otp_field()
