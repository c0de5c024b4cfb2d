"""Pages of the accounts domain: signup, activation, login, logout, reset, "Mon compte"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_babel.speaklater import LazyString
from werkzeug.wrappers import Response

from idp import throttling
from idp.accounts import email_requests, services, sessions
from idp.accounts.auth import (
    current_session,
    current_user,
    forget_session,
    login_required,
    login_user,
    logout_user,
    safe_next_url,
)
from idp.accounts.errors import InvalidCredentials, UsernameTaken
from idp.accounts.forms import (
    ActivationForm,
    ChangePasswordForm,
    ConfirmForm,
    EmailForm,
    IdentifierForm,
    LoginForm,
    ResetPasswordForm,
    SesameForm,
    SignupForm,
)
from idp.accounts.models import User
from idp.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from idp.accounts.usernames import MAX_LENGTH as USERNAME_MAX
from idp.accounts.usernames import MIN_LENGTH as USERNAME_MIN
from idp.audit.models import AuditEventType
from idp.audit.services import recent_events
from idp.errors import DomainError
from idp.extensions import db
from idp.profiles.catalog import PROFILE_LABELS, REGISTRY_MATCHED_PROFILES, Profile
from idp.text import has_forbidden_characters
from idp.web_context import client_ip

bp = Blueprint("accounts", __name__)

Page = str | Response | tuple[str, int]
# The username to show in the login form after activation or reset (never in the URL).
LOGIN_USERNAME_KEY = "login_username"
# The email to show in the "Autre" signup form (an authorization's `login_hint`, ADR 0023).
SIGNUP_EMAIL_KEY = "signup_email_hint"
# Where a signup started from (a pending authorization): the login after activation in this
# browser goes on there (ADR 0023). A local path only (`safe_next_url`).
SIGNUP_NEXT_KEY = "signup_next"


def _password_rules() -> dict[str, int]:
    return {"min": MIN_LENGTH, "max": MAX_LENGTH}


def _refused(form: SesameForm, error: DomainError, template: str, **context: object) -> Page:
    """Show a domain error on its form, with the status the error carries (429 when throttled)."""
    form.form_errors.append(error.message)
    return render_template(template, form=form, **context), error.status


def _keep_only_failed_attempts(error: DomainError) -> None:
    """A refused password attempt keeps its audit row; any other refusal keeps nothing."""
    if isinstance(error, InvalidCredentials | throttling.TooManyAttempts):
        db.session.commit()
    else:
        db.session.rollback()


@bp.get("/")
def index() -> Response:
    if current_user() is not None:
        return redirect(url_for("accounts.account"))
    return redirect(url_for("accounts.login"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Page:
    form = LoginForm()
    next_url = safe_next_url(request.values.get("next"), url_for("accounts.account"))
    if request.method == "GET" and not form.username.data:
        form.username.data = session.pop(LOGIN_USERNAME_KEY, None)
    if form.validate_on_submit():
        try:
            authenticated = services.authenticate(
                db.session, form.username.data or "", form.password.data or "", ip=client_ip()
            )
        except DomainError as error:
            db.session.commit()  # keep the audit event of the failure
            return _refused(form, error, "accounts/login.html", next=next_url)
        return _after_password(form, authenticated, next_url)
    return render_template("accounts/login.html", form=form, next=next_url)


def _after_password(form: LoginForm, authenticated: services.Authenticated, next_url: str) -> Page:
    """The second factor, when the form carries one (`otp`) or the account always asks for
    it (then on the second-factor page); else a password session (ADR 0022)."""
    from idp.mfa import factors, flow

    user = authenticated.user
    amr = ["pwd"]
    if form.otp.data:
        try:
            amr = factors.combine_amr(
                amr, factors.verify_code(db.session, user, form.otp.data, ip=client_ip())
            )
        except DomainError as error:
            db.session.commit()  # the password was right: its audit row, and the failure
            form.otp.data = ""
            return _refused(form, error, "accounts/login.html", next=next_url)
    elif factors.login_needs_second_factor(db.session, user):
        db.session.commit()
        return flow.begin_pending_login(authenticated, next_url)
    login_user(
        user,
        credential_epoch=authenticated.credential_epoch,
        amr=" ".join(amr),
        acr=factors.acr_for(amr),
    )
    db.session.commit()
    return redirect(next_url)


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Page:
    """GET asks for confirmation (a link or a typed URL must not log anyone out: CSRF)."""
    form = ConfirmForm()
    if request.method == "GET":
        if current_user() is None:
            return redirect(url_for("accounts.login"))
        return render_template("accounts/logout.html", form=form)
    if not form.validate_on_submit():
        abort(400)
    logout_user()
    db.session.commit()
    flash(_("Vous êtes déconnecté."), "success")
    return redirect(url_for("accounts.login"))


@bp.get("/signup")
def signup() -> str:
    """The "Créer votre compte" page: choose the profile (docs/adr/0019-signup-by-profile.md)."""
    return render_template("accounts/signup.html", next=keep_signup_next(), **signup_profiles())


def keep_signup_next() -> str | None:
    """A signup page opened with a local `next` (a pending authorization, ADR 0023) keeps it in
    the cookie session, for every profile's flow: activation in this browser leads to the
    login, which goes on there. A login clears it with the rest of the cookie session."""
    target = safe_next_url(request.args.get("next"), "")
    if target:
        session[SIGNUP_NEXT_KEY] = target
    kept = session.get(SIGNUP_NEXT_KEY)
    return kept if isinstance(kept, str) else None


def signup_profiles() -> dict[str, object]:
    registry = [p for p in Profile if p in REGISTRY_MATCHED_PROFILES]
    return {"registry_profiles": registry, "labels": PROFILE_LABELS}


@bp.route("/signup/autre", methods=["GET", "POST"])
def signup_autre() -> Page:
    """The "Autre" profile: email, names, username, password; activation to that email."""
    form = SignupForm()
    if request.method == "GET":
        if not form.email.data:
            form.email.data = session.pop(SIGNUP_EMAIL_KEY, None)
        return _render_signup(form)
    account = services.NewAccount(
        username=form.username.data or "",
        email=form.email.data or "",
        given_name=form.given_name.data or "",
        family_name=form.family_name.data or "",
        password=form.password.data or "",
    )
    valid = form.validate_on_submit()
    if not form.csrf_token.errors and _show_domain_errors(form, account):
        valid = False
    if not valid:
        return _rejected_signup(form)
    try:
        user = services.sign_up(db.session, account, ip=client_ip())
    except throttling.TooManyAttempts as error:
        return _refused(form, error, "accounts/signup_autre.html", **_signup_context())
    except UsernameTaken as error:
        form.username.errors = [*form.username.errors, error.message]
        return _rejected_signup(form)
    db.session.commit()
    session["signup_email"] = services.normalize_email(account.email)  # not in the URL (logs)
    response = redirect(url_for("accounts.signup_done"))
    if user is None:  # the email already has an account: its owner is told by email
        email_requests.process_after_response(response)
    return response


def _show_domain_errors(form: SignupForm, account: services.NewAccount) -> bool:
    """Add the domain's refusals to the fields WTForms accepted: every error in one round."""
    shown = False
    for field_name, messages in services.check_new_account(account).items():
        field = getattr(form, field_name)
        if field.data and not field.errors:
            field.errors = [*field.errors, *messages]
            shown = True
    return shown


def _rejected_signup(form: SignupForm) -> Page:
    """Honest mistakes are throttled gently (rejected_forms_per_ip), apart from the accepted
    signups' limit; the password is kept unless it was the problem."""
    if form.password.errors or form.password_confirm.errors:
        form.forget_passwords()
    try:
        services.count_rejected_signup(ip=client_ip())
    except throttling.TooManyAttempts as error:
        return _refused(form, error, "accounts/signup_autre.html", **_signup_context())
    return _render_signup(form)


def _signup_context() -> dict[str, object]:
    return {
        "rules": _password_rules(),
        "username_rules": {"min": USERNAME_MIN, "max": USERNAME_MAX},
        "next": keep_signup_next(),
    }


def _render_signup(form: SignupForm) -> str:
    return render_template("accounts/signup_autre.html", form=form, **_signup_context())


@bp.get("/signup/done")
def signup_done() -> str:
    return render_template("accounts/signup_done.html", email=session.pop("signup_email", ""))


@bp.route("/activate/<token>", methods=["GET", "POST"])
def activate(token: str) -> Page:
    """GET shows a confirmation page (a mail scanner's GET changes nothing); POST activates
    with the password chosen at signup (docs/adr/0011-activation-proof.md)."""
    try:
        user = services.user_for_activation_token(db.session, token)
    except DomainError as error:
        return _link_error(error, "activation")
    form = ActivationForm()
    if form.validate_on_submit():
        try:
            services.activate(db.session, token, form.password.data or "", ip=client_ip())
        except DomainError as error:
            _keep_only_failed_attempts(error)
            if isinstance(error, InvalidCredentials):
                error = InvalidCredentials(
                    _("Ce n'est pas le mot de passe choisi à l'inscription.")
                )
            return _refused(form, error, "accounts/activate.html", username=user.username)
        db.session.commit()
        session[LOGIN_USERNAME_KEY] = user.username
        pending = safe_next_url(session.pop(SIGNUP_NEXT_KEY, None), "")
        if pending:  # the signup began in this browser from a site's authorization (ADR 0023)
            flash(_("Votre compte est activé. Connectez-vous pour revenir sur le site."), "success")
            return redirect(url_for("accounts.login", next=pending))
        flash(_("Votre compte est activé. Vous pouvez vous connecter."), "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/activate.html", form=form, username=user.username)


def _link_error(error: DomainError, kind: str) -> tuple[str, int]:
    return render_template("accounts/link_error.html", message=error.message, kind=kind), 400


@dataclass(frozen=True)
class EmailRequestPage:
    """An anonymous "send me an email" page: one view and one template for each kind."""

    kind: email_requests.EmailRequestKind
    form: Callable[[], SesameForm]
    title: LazyString
    lead: LazyString
    button: LazyString
    sent_message: LazyString


EMAIL_REQUEST_PAGES = {
    "resend_activation": EmailRequestPage(
        email_requests.EmailRequestKind.ACTIVATION_RESEND,
        IdentifierForm,
        _l("Je n'ai pas reçu l'email d'activation"),
        _l(
            "Indiquez votre identifiant ou votre adresse email : nous renverrons un lien "
            "d'activation. Vous pouvez aussi demander un nouveau mot de passe, ce qui active "
            "également le compte."
        ),
        _l("Renvoyer l'email"),
        _l(
            "Si un compte en attente d'activation correspond à ces informations, un nouvel "
            "email d'activation vient d'être envoyé."
        ),
    ),
    "forgot_password": EmailRequestPage(
        email_requests.EmailRequestKind.PASSWORD_RESET,
        IdentifierForm,
        _l("Mot de passe oublié"),
        _l(
            "Indiquez votre identifiant ou votre adresse email : vous recevrez un lien pour "
            "choisir un nouveau mot de passe. L'email rappelle aussi votre identifiant."
        ),
        _l("Recevoir le lien"),
        _l(
            "Si un compte correspond à ces informations, un email contenant un lien pour "
            "choisir un nouveau mot de passe vient d'être envoyé. Le lien est valable une heure."
        ),
    ),
    "forgot_username": EmailRequestPage(
        email_requests.EmailRequestKind.USERNAME_REMINDER,
        EmailForm,
        _l("Identifiant oublié"),
        _l(
            "Indiquez l'adresse email de votre compte : nous y enverrons le rappel de vos "
            "identifiants."
        ),
        _l("Recevoir mes identifiants"),
        _l(
            "Si des comptes sont reliés à cette adresse, un email rappelant leurs identifiants "
            "vient d'y être envoyé."
        ),
    ),
}


def _email_request(name: str) -> Page:
    page = EMAIL_REQUEST_PAGES[name]
    form = page.form()
    template = "accounts/email_request.html"
    if not form.validate_on_submit():
        if request.method == "GET" and not form.identifier.data:
            form.identifier.data = _identifier_hint()
        return render_template(template, form=form, page=page, endpoint=f"accounts.{name}")
    identifier = str(form.data.get("identifier") or "")
    try:
        row = email_requests.request_email(db.session, page.kind, identifier, ip=client_ip())
    except throttling.TooManyAttempts as error:
        return _refused(form, error, template, page=page, endpoint=f"accounts.{name}")
    db.session.commit()
    response = make_response(render_template("accounts/email_sent.html", message=page.sent_message))
    email_requests.process_after_response(response, row.id)
    return response


def _identifier_hint() -> str | None:
    """`?login_hint=` prefills the field (a site's « réinitialiser le mot de passe » link). It
    is only echoed back, never looked up: the page tells nothing more than before."""
    hint = (request.args.get("login_hint") or "").strip()
    if not hint or len(hint) > 254 or has_forbidden_characters(hint):
        return None
    return hint


@bp.route("/activate/resend", methods=["GET", "POST"])
def resend_activation() -> Page:
    return _email_request("resend_activation")


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password() -> Page:
    return _email_request("forgot_password")


@bp.route("/username/forgot", methods=["GET", "POST"])
def forgot_username() -> Page:
    return _email_request("forgot_username")


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Page:
    try:
        user = services.user_for_reset_token(db.session, token)
    except DomainError as error:
        return _link_error(error, "reset")
    form = ResetPasswordForm()
    context = {"username": user.username, "rules": _password_rules()}
    if form.validate_on_submit():
        try:
            services.reset_password(db.session, token, form.password.data or "")
        except DomainError as error:
            db.session.rollback()
            form.forget_passwords()
            form.password.errors = [*form.password.errors, error.message]
            return render_template("accounts/reset_password.html", form=form, **context)
        db.session.commit()
        forget_session()
        session[LOGIN_USERNAME_KEY] = user.username
        flash(_("Votre mot de passe est changé. Connectez-vous avec le nouveau."), "success")
        return redirect(url_for("accounts.login"))
    if form.errors:
        form.forget_passwords()
    return render_template("accounts/reset_password.html", form=form, **context)


ACCOUNT_ACTIVITY = [
    AuditEventType.LOGIN_SUCCEEDED,
    AuditEventType.LOGIN_FAILED,
    AuditEventType.LOGIN_THROTTLED,
    AuditEventType.PASSWORD_CHANGED,
    AuditEventType.PASSWORD_RESET,
    AuditEventType.ACCOUNT_CREATED_BY_ADMIN,
    AuditEventType.ACCOUNT_DISABLED,
    AuditEventType.ACTIVATION,
    AuditEventType.REGISTRY_CLAIM_CREATED,
    AuditEventType.REGISTRY_CLAIM_LOST,
    AuditEventType.REGISTRY_CLAIM_RESTORED,
    AuditEventType.REGISTRY_MATCH_LOCKED,
    AuditEventType.OIDC_ACCESS_WITHDRAWN,
]


@bp.get("/account")
@login_required
def account() -> str:
    from idp.oidc.account import connected_applications, sites_of_sessions

    user = current_user()
    this_session = current_session()
    assert user is not None
    open_sessions = sessions.active_sessions(db.session, user, current=this_session)
    return render_template(
        "accounts/account.html",
        user=user,
        this_session=this_session,
        sessions=open_sessions,
        session_sites=sites_of_sessions(db.session, [s.public_id for s in open_sessions]),
        applications=connected_applications(db.session, user),
        events=recent_events(db.session, user.id, types=ACCOUNT_ACTIVITY, limit=15),
        confirm_form=ConfirmForm(),
        **_profile_facts(user),
    )


def _profile_facts(user: User) -> dict[str, object]:
    """What "Mon compte" shows of the profile: the registry claims (live or not), the AGC."""
    from idp.profiles.services import agc_of
    from idp.registry.catalog import STATUS_LABELS
    from idp.registry.services import claims_of, held_profiles

    return {
        "status_labels": {status.value: label for status, label in STATUS_LABELS.items()},
        "claims": claims_of(db.session, user.id),
        "held_profiles": held_profiles(db.session, user),
        "agc": agc_of(db.session, user.id),
    }


def _confirmed_user() -> User:
    """The logged-in user of a one-button form, whose CSRF token must be valid."""
    user = current_user()
    if user is None or not ConfirmForm().validate_on_submit():
        abort(400)
    return user


@bp.post("/account/sessions/<public_id>/revoke")
@login_required
def revoke_session(public_id: str) -> Response:
    user = _confirmed_user()
    this_session = current_session()
    ended = sessions.end_own_session(db.session, user, public_id)
    if ended is None:
        abort(404)
    db.session.commit()
    if this_session is not None and this_session.public_id == ended.public_id:
        forget_session()
        flash(_("Vous avez fermé la session de cet appareil : vous êtes déconnecté."), "success")
        return redirect(url_for("accounts.login"))
    flash(_("La session a été fermée."), "success")
    return redirect(url_for("accounts.account"))


@bp.post("/account/sessions/revoke-others")
@login_required
def revoke_other_sessions() -> Response:
    user = _confirmed_user()
    ended = sessions.end_all_sessions(
        db.session, user, reason=sessions.EndReason.REVOKED_BY_USER, keep=current_session()
    )
    db.session.commit()
    count = len(ended)
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
                ip=client_ip(),
            )
        except DomainError as error:
            _keep_only_failed_attempts(error)
            form.forget_passwords()
            return _refused(form, error, "accounts/change_password.html", rules=_password_rules())
        db.session.commit()
        flash(_("Votre mot de passe est changé. Vos autres sessions sont fermées."), "success")
        return redirect(url_for("accounts.account"))
    if form.errors:
        form.forget_passwords()
    return render_template("accounts/change_password.html", form=form, rules=_password_rules())
