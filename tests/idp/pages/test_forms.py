"""The form macros of _forms.html: csrf_field, field, error_summary."""

from __future__ import annotations

import re

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import Form, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from tests.helpers import CSRF_FIELD, csrf_token

NBSP = "\u00a0"


class ContactForm(Form):
    """No CSRF: the macros only read fields, labels and errors."""

    name = StringField("Nom", validators=[DataRequired("Ce champ est obligatoire.")])
    code = StringField(
        "Code",
        validators=[Length(min=4, message="4 caractères au moins.")],
        render_kw={"aria-describedby": "code-rules"},
    )
    secret = PasswordField("Secret", render_kw={"aria_describedby": "secret-rules"})


def render(source: str, **context: object) -> str:
    return str(render_template_string("{% from '_forms.html' import " + source, **context))


def input_of(page: str, name: str) -> str:
    match = re.search(rf'<input [^>]*name="{name}"[^>]*>', page)
    assert match, name
    return match.group(0)


def described_by(page: str, name: str) -> str | None:
    match = re.search(r'aria-describedby="([^"]*)"', input_of(page, name))
    return match.group(1) if match else None


# --- csrf_field ----------------------------------------------------------------------------


def test_csrf_field_renders_a_hidden_input_without_id(app: Flask) -> None:
    with app.test_request_context():
        page = render("csrf_field %}{{ csrf_field(form) }}", form=FlaskForm())
    assert re.fullmatch(f"<input {CSRF_FIELD.pattern}>", page.strip())


def test_csrf_field_renders_nothing_without_a_token(app: Flask) -> None:
    with app.test_request_context():
        assert render("csrf_field %}{{ csrf_field(form) }}", form=ContactForm()).strip() == ""
        assert render("csrf_field %}{{ csrf_field(missing) }}").strip() == ""


def test_base_layout_uses_csrf_field(client: FlaskClient) -> None:
    page = client.get("/help").get_data(as_text=True)
    header = re.search(r"<header.*?</header>", page, re.S)
    assert header and 'id="csrf_token"' not in header.group(0)
    assert csrf_token(client, "/help")


# --- field ---------------------------------------------------------------------------------


def test_field_without_description_has_no_aria_describedby(app: Flask) -> None:
    with app.test_request_context():
        page = render("field %}{{ field(form.name) }}", form=ContactForm())
    assert "aria-describedby" not in page and "None" not in page
    assert 'aria-invalid="false"' in input_of(page, "name")


def test_field_keeps_its_render_kw_description(app: Flask) -> None:
    with app.test_request_context():
        page = render("field %}{{ field(form.code) }}{{ field(form.secret) }}", form=ContactForm())
    assert described_by(page, "code") == "code-rules"
    assert described_by(page, "secret") == "secret-rules"


def test_field_merges_render_kw_hint_described_by_and_error_once_each(app: Flask) -> None:
    form = ContactForm(data={"name": "", "code": "ab"})
    assert not form.validate()
    with app.test_request_context():
        page = render(
            "field %}"
            "{{ field(form.code, hint='Quatre lettres', described_by='code-rules extra') }}"
            "{{ field(form.name) }}",
            form=form,
        )
    assert described_by(page, "code") == "code-rules code-hint extra code-error"
    assert described_by(page, "name") == "name-error"
    assert 'aria-invalid="true"' in input_of(page, "code")
    assert '<p class="hint" id="code-hint">Quatre lettres</p>' in page
    assert 'id="name-error">Ce champ est obligatoire.' in page


def test_signup_password_is_described_by_its_rules_then_its_error(client: FlaskClient) -> None:
    page = client.get("/signup/autre").get_data(as_text=True)
    assert described_by(page, "password") == "password-rules"
    response = client.post(
        "/signup/autre",
        data={
            "csrf_token": csrf_token(client, "/signup/autre"),
            "password": "",
            "password_confirm": "",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert described_by(page, "password") == "password-rules password-error"
    assert described_by(page, "password_confirm") == "password_confirm-error"


# --- error_summary -------------------------------------------------------------------------


def summary(app: Flask, form: Form) -> str:
    with app.test_request_context():
        return render("error_summary %}{{ error_summary(form) }}", form=form)


def test_error_summary_is_empty_without_errors(app: Flask) -> None:
    form = ContactForm(data={"name": "Marie", "code": "abcd"})
    assert form.validate()
    assert summary(app, form).strip() == ""
    assert summary(app, ContactForm()).strip() == ""  # not submitted yet


def test_error_summary_links_every_error_to_its_field(app: Flask) -> None:
    form = ContactForm(data={"name": "", "code": "ab"})
    assert not form.validate()
    form.form_errors.append("Identifiant ou mot de passe incorrect.")
    page = summary(app, form)
    assert (
        '<div class="error-summary" role="alert" tabindex="-1" id="error-summary"'
        ' aria-labelledby="error-summary-title">'
    ) in page
    assert '<h2 id="error-summary-title">Le formulaire contient 3 erreurs</h2>' in page
    items = re.findall(r"<li>(.*?)</li>", page)
    assert items == [
        "Identifiant ou mot de passe incorrect.",
        f'<a href="#name">Nom{NBSP}: Ce champ est obligatoire.</a>',
        f'<a href="#code">Code{NBSP}: 4 caractères au moins.</a>',
    ]


def test_error_summary_singular_heading(app: Flask) -> None:
    form = ContactForm(data={"name": "", "code": "abcd"})
    assert not form.validate()
    page = summary(app, form)
    assert '<h2 id="error-summary-title">Le formulaire contient 1 erreur</h2>' in page
    assert page.count("<li>") == 1


def test_error_summary_escapes_messages(app: Flask) -> None:
    form = ContactForm(data={"name": "x", "code": "abcd"})
    form.validate()
    form.form_errors.append("<script>alert(1)</script>")
    form.code.errors = [Markup("<b>ok</b>"), "<i>no</i>"]
    page = summary(app, form)
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert "&lt;i&gt;no&lt;/i&gt;" in page


@pytest.mark.parametrize("label", ["Nom", "Code"])
def test_error_summary_links_point_at_existing_fields(app: Flask, label: str) -> None:
    form = ContactForm(data={"name": "", "code": "ab"})
    form.validate()
    with app.test_request_context():
        page = render(
            "error_summary, field %}{{ error_summary(form) }}"
            "{{ field(form.name) }}{{ field(form.code) }}",
            form=form,
        )
    target = re.search(rf'<a href="#([^"]+)">{label}{NBSP}:', page)
    assert target and f'id="{target.group(1)}"' in page
