"""« Sécurité avancée » on « Mon compte »: the account's second factors, TOTP enrolment and
removal, recovery codes, "toujours demander", and « Confirmez votre identité » (the recent
authentication every factor change needs). ADR 0022.

`next` (a local path, `safe_next_url`) is where the person was going when the second-factor
page sent them here to add a factor; it is kept through enrolment and offered as « Continuer ».
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from idp.accounts.auth import (
    current_session,
    login_required,
    rotate_session,
    safe_next_url,
)
from idp.accounts.errors import InvalidCredentials
from idp.accounts.models import User, UserSession
from idp.audit.services import recent_events
from idp.config import settings
from idp.errors import DomainError
from idp.extensions import db
from idp.mfa import factors, flow, manage, totp
from idp.mfa.errors import InvalidSecondFactor
from idp.mfa.forms import AlwaysAskForm, ConfirmIdentityForm, TotpEnrolmentForm
from idp.mfa.models import TotpCredential
from idp.mfa.qr import qr_svg
from idp.mfa.web import bp
from idp.throttling import TooManyAttempts
from idp.web_context import client_ip


@dataclass(frozen=True)
class MfaSummary:
    """What the « Sécurité avancée » card of « Mon compte » shows."""

    totp: bool
    passkeys: int
    recovery_codes_left: int
    always: bool

    @property
    def has_second_factor(self) -> bool:
        return self.totp or self.passkeys > 0


def mfa_summary(user: User) -> MfaSummary:
    available = factors.factors_of(db.session, user)
    return MfaSummary(
        totp=available.totp is not None,
        passkeys=len(available.passkeys),
        recovery_codes_left=available.recovery_codes_left,
        always=user.mfa_always,
    )


@bp.app_context_processor
def mfa_template_functions() -> dict[str, object]:
    return {"mfa_summary": mfa_summary}


def _live() -> tuple[User, UserSession]:
    """The logged-in user and session (the guards ran before)."""
    user_session = current_session()
    if user_session is None:
        abort(403)
    return user_session.user, user_session


def _next_url() -> str:
    return safe_next_url(request.args.get("next"), "")


def _continue_url(next_url: str) -> str:
    """Where « Continuer » goes: `next`, or this page. A way back through the second-factor
    page skips it once this session is stepped up (an enrolment code steps it up): the person
    just proved the factor, and its current code is spent."""
    if not next_url:
        return url_for("mfa.security")
    parts = urlsplit(next_url)
    user_session = current_session()
    if (
        parts.path == url_for("mfa.verify")
        and user_session is not None
        and factors.is_stepped_up(user_session)
    ):
        inner = parse_qs(parts.query).get("next", [""])[0]
        return safe_next_url(inner, next_url)
    return next_url


def _back_to_security() -> Response:
    return redirect(url_for("mfa.security", next=_next_url() or None))


@bp.get("/account/security")
@login_required
def security() -> ResponseReturnValue:
    user, _user_session = _live()
    next_url = _next_url()
    return render_template(
        "mfa/security.html",
        user=user,
        factors=factors.factors_of(db.session, user),
        next_url=next_url,
        continue_url=_continue_url(next_url) if next_url else "",
        always_form=AlwaysAskForm(formdata=None, always=user.mfa_always),
        events=recent_events(db.session, user.id, types=manage.SECURITY_EVENTS, limit=10),
        recent_minutes=settings().mfa.recent_auth // 60,
    )


# --- TOTP -----------------------------------------------------------------------------------


def _enrolment_page(
    form: TotpEnrolmentForm, user: User, credential: TotpCredential | None, next_url: str
) -> str:
    context: dict[str, object] = {"form": form, "user": user, "next_url": next_url}
    if credential is not None:
        uri = totp.provisioning_uri(credential, user)
        secret = credential.secret
        context |= {
            "qr": qr_svg(uri, title=_("QR code à scanner avec votre application")),
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "issuer": settings().mfa.totp_issuer,
        }
    return render_template("mfa/totp_enrol.html", **context)


@bp.route("/account/security/totp", methods=["GET", "POST"])
@flow.recent_auth_required
def totp_enrol() -> ResponseReturnValue:
    """GET shows a pending secret (QR code and text); POST confirms it with a first code."""
    user, user_session = _live()
    next_url = _next_url()
    form = TotpEnrolmentForm()
    try:
        credential = manage.totp_enrolment(db.session, user)
    except manage.TotpAlreadyEnrolled:
        db.session.rollback()
        return _enrolment_page(form, user, None, next_url)
    if not form.validate_on_submit():
        db.session.commit()  # the pending secret shown
        return _enrolment_page(form, user, credential, next_url)
    try:
        codes = manage.confirm_totp(db.session, user, form.otp.data or "", ip=client_ip())
    except DomainError as error:
        db.session.commit()  # the audit row of the failure; the same secret stays pending
        if isinstance(error, manage.WrongEnrolmentCode):
            form.otp.errors = [*form.otp.errors, error.message]
        else:
            form.form_errors.append(error.message)
        return _enrolment_page(form, user, credential, next_url), error.status
    # The code just proved the new factor: this session is stepped up, its token rotated.
    factors.step_up(db.session, user_session, ["otp"])
    rotate_session(user_session)
    db.session.commit()
    if codes:
        return _codes_page(codes, next_url, enrolled=True)
    flash(_("Votre application d'authentification est ajoutée."), "success")
    return _back_to_security()


@bp.post("/account/security/totp/remove")
@flow.recent_auth_required
def totp_remove() -> ResponseReturnValue:
    user, _session = _live()
    if manage.remove_totp(db.session, user):
        db.session.commit()
        flash(_("L'application d'authentification est retirée de votre compte."), "success")
    else:
        db.session.rollback()
        flash(_("Votre compte n'a pas d'application d'authentification."), "error")
    return _back_to_security()


# --- recovery codes and "toujours demander" ---------------------------------------------------


def _codes_page(codes: list[str], next_url: str, *, enrolled: bool = False) -> Response:
    """The recovery codes, shown this once: never stored by a browser or a proxy."""
    response = make_response(
        render_template(
            "mfa/recovery_codes.html",
            codes=codes,
            enrolled=enrolled,
            continue_url=_continue_url(next_url),
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/account/security/recovery-codes")
@flow.recent_auth_required
def recovery_codes_regenerate() -> ResponseReturnValue:
    user, _session = _live()
    try:
        codes = manage.regenerate_recovery_codes(db.session, user)
    except manage.FactorNeeded as error:
        db.session.rollback()
        flash(error.message, "error")
        return _back_to_security()
    db.session.commit()
    return _codes_page(codes, _next_url())


@bp.post("/account/security/always")
@flow.recent_auth_required
def always_ask() -> ResponseReturnValue:
    user, _session = _live()
    form = AlwaysAskForm()
    if not form.validate_on_submit():
        abort(400)
    always = bool(form.always.data)
    try:
        changed = manage.set_always_ask(db.session, user, always)
    except manage.FactorNeeded as error:
        db.session.rollback()
        flash(error.message, "error")
        return _back_to_security()
    db.session.commit()
    if changed and always:
        flash(_("Votre second facteur sera demandé à chaque connexion."), "success")
    elif changed:
        flash(_("Votre second facteur ne sera demandé que lorsqu'un site l'exige."), "success")
    return _back_to_security()


# --- « Confirmez votre identité » -----------------------------------------------------------


@bp.route("/account/confirm", methods=["GET", "POST"])
@login_required
def confirm_identity() -> ResponseReturnValue:
    """The password or a factor again, when the session's authentication is too old for a
    factor change (`flow.recent_auth_required`); then back to `next`."""
    user, user_session = _live()
    next_url = safe_next_url(request.args.get("next"), url_for("mfa.security"))
    form = ConfirmIdentityForm()
    context = {
        "form": form,
        "user": user,
        "factors": factors.factors_of(db.session, user),
        "next_url": next_url,
        "recent_minutes": settings().mfa.recent_auth // 60,
    }
    if form.validate_on_submit():
        try:
            method = manage.prove_identity(
                db.session,
                user,
                password=form.password.data or "",
                code=form.otp.data or "",
                ip=client_ip(),
            )
        except DomainError as error:
            if isinstance(error, InvalidCredentials | InvalidSecondFactor | TooManyAttempts):
                db.session.commit()  # the failure is audited and counted
            else:
                db.session.rollback()
            form.form_errors.append(error.message)
            return render_template("mfa/confirm.html", **context), error.status
        flow.mark_reauthenticated(user_session, method)
        db.session.commit()
        return redirect(next_url)
    return render_template("mfa/confirm.html", **context)
