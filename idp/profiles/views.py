"""Pages of the signup by profile (docs/adr/0019-signup-by-profile.md): the registry match
(name or registration number, birth date, username and password), its autocomplete, and the
président d'AGC's pages. The chooser (/signup) and "Autre" (/signup/autre) are in accounts.

Between steps the chosen entry lives in the signed cookie session, never in a URL.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from idp import throttling
from idp.accounts import email_requests
from idp.accounts.errors import SignupInvalid, UsernameTaken
from idp.accounts.forms import SesameForm
from idp.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from idp.accounts.services import NewAccount, check_new_account, count_rejected_signup
from idp.accounts.usernames import MAX_LENGTH as USERNAME_MAX
from idp.accounts.usernames import MIN_LENGTH as USERNAME_MIN
from idp.extensions import db
from idp.profiles import services
from idp.profiles.catalog import PROFILE_LABELS, Profile
from idp.profiles.errors import BirthDateMismatch, MatchLocked, RegistrySignupStopped
from idp.profiles.forms import (
    AgcDetailsForm,
    AgcForm,
    BirthDateForm,
    ChooseEntryForm,
    RegistryAccountForm,
)
from idp.profiles.masking import mask_email
from idp.registry.models import RegistryEntry
from idp.registry.names import display_name, search_key
from idp.registry.services import AUTOCOMPLETE_MAX_RESULTS, AUTOCOMPLETE_MIN_LETTERS
from idp.web_context import client_ip

bp = Blueprint("profiles", __name__)

Page = str | Response | tuple[str, int]
FLOW = "<any(" + ", ".join(f'"{flow}"' for flow in services.REGISTRY_FLOWS) + "):flow>"
STATE_KEY = "registry_signup"  # {"flow", "entry", "verified_at", "agc"}: signed cookie session
AGC = Profile.PRESIDENT_AGC.value


def _state(flow: str) -> dict[str, Any]:
    state = session.get(STATE_KEY)
    return dict(state) if isinstance(state, dict) and state.get("flow") == flow else {}


def _context(flow: str) -> dict[str, Any]:
    return {
        "flow": flow,
        "flow_label": PROFILE_LABELS[Profile(flow)],
        "rules": {"min": MIN_LENGTH, "max": MAX_LENGTH},
        "username_rules": {"min": USERNAME_MIN, "max": USERNAME_MAX},
    }


def _stopped(error: RegistrySignupStopped, flow: str) -> tuple[str, int]:
    """The page of an outcome that stops the signup: its message, and whom to contact."""
    retry = isinstance(error, BirthDateMismatch)
    return render_template(
        "profiles/outcome.html", error=error, retry_birth_date=retry, **_context(flow)
    ), error.status


def _needs_agc(flow: str) -> Response | None:
    """A président d'AGC starts with the AGC's name and SIREN."""
    if flow == AGC and not _state(flow).get("agc"):
        return redirect(url_for("profiles.agc"))
    return None


# --- 1. the name (or the registration number) ------------------------------------------------


@bp.get(f"/signup/{FLOW}/name")
def registry_name(flow: str) -> Page:
    if (redirected := _needs_agc(flow)) is not None:
        return redirected
    return _render_name(flow, ChooseEntryForm(formdata=None))


def _render_name(flow: str, form: ChooseEntryForm, status: int = 200) -> tuple[str, int]:
    query = request.args.get("q", "")[:100]
    searched = len(search_key(query)) >= AUTOCOMPLETE_MIN_LETTERS
    results: list[services.Candidate] = []
    if searched:
        try:
            results = services.search(db.session, query, ip=client_ip())
        except throttling.TooManyAttempts as error:
            form.form_errors.append(error.message)
            status = error.status
    page = render_template(
        "profiles/name.html",
        form=form,
        query=query,
        searched=searched,
        results=results,
        too_short=bool(query) and not searched,
        min_letters=AUTOCOMPLETE_MIN_LETTERS,
        max_results=AUTOCOMPLETE_MAX_RESULTS,
        **_context(flow),
    )
    return page, status


@bp.post(f"/signup/{FLOW}/name")
def registry_choose(flow: str) -> Page:
    if (redirected := _needs_agc(flow)) is not None:
        return redirected
    form = ChooseEntryForm()
    if not form.validate_on_submit():
        return _render_name(flow, form)
    try:
        if form.candidate.data:
            entry = services.entry_for_candidate(db.session, form.candidate.data)
        else:
            entry = services.entry_for_number(
                db.session, form.registration_number.data or "", ip=client_ip()
            )
        services.check_eligible(entry, flow)
    except throttling.TooManyAttempts as error:
        form.form_errors.append(error.message)
        return _render_name(flow, form, error.status)
    except RegistrySignupStopped as error:
        return _stopped(error, flow)
    session[STATE_KEY] = {"flow": flow, "entry": entry.id, "agc": _state(flow).get("agc")}
    return redirect(url_for("profiles.registry_birth_date", flow=flow))


# --- 2. the birth date -----------------------------------------------------------------------


def _chosen_entry(flow: str) -> RegistryEntry | None:
    entry_id = _state(flow).get("entry")
    return db.session.get(RegistryEntry, entry_id) if isinstance(entry_id, int) else None


@bp.route(f"/signup/{FLOW}/birth-date", methods=["GET", "POST"])
def registry_birth_date(flow: str) -> Page:
    entry = _chosen_entry(flow)
    if entry is None:
        return redirect(url_for("profiles.registry_name", flow=flow))
    form = BirthDateForm()
    if form.validate_on_submit():
        try:
            services.verify_birth_date(db.session, entry, flow, form.parsed, ip=client_ip())
        except (BirthDateMismatch, MatchLocked) as error:
            db.session.commit()  # the failure's audit row, the lock and its warning stay
            return _stopped(error, flow)
        except RegistrySignupStopped as error:
            db.session.rollback()
            return _stopped(error, flow)
        session[STATE_KEY] = {**_state(flow), "verified_at": time.time()}
        return redirect(url_for("profiles.registry_account", flow=flow))
    return render_template(
        "profiles/birth_date.html",
        form=form,
        name=display_name(entry.family_name, entry.given_names),
        council=entry.council,
        **_context(flow),
    )


# --- 3. username and password ----------------------------------------------------------------


def _verified_entry_id(flow: str) -> int | None:
    state = _state(flow)
    verified_at = state.get("verified_at")
    if not isinstance(verified_at, int | float):
        return None
    if time.time() - verified_at > services.MATCH_MAX_AGE:
        return None
    entry_id = state.get("entry")
    return entry_id if isinstance(entry_id, int) else None


@bp.route(f"/signup/{FLOW}/account", methods=["GET", "POST"])
def registry_account(flow: str) -> Page:
    entry_id = _verified_entry_id(flow)
    if entry_id is None:
        flash(_("Pour votre sécurité, recommencez : cherchez votre nom."), "error")
        return redirect(url_for("profiles.registry_name", flow=flow))
    try:
        entry = services.matched_entry(db.session, entry_id, flow)
    except RegistrySignupStopped as error:
        return _stopped(error, flow)
    form = RegistryAccountForm()
    context = {
        "name": display_name(entry.family_name, entry.given_names),
        "masked_email": mask_email(entry.email or ""),
        **_context(flow),
    }
    if request.method == "GET":
        return render_template("profiles/account.html", form=form, **context)
    valid = form.validate_on_submit()
    account = services.registry_account(entry, form.username.data or "", form.password.data or "")
    if not form.csrf_token.errors and _show_domain_errors(form, account):
        valid = False
    if not valid:
        return _rejected(form, "profiles/account.html", context)
    agc = _state(flow).get("agc")
    try:
        services.sign_up_from_registry(
            db.session,
            entry_id,
            flow,
            username=form.username.data or "",
            password=form.password.data or "",
            ip=client_ip(),
            agc=services.AgcDetails(**agc) if flow == AGC and agc else None,
        )
    except throttling.TooManyAttempts as error:
        form.form_errors.append(error.message)
        return render_template("profiles/account.html", form=form, **context), error.status
    except UsernameTaken as error:
        form.username.errors = [*form.username.errors, error.message]
        return _rejected(form, "profiles/account.html", context)
    except SignupInvalid as error:
        form.form_errors.extend(m for messages in error.errors.values() for m in messages)
        return _rejected(form, "profiles/account.html", context)
    except RegistrySignupStopped as error:
        return _stopped(error, flow)
    db.session.commit()
    session.pop(STATE_KEY, None)
    session["signup_email"] = context["masked_email"]  # shown masked, never in the URL
    return redirect(url_for("accounts.signup_done"))


def _show_domain_errors(form: SesameForm, account: NewAccount) -> bool:
    """The domain's refusals on the fields the form has; the others above the form."""
    shown = False
    for field_name, messages in check_new_account(account).items():
        field = getattr(form, field_name, None)
        if field is None:
            form.form_errors.extend(messages)
            shown = True
        elif field.data and not field.errors:
            field.errors = [*field.errors, *messages]
            shown = True
    return shown


def _rejected(form: Any, template: str, context: dict[str, Any]) -> Page:
    if form.password.errors or form.password_confirm.errors:
        form.forget_passwords()
    try:
        count_rejected_signup(ip=client_ip())
    except throttling.TooManyAttempts as error:
        form.form_errors.append(error.message)
        return render_template(template, form=form, **context), error.status
    return render_template(template, form=form, **context)


# --- the autocomplete ------------------------------------------------------------------------


@bp.get("/signup/registry/search")
def registry_autocomplete() -> tuple[Response, int]:
    """JSON for the autocomplete script: names and councils, at most 10, from 3 letters;
    rate limited per IP. Never a birth date, an email or a registration number."""
    try:
        results = services.search(db.session, request.args.get("q", "")[:100], ip=client_ip())
    except throttling.TooManyAttempts as error:
        return jsonify(error=error.message, results=[]), error.status
    response = jsonify(
        results=[{"token": c.token, "name": c.name, "council": c.council} for c in results]
    )
    response.headers["Cache-Control"] = "no-store"
    return response, 200


# --- président ou directeur d'AGC ------------------------------------------------------------


@bp.route("/signup/president-agc", methods=["GET", "POST"])
def agc() -> Page:
    form = AgcForm()
    if form.validate_on_submit():
        details = services.agc_details(form.agc_name.data or "", form.siren.data or "")
        session[STATE_KEY] = {"flow": AGC, "agc": {"name": details.name, "siren": details.siren}}
        if form.also_expert.data == "oui":
            return redirect(url_for("profiles.registry_name", flow=AGC))
        return redirect(url_for("profiles.agc_details"))
    return render_template("profiles/agc.html", form=form, **_context(AGC))


@bp.route("/signup/president-agc/details", methods=["GET", "POST"])
def agc_details() -> Page:
    agc_state = _state(AGC).get("agc")
    if not agc_state:
        return redirect(url_for("profiles.agc"))
    form = AgcDetailsForm()
    context = {"agc": agc_state, **_context(AGC)}
    if request.method == "GET":
        return render_template("profiles/agc_details.html", form=form, **context)
    account = NewAccount(
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
        return _rejected(form, "profiles/agc_details.html", context)
    try:
        user = services.sign_up_agc_director(
            db.session, account, services.AgcDetails(**agc_state), ip=client_ip()
        )
    except throttling.TooManyAttempts as error:
        form.form_errors.append(error.message)
        return render_template("profiles/agc_details.html", form=form, **context), error.status
    except UsernameTaken as error:
        form.username.errors = [*form.username.errors, error.message]
        return _rejected(form, "profiles/agc_details.html", context)
    db.session.commit()
    session.pop(STATE_KEY, None)
    session["signup_email"] = account.email.strip().lower()
    response = redirect(url_for("accounts.signup_done"))
    if user is None:
        email_requests.process_after_response(response)
    return response
