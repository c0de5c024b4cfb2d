"""Pages of the accounts domain: signup, activation, login, logout, reset, "Mon compte"."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from idp.accounts import services, throttling
from idp.accounts.auth import (
    current_session,
    current_user,
    login_required,
    login_user,
    logout_user,
    safe_next_url,
)
from idp.accounts.errors import (
    AccountError,
    InvalidUsername,
    TooManyAttempts,
    UsernameTaken,
    WeakPassword,
)
from idp.accounts.forms import (
    ChangePasswordForm,
    ConfirmForm,
    IdentifierForm,
    LoginForm,
    ResetPasswordForm,
    SignupForm,
)
from idp.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from idp.accounts.usernames import MAX_LENGTH as USERNAME_MAX
from idp.accounts.usernames import MIN_LENGTH as USERNAME_MIN
from idp.audit.models import AuditEventType
from idp.audit.services import recent_events
from idp.extensions import client_ip, db

bp = Blueprint("accounts", __name__)

Page = str | Response | tuple[str, int]


def _password_rules() -> dict[str, int]:
    return {"min": MIN_LENGTH, "max": MAX_LENGTH}


@bp.get("/")
def index() -> Response:
    if current_user() is not None:
        return redirect(url_for("accounts.account"))
    return redirect(url_for("accounts.login"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Page:
    form = LoginForm()
    next_url = safe_next_url(request.values.get("next"), url_for("accounts.account"))
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                db.session, form.username.data or "", form.password.data or "", ip=client_ip()
            )
        except AccountError as error:
            db.session.commit()  # keep the audit event of the failure
            form.form_errors.append(error.message)
            status = 429 if isinstance(error, TooManyAttempts) else 200
            return render_template("accounts/login.html", form=form, next=next_url), status
        login_user(user)
        db.session.commit()
        return redirect(next_url)
    return render_template("accounts/login.html", form=form, next=next_url)


@bp.post("/logout")
def logout() -> Response:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    logout_user()
    db.session.commit()
    flash(_("Vous êtes déconnecté."), "success")
    return redirect(url_for("accounts.login"))


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Page:
    form = SignupForm()
    if form.validate_on_submit():
        try:
            throttling.signups_per_ip.consume(client_ip())
            user = services.register_user(
                db.session,
                username=form.username.data or "",
                email=form.email.data or "",
                given_name=form.given_name.data or "",
                family_name=form.family_name.data or "",
                password=form.password.data or "",
            )
        except AccountError as error:
            db.session.rollback()
            field = _field_for(error)
            (getattr(form, field).errors if field else form.form_errors).append(error.message)
            return _render_signup(form), 429 if isinstance(error, TooManyAttempts) else 200
        db.session.commit()
        session["signup_email"] = user.email  # not in the URL: it would end up in logs
        return redirect(url_for("accounts.signup_done"))
    return _render_signup(form)


def _field_for(error: AccountError) -> str | None:
    if isinstance(error, InvalidUsername | UsernameTaken):
        return "username"
    if isinstance(error, WeakPassword):
        return "password"
    return None


def _render_signup(form: SignupForm) -> str:
    return render_template(
        "accounts/signup.html",
        form=form,
        rules=_password_rules(),
        username_rules={"min": USERNAME_MIN, "max": USERNAME_MAX},
    )


@bp.get("/signup/done")
def signup_done() -> str:
    return render_template("accounts/signup_done.html", email=session.pop("signup_email", ""))


@bp.get("/activate/<token>")
def activate(token: str) -> Page:
    try:
        services.activate(db.session, token)
    except AccountError as error:
        db.session.rollback()
        return render_template(
            "accounts/link_error.html", message=error.message, kind="activation"
        ), 400
    db.session.commit()
    flash(_("Votre compte est activé. Vous pouvez vous connecter."), "success")
    return redirect(url_for("accounts.login"))


@bp.route("/activate/resend", methods=["GET", "POST"])
def resend_activation() -> Page:
    form = IdentifierForm()
    if form.validate_on_submit():
        try:
            throttling.email_sends_per_ip.consume(client_ip())
        except TooManyAttempts as error:
            form.form_errors.append(error.message)
            return render_template("accounts/resend_activation.html", form=form), 429
        services.resend_activation(db.session, form.identifier.data or "")
        db.session.commit()
        return render_template("accounts/email_sent.html", kind="activation")
    return render_template("accounts/resend_activation.html", form=form)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password() -> Page:
    form = IdentifierForm()
    if form.validate_on_submit():
        try:
            throttling.email_sends_per_ip.consume(client_ip())
        except TooManyAttempts as error:
            form.form_errors.append(error.message)
            return render_template("accounts/forgot_password.html", form=form), 429
        services.request_password_reset(db.session, form.identifier.data or "")
        db.session.commit()
        return render_template("accounts/email_sent.html", kind="reset")
    return render_template("accounts/forgot_password.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Page:
    try:
        user = services.user_for_reset_token(db.session, token)
    except AccountError as error:
        return render_template("accounts/link_error.html", message=error.message, kind="reset"), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            services.reset_password(db.session, token, form.password.data or "")
        except AccountError as error:
            db.session.rollback()
            form.password.errors = [*form.password.errors, error.message]
            return _render_reset(form, user.username)
        logout_user()
        db.session.commit()
        flash(_("Votre mot de passe est changé. Connectez-vous avec le nouveau."), "success")
        return redirect(url_for("accounts.login"))
    return _render_reset(form, user.username)


def _render_reset(form: ResetPasswordForm, username: str) -> str:
    return render_template(
        "accounts/reset_password.html", form=form, username=username, rules=_password_rules()
    )


@bp.get("/account")
@login_required
def account() -> str:
    user = current_user()
    assert user is not None
    return render_template(
        "accounts/account.html",
        user=user,
        this_session=current_session(),
        sessions=services.active_sessions(db.session, user),
        logins=recent_events(
            db.session,
            user.id,
            types=[AuditEventType.LOGIN_SUCCEEDED, AuditEventType.LOGIN_FAILED],
            limit=10,
        ),
        confirm_form=ConfirmForm(),
    )


@bp.post("/account/sessions/<public_id>/revoke")
@login_required
def revoke_session(public_id: str) -> Response:
    form = ConfirmForm()
    user = current_user()
    assert user is not None
    if not form.validate_on_submit():
        abort(400)
    this_session = current_session()
    if not services.revoke_session(db.session, user, public_id[:64]):
        abort(404)
    db.session.commit()
    if this_session is not None and this_session.public_id == public_id:
        logout_user()
        return redirect(url_for("accounts.login"))
    flash(_("La session a été fermée."), "success")
    return redirect(url_for("accounts.account"))


@bp.post("/account/sessions/revoke-others")
@login_required
def revoke_other_sessions() -> Response:
    form = ConfirmForm()
    user = current_user()
    assert user is not None
    if not form.validate_on_submit():
        abort(400)
    count = services.revoke_all_sessions(
        db.session, user, reason="revoked_by_user", keep=current_session()
    )
    db.session.commit()
    flash(
        ngettext("%(num)d autre session fermée.", "%(num)d autres sessions fermées.", count),
        "success",
    )
    return redirect(url_for("accounts.account"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Page:
    user = current_user()
    this_session = current_session()
    assert user is not None and this_session is not None
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                db.session,
                user,
                form.current_password.data or "",
                form.password.data or "",
                keep=this_session,
            )
        except AccountError as error:
            db.session.rollback()
            form.form_errors.append(error.message)
            return render_template(
                "accounts/change_password.html", form=form, rules=_password_rules()
            ), (429 if isinstance(error, TooManyAttempts) else 200)
        db.session.commit()
        flash(_("Votre mot de passe est changé. Vos autres sessions sont fermées."), "success")
        return redirect(url_for("accounts.account"))
    return render_template("accounts/change_password.html", form=form, rules=_password_rules())
