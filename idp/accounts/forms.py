"""WTForms of the accounts pages. Field-level checks only; rules live in the domain."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

REQUIRED = _l("Ce champ est obligatoire.")


class LoginForm(FlaskForm):
    username = StringField(
        _l("Identifiant"),
        validators=[DataRequired(REQUIRED), Length(max=100)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Mot de passe"),
        validators=[DataRequired(REQUIRED), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )


class NewPasswordMixin:
    password = PasswordField(
        _l("Mot de passe"),
        validators=[DataRequired(REQUIRED), Length(max=1024)],
        render_kw={"autocomplete": "new-password", "aria-describedby": "password-rules"},
    )
    password_confirm = PasswordField(
        _l("Confirmez le mot de passe"),
        validators=[
            DataRequired(REQUIRED),
            EqualTo("password", message=_l("Les deux mots de passe ne correspondent pas.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class SignupForm(NewPasswordMixin, FlaskForm):
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
    email = EmailField(
        _l("Adresse email"),
        validators=[
            DataRequired(REQUIRED),
            Length(max=254, message=_l("254 caractères au plus.")),
            Email(message=_l("Adresse email invalide."), check_deliverability=False),
        ],
        render_kw={"autocomplete": "email"},
    )


class IdentifierForm(FlaskForm):
    """Resend activation / forgotten password: a username or an email."""

    identifier = StringField(
        _l("Identifiant ou adresse email"),
        validators=[DataRequired(REQUIRED), Length(max=254)],
        render_kw={"autocomplete": "username", "autocapitalize": "none"},
    )


class ResetPasswordForm(NewPasswordMixin, FlaskForm):
    pass


class ChangePasswordForm(NewPasswordMixin, FlaskForm):
    current_password = PasswordField(
        _l("Mot de passe actuel"),
        validators=[DataRequired(REQUIRED), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )


class ConfirmForm(FlaskForm):
    """A form with only its CSRF token (logout, revoke a session)."""
