"""WTForms of the second-factor pages (field checks only; rules live in the domain)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from idp.accounts.forms import REQUIRED, SesameForm
from idp.mfa import totp


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


# --- « Sécurité avancée » (security_views.py) -------------------------------------------------


def _six_digits(form: SesameForm, field: StringField) -> None:
    if field.data and not totp.looks_like_totp(field.data):
        raise ValidationError(
            str(_l("Saisissez les 6 chiffres affichés par votre application (sans lettres)."))
        )


class TotpEnrolmentForm(SesameForm):
    """The first code of a new authenticator app (it proves the app holds the secret)."""

    otp = StringField(
        _l("Code à 6 chiffres"),
        description=_l("Le code affiché par votre application pour « Sésame », sans espace."),
        validators=[DataRequired(REQUIRED), Length(max=20), _six_digits],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "autocapitalize": "none",
            "spellcheck": "false",
        },
    )


class AlwaysAskForm(SesameForm):
    always = BooleanField(_l("Toujours demander mon second facteur à la connexion"))


class ConfirmIdentityForm(SesameForm):
    """« Confirmez votre identité »: the password, or a code (two forms on the page, one
    class: each posts its own field)."""

    password = PasswordField(
        _l("Mot de passe"),
        validators=[Optional(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    otp = StringField(
        _l("Code de vérification"),
        description=_l(
            "Le code à 6 chiffres de votre application d'authentification, ou l'un de vos codes "
            "de secours (xxxx-xxxx-xxxx)."
        ),
        validators=[Optional(), Length(max=40)],
        render_kw={
            "autocomplete": "one-time-code",
            "autocapitalize": "none",
            "spellcheck": "false",
        },
    )
