"""WTForms of the accounts pages. Field-level checks only; rules live in the domain."""

from __future__ import annotations

from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, Field, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length
from wtforms.widgets import PasswordInput

from idp.accounts.errors import InvalidText
from idp.text import has_forbidden_characters

REQUIRED = _l("Ce champ est obligatoire.")


def email_field(label: str | LazyString) -> EmailField:
    return EmailField(
        label,
        validators=[
            DataRequired(REQUIRED),
            Length(max=254, message=_l("254 caractères au plus.")),
            Email(message=_l("Adresse email invalide."), check_deliverability=False),
        ],
        render_kw={"autocomplete": "email"},
    )


class SesameForm(FlaskForm):
    """Every form of the IdP: control and invisible characters are refused in every text
    field (docs/security.md 18), passwords accepting any printable character."""

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if _refuses(field):
                field.errors = [*field.errors, InvalidText().message]
                valid = False
        return valid

    def all_errors(self) -> list[tuple[Field, str]]:
        return [(field, error) for field in self for error in field.errors]


def _refuses(field: Field) -> bool:
    data = field.data
    if not isinstance(data, str) or field.name == "csrf_token":
        return False
    return has_forbidden_characters(data, password=isinstance(field, PasswordField))


class KeptPasswordField(PasswordField):
    """A password re-shown after an error elsewhere in the form (the signup form keeps it
    unless the password itself was refused)."""

    widget = PasswordInput(hide_value=False)


class LoginForm(SesameForm):
    username = StringField(
        _l("Identifiant"),
        description=_l("Votre identifiant, pas votre adresse email."),
        validators=[DataRequired(REQUIRED), Length(max=100)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Mot de passe"),
        validators=[DataRequired(REQUIRED), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    # Stable contract: a client may send the second factor with the password (ADR 0022).
    otp = StringField(
        _l("Code de vérification"),
        description=_l(
            "Le code à 6 chiffres de votre application d'authentification, ou un code de secours."
        ),
        validators=[Length(max=40)],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "autocapitalize": "none",
            "spellcheck": "false",
        },
    )


class NewPasswordMixin:
    password = KeptPasswordField(
        _l("Mot de passe"),
        validators=[DataRequired(REQUIRED), Length(max=1024)],
        render_kw={"autocomplete": "new-password", "aria-describedby": "password-rules"},
    )
    password_confirm = KeptPasswordField(
        _l("Confirmez le mot de passe"),
        validators=[
            DataRequired(REQUIRED),
            EqualTo("password", message=_l("Les deux mots de passe ne correspondent pas.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )

    def forget_passwords(self) -> None:
        """Blank both password fields (after the password itself was refused)."""
        self.password.data = ""
        self.password_confirm.data = ""


class SignupForm(NewPasswordMixin, SesameForm):
    username = StringField(
        _l("Identifiant (définitif, il ne pourra jamais être modifié)"),
        validators=[DataRequired(REQUIRED), Length(max=100)],
        render_kw={
            "autocomplete": "username",
            "autocapitalize": "none",
            "spellcheck": "false",
            "aria-describedby": "username-rules",
        },
    )
    given_name = StringField(
        _l("Prénom"),
        validators=[DataRequired(REQUIRED), Length(max=100, message=_l("100 caractères au plus."))],
        render_kw={"autocomplete": "given-name"},
    )
    family_name = StringField(
        _l("Nom"),
        validators=[DataRequired(REQUIRED), Length(max=100, message=_l("100 caractères au plus."))],
        render_kw={"autocomplete": "family-name"},
    )
    email = email_field(_l("Adresse email"))


class IdentifierForm(SesameForm):
    """Resend activation / forgotten password: a username or an email."""

    identifier = StringField(
        _l("Identifiant ou adresse email"),
        validators=[DataRequired(REQUIRED), Length(max=254)],
        render_kw={"autocomplete": "username", "autocapitalize": "none"},
    )


class EmailForm(SesameForm):
    """Forgotten username: the address the accounts were created with."""

    identifier = email_field(_l("Adresse email"))


class ActivationForm(SesameForm):
    password = PasswordField(
        _l("Le mot de passe choisi à l'inscription"),
        validators=[DataRequired(REQUIRED), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )


class ResetPasswordForm(NewPasswordMixin, SesameForm):
    pass


class ChangePasswordForm(NewPasswordMixin, SesameForm):
    current_password = PasswordField(
        _l("Mot de passe actuel"),
        validators=[DataRequired(REQUIRED), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )


class ConfirmForm(SesameForm):
    """A form with only its CSRF token (logout, revoke a session)."""
