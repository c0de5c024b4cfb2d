"""Passkeys on the web (ADR 0022): the WebAuthn ceremonies, as JSON endpoints that
idp/static/js/passkeys.js calls (CSRF token in the X-CSRFToken header), and the list's rename
and remove forms on « Sécurité avancée ».

- register: /account/security/passkeys/options, then /account/security/passkeys (recent
  authentication needed; the new passkey steps the session up: it was just used);
- second factor on the second-factor page: /login/verify/passkey/options, /login/verify/passkey;
- passwordless: /login/passkey/options, /login/passkey;
- « Confirmez votre identité »: /account/confirm/passkey/options, /account/confirm/passkey.

A ceremony's answer is {"redirect": url} (the page goes there) or {"error": message} with a
4xx status; a missing or stale session answers 401/403 with a message and where to go.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from idp import throttling
from idp.accounts.auth import (
    current_session,
    login_required,
    login_user,
    rotate_session,
    safe_next_url,
)
from idp.accounts.forms import ConfirmForm
from idp.errors import DomainError
from idp.extensions import db
from idp.mfa import factors, flow, passkeys, recovery
from idp.mfa.errors import NoSecondFactor
from idp.mfa.passkey_forms import PasskeyNameForm
from idp.mfa.passkeys import Purpose
from idp.mfa.web import bp
from idp.web_context import client_ip

P = ParamSpec("P")
R = TypeVar("R")


# --- JSON plumbing ----------------------------------------------------------------------------


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(payload)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _options(options_json: str) -> Response:
    response = Response(options_json, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _refusal(error: DomainError) -> Response:
    """A domain error as JSON: its message, its status when it is an HTTP error one (429)."""
    status = error.status if error.status >= 400 else 400
    response = _json({"error": error.message}, status)
    if isinstance(error, throttling.TooManyAttempts):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _next_from_body(body: dict[str, Any], default: str) -> str:
    value = body.get("next")
    return safe_next_url(value if isinstance(value, str) else None, default)


def _json_session_required(
    *, recent: bool
) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """`login_required` (and `flow.recent_auth_required`) for the JSON endpoints: instead of a
    redirect, 401/403 with a French message and the page to go to (the login page, or
    « Confirmez votre identité » with the way back)."""

    def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            user_session = current_session()
            back = url_for("mfa.security", next=_next_from_body(_body(), "") or None)
            if user_session is None:
                return _json(
                    {
                        "error": _("Votre session a expiré. Reconnectez-vous."),
                        "redirect": url_for("accounts.login", next=back),
                    },
                    401,
                )
            if recent and not flow.is_recent(user_session):
                return _json(
                    {
                        "error": _(
                            "Pour modifier vos seconds facteurs, confirmez d'abord votre identité."
                        ),
                        "redirect": url_for("mfa.confirm_identity", next=back),
                    },
                    403,
                )
            return view(*args, **kwargs)

        return wrapped

    return decorator


# --- registration -----------------------------------------------------------------------------


@bp.post("/account/security/passkeys/options")
@_json_session_required(recent=True)
def passkey_registration_options() -> ResponseReturnValue:
    """Options of navigator.credentials.create(); the name, when sent, is checked first (before
    the person goes through their authenticator for nothing)."""
    user_session = current_session()
    assert user_session is not None
    body = _body()
    if "name" in body:
        try:
            passkeys.clean_name(body["name"] if isinstance(body["name"], str) else None)
        except DomainError as error:
            return _refusal(error)
    options = passkeys.registration_options(db.session, user_session.user)
    db.session.commit()
    return _options(options)


@bp.post("/account/security/passkeys")
@_json_session_required(recent=True)
def passkey_register() -> ResponseReturnValue:
    user_session = current_session()
    assert user_session is not None
    user = user_session.user
    body = _body()
    name = body.get("name")
    try:
        passkey = passkeys.register(
            db.session, user, body.get("credential"), name if isinstance(name, str) else None
        )
    except DomainError as error:
        db.session.commit()  # the challenge stays spent
        return _refusal(error)
    factors.notify(db.session, user, factors.Notice.PASSKEY_ADDED, name=passkey.name)
    # The new passkey was just used: the session passed a second factor.
    factors.step_up(db.session, user_session, [passkey.amr])
    rotate_session(user_session)
    db.session.commit()
    message = _("La clé d'accès « %(name)s » a été ajoutée.", name=passkey.name)
    if not recovery.remaining(db.session, user):
        message += " " + _(
            "Générez maintenant vos codes de secours : ils vous dépanneront si vous perdez vos "
            "clés d'accès."
        )
    flash(message, "success")
    # Back to « Sécurité avancée », which offers to resume a login that was going somewhere.
    return _json({"redirect": url_for("mfa.security", next=_next_from_body(body, "") or None)})


# --- the list: rename, remove -----------------------------------------------------------------


def _security_page() -> str:
    return url_for("mfa.security") + "#passkeys"


@bp.route("/account/security/passkeys/<int:passkey_id>/rename", methods=["GET", "POST"])
@login_required
def passkey_rename(passkey_id: int) -> ResponseReturnValue:
    user_session = current_session()
    assert user_session is not None
    user = user_session.user
    passkey = passkeys.passkey_of(db.session, user, passkey_id)
    if passkey is None:
        return redirect(_security_page())
    form = PasskeyNameForm()
    if request.method == "GET":
        form.name.data = passkey.name
    elif form.validate_on_submit():
        try:
            passkeys.rename(db.session, user, passkey, form.name.data)
        except DomainError as error:
            db.session.rollback()
            form.name.errors = [*form.name.errors, error.message]
        else:
            db.session.commit()
            flash(_("La clé d'accès a été renommée « %(name)s ».", name=passkey.name), "success")
            return redirect(_security_page())
    return render_template("mfa/passkey_rename.html", form=form, passkey=passkey)


@bp.post("/account/security/passkeys/<int:passkey_id>/remove")
@flow.recent_auth_required
def passkey_remove(passkey_id: int) -> ResponseReturnValue:
    user_session = current_session()
    assert user_session is not None
    user = user_session.user
    passkey = passkeys.passkey_of(db.session, user, passkey_id)
    if passkey is None or not ConfirmForm().validate_on_submit():
        return redirect(_security_page())
    name = passkey.name
    passkeys.remove(db.session, user, passkey)
    factors.notify(db.session, user, factors.Notice.PASSKEY_REMOVED, name=name)
    factors.forget_factors_if_none_left(db.session, user)
    db.session.commit()
    flash(_("La clé d'accès « %(name)s » a été supprimée.", name=name), "success")
    return redirect(_security_page())


# --- second factor (the second-factor page) ---------------------------------------------------


def _no_verification() -> Response:
    return _json(
        {
            "error": _("Votre connexion a expiré. Reconnectez-vous."),
            "redirect": url_for("accounts.login"),
        },
        401,
    )


@bp.post("/login/verify/passkey/options")
def passkey_verify_options() -> ResponseReturnValue:
    who = flow.verifying_user()
    if who is None:
        return _no_verification()
    user, _pending = who
    if not passkeys.passkeys_of(db.session, user):
        return _refusal(NoSecondFactor())
    options = passkeys.authentication_options(db.session, Purpose.SECOND_FACTOR, user)
    db.session.commit()
    return _options(options)


@bp.post("/login/verify/passkey")
def passkey_verify() -> ResponseReturnValue:
    """A passkey as the second factor: the pending login opens, or the session steps up
    (`flow.complete`); the page then goes where complete() would have redirected."""
    who = flow.verifying_user()
    if who is None:
        return _no_verification()
    user, pending = who
    body = _body()
    next_url = pending.next_url if pending else _next_from_body(body, "")
    try:
        use = passkeys.authenticate(
            db.session, body.get("credential"), Purpose.SECOND_FACTOR, ip=client_ip(), user=user
        )
    except DomainError as error:
        db.session.commit()  # the challenge stays spent; the failure's audit event stays
        return _refusal(error)
    completed = flow.complete(user, [use.method], next_url=next_url)
    return _json({"redirect": completed.location})


# --- passwordless login -----------------------------------------------------------------------


@bp.post("/login/passkey/options")
def passkey_login_options() -> ResponseReturnValue:
    options = passkeys.authentication_options(db.session, Purpose.LOGIN)
    db.session.commit()
    return _options(options)


@bp.post("/login/passkey")
def passkey_login() -> ResponseReturnValue:
    """« Se connecter avec une clé d'accès »: a passkey that verified its user (PIN,
    biometrics) is both factors. `next` is the login page's (an authorization request
    resumes)."""
    body = _body()
    next_url = _next_from_body(body, url_for("accounts.account"))
    try:
        use = passkeys.authenticate(
            db.session, body.get("credential"), Purpose.LOGIN, ip=client_ip()
        )
    except DomainError as error:
        db.session.commit()  # the challenge stays spent; the failure's audit event stays
        return _refusal(error)
    amr = passkeys.passwordless_login(db.session, use)
    login_user(
        use.user,
        credential_epoch=use.user.credential_epoch,
        amr=" ".join(amr),
        acr=factors.acr_for(amr),
    )
    db.session.commit()
    return _json({"redirect": next_url})


# --- « Confirmez votre identité » ------------------------------------------------------------


@bp.post("/account/confirm/passkey/options")
@_json_session_required(recent=False)
def passkey_confirm_options() -> ResponseReturnValue:
    user_session = current_session()
    assert user_session is not None
    if not passkeys.passkeys_of(db.session, user_session.user):
        return _refusal(NoSecondFactor())
    options = passkeys.authentication_options(db.session, Purpose.CONFIRM, user_session.user)
    db.session.commit()
    return _options(options)


@bp.post("/account/confirm/passkey")
@_json_session_required(recent=False)
def passkey_confirm() -> ResponseReturnValue:
    user_session = current_session()
    assert user_session is not None
    body = _body()
    try:
        passkeys.authenticate(
            db.session,
            body.get("credential"),
            Purpose.CONFIRM,
            ip=client_ip(),
            user=user_session.user,
        )
    except DomainError as error:
        db.session.commit()
        return _refusal(error)
    flow.mark_reauthenticated(user_session, "passkey")
    db.session.commit()
    return _json({"redirect": _next_from_body(body, url_for("mfa.security"))})
