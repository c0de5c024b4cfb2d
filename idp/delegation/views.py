"""The « Délégations » pages of « Mon compte » (docs/adr/0025-delegations.md): the list with
each delegation's history, a collaborator's request (search, services, message), the
expert-comptable's decision (narrow the services, set the end date, grant or refuse), a direct
grant to a username or an email, and « Mettre fin » for either side.

Every refusal is a DelegationError whose French message is shown on the page with its status;
a delegation is named by its public id, and one the viewer is no party to is a 404.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from flask import abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from idp import throttling
from idp.accounts.auth import current_user, login_required
from idp.accounts.errors import TokenExpired, TokenInvalid
from idp.accounts.forms import ConfirmForm
from idp.accounts.models import User
from idp.audit.labels import actor_label
from idp.audit.models import AuditEvent, AuditEventType
from idp.database import utcnow
from idp.delegation import rules, search, services
from idp.delegation.forms import (
    MAX_YEARS,
    DecisionForm,
    GrantForm,
    RefusalForm,
    RequestForm,
    SearchForm,
    end_of,
    offer,
    today,
    years_later,
)
from idp.delegation.models import Delegation, DelegationStatus, EndReason
from idp.delegation.services import DelegationError
from idp.delegation.web import bp, invitation_tokens
from idp.extensions import db
from idp.registry.services import AUTOCOMPLETE_MAX_RESULTS, AUTOCOMPLETE_MIN_LETTERS
from idp.web_context import client_ip

Page = str | Response | tuple[str, int]
DELEGATION_EVENTS = [t.value for t in AuditEventType if t.name.startswith("DELEGATION_")]


# --- reading -----------------------------------------------------------------------------------


@dataclass
class Entry:
    """One delegation as the viewer sees it: their side, its state, its history."""

    delegation: Delegation
    role: str  # "grantor" or "grantee"
    state: str  # "current", "pending" or "ended"
    suspended: bool
    expired: bool
    history: list[tuple[AuditEvent, str]] = field(default_factory=list)

    @property
    def other(self) -> str:
        d = self.delegation
        if self.role == "grantee":
            return d.grantor.display_name
        return d.grantee.display_name if d.grantee else (d.grantee_email or "")


def _me() -> User:
    user = current_user()
    assert user is not None  # login_required
    return user


def _entry(user: User, delegation: Delegation, events: list[AuditEvent]) -> Entry:
    now = utcnow()
    expired = (
        delegation.status == DelegationStatus.ACTIVE.value
        and delegation.ends_at is not None
        and delegation.ends_at <= now
    )
    if delegation.status == DelegationStatus.REQUESTED.value or (
        delegation.status == DelegationStatus.ACTIVE.value
        and delegation.grantee_id is None
        and not expired
    ):
        state = "pending"
    elif rules.is_current(delegation, now):
        state = "current"
    else:
        state = "ended"
    role = "grantor" if delegation.grantor_id == user.id else "grantee"
    suspended = state == "current" and rules.is_suspended(db.session, delegation, now)
    history = [(event, _who(user, delegation, event)) for event in events]
    return Entry(delegation, role, state, suspended, expired, history)


def _who(viewer: User, delegation: Delegation, event: AuditEvent) -> str:
    """Who did it: « vous », the other party by name, else the audit's usual label."""
    if event.actor_id == viewer.id:
        return _("vous")
    for party in (delegation.grantor, delegation.grantee):
        if party is not None and event.actor_id == party.id:
            return party.display_name
    return actor_label(event)


def _history(user: User) -> dict[str, list[AuditEvent]]:
    """The delegation events on the viewer's own account, by delegation, oldest first."""
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.subject_id == user.id, AuditEvent.event_type.in_(DELEGATION_EVENTS))
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
    )
    grouped: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in events:
        public_id = (event.details or {}).get("delegation")
        if isinstance(public_id, str):
            grouped[public_id].append(event)
    return grouped


def _own(user: User, public_id: str) -> Delegation:
    """The viewer's delegation (given or received); anyone else's is a 404."""
    delegation = db.session.scalar(select(Delegation).where(Delegation.public_id == public_id))
    if delegation is None or user.id not in (delegation.grantor_id, delegation.grantee_id):
        abort(404)
    return delegation


@bp.get("/account/delegations")
@login_required
def index() -> str:
    user = _me()
    history = _history(user)
    entries = [_entry(user, d, history[d.public_id]) for d in services.of_user(db.session, user)]
    return render_template(
        "delegation/index.html",
        entries=entries,
        can_grant=rules.can_grant(db.session, user),
        confirm_form=ConfirmForm(),
    )


@bp.get("/account/delegations/<public_id>")
@login_required
def show(public_id: str) -> Page:
    user = _me()
    delegation = _own(user, public_id)
    return _render_show(user, delegation, DecisionForm(formdata=None))


def _render_show(
    user: User, delegation: Delegation, form: DecisionForm, status: int = 200
) -> tuple[str, int]:
    entry = _entry(user, delegation, _history(user)[delegation.public_id])
    deciding = entry.role == "grantor" and delegation.status == DelegationStatus.REQUESTED.value
    if deciding:
        form.services.choices = [(s.client.client_id, s.client.name) for s in delegation.services]
        if form.services.data is None:
            form.services.data = delegation.client_ids()  # pre-checked: narrow, never widen
        form.default_end()
    page = render_template(
        "delegation/show.html",
        entry=entry,
        form=form,
        deciding=deciding,
        confirm_form=ConfirmForm(),
        max_date=format_date(years_later(today(), MAX_YEARS), "d MMMM yyyy"),
    )
    return page, status


# --- the expert-comptable decides ----------------------------------------------------------


@bp.post("/account/delegations/<public_id>/decide")
@login_required
def decide(public_id: str) -> Page:
    user = _me()
    delegation = _own(user, public_id)
    refusing = request.form.get("decision") == "refuse"
    form = DecisionForm()
    try:
        if refusing:
            refusal = RefusalForm()
            if not refusal.validate_on_submit():
                form.form_errors.extend(e for _f, e in refusal.all_errors())
                return _render_show(user, delegation, form, 400)
            services.refuse(db.session, user, delegation, refusal.reason.data or "")
            message = _("Vous avez refusé la demande de %(name)s.", name=_grantee_name(delegation))
        else:
            form.services.choices = [
                (s.client.client_id, s.client.name) for s in delegation.services
            ]
            if not form.validate_on_submit():
                return _render_show(user, delegation, form, 400)
            services.approve(
                db.session,
                user,
                delegation,
                client_ids=form.services.data or [],
                ends_at=end_of(form.parsed_end),
            )
            message = _("Délégation accordée à %(name)s.", name=_grantee_name(delegation))
    except DelegationError as error:
        db.session.rollback()
        return _refused(user, delegation, form, error)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("delegations.show", public_id=delegation.public_id))


def _grantee_name(delegation: Delegation) -> str:
    return delegation.grantee.display_name if delegation.grantee else delegation.grantee_email or ""


def _refused(
    user: User, delegation: Delegation, form: DecisionForm, error: DelegationError
) -> Page:
    """A domain refusal: on the delegation's page, or, when the page is not the viewer's to
    act on (404), the error page with the domain's message."""
    if error.status == 404:
        return render_template(
            "errors/error.html", title=_("Page introuvable"), message=error.message
        ), 404
    db.session.expire_all()
    delegation = db.session.get(Delegation, delegation.id) or delegation
    form.form_errors.append(error.message)
    return _render_show(user, delegation, form, error.status)


# --- either side ends it ----------------------------------------------------------------------


@bp.post("/account/delegations/<public_id>/end")
@login_required
def end(public_id: str) -> Page:
    user = _me()
    delegation = _own(user, public_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.end(db.session, user, delegation)
    except DelegationError as error:
        db.session.rollback()
        return _refused(user, delegation, DecisionForm(formdata=None), error)
    db.session.commit()
    if delegation.end_reason == EndReason.WITHDRAWN.value:
        flash(_("Votre demande est retirée."), "success")
    else:
        flash(_("La délégation a pris fin."), "success")
    return redirect(url_for("delegations.show", public_id=delegation.public_id))


# --- a collaborator asks ---------------------------------------------------------------------


@bp.get("/account/delegations/request")
@login_required
def request_page() -> Page:
    form = RequestForm(formdata=None)
    candidate = request.args.get("candidate", "")
    if candidate:
        form.candidate.data = candidate
    return _render_request(form)


def _render_request(form: RequestForm, status: int = 200) -> tuple[str, int]:
    user = _me()
    search_form = SearchForm(request.args)
    query = (search_form.q.data or "")[:100]
    searched = search.is_searchable(query)
    results: list[search.GrantorCandidate] = []
    if searched:
        try:
            results = search.find_grantors(db.session, query, ip=client_ip(), searcher=user)
        except throttling.TooManyAttempts as error:
            form.form_errors.append(error.message)
            status = error.status
    chosen = None
    if form.candidate.data:
        try:
            chosen = search.grantor_for_choice(db.session, form.candidate.data)
        except DelegationError as error:
            form.form_errors.append(error.message)
            form.candidate.data = ""
            status = max(status, 400)
    offer(form.services, services.delegable_clients(db.session))
    page = render_template(
        "delegation/request.html",
        form=form,
        search_form=search_form,
        query=query,
        searched=searched,
        results=results,
        too_short=bool(query) and not searched,
        chosen=chosen,
        min_letters=AUTOCOMPLETE_MIN_LETTERS,
        max_results=AUTOCOMPLETE_MAX_RESULTS,
    )
    return page, status


@bp.post("/account/delegations/request")
@login_required
def request_submit() -> Page:
    user = _me()
    form = RequestForm()
    offer(form.services, services.delegable_clients(db.session))
    if not form.validate_on_submit():
        return _render_request(form, 400)
    try:
        grantor = search.grantor_for_choice(db.session, form.candidate.data or "")
        delegation = services.request_delegation(
            db.session, user, grantor, form.services.data or [], form.message.data or ""
        )
    except DelegationError as error:
        db.session.rollback()
        form.form_errors.append(error.message)
        return _render_request(form, error.status)
    db.session.commit()
    flash(_("Votre demande est envoyée à %(name)s.", name=grantor.display_name), "success")
    return redirect(url_for("delegations.show", public_id=delegation.public_id))


@bp.get("/account/delegations/search")
@login_required
def autocomplete() -> tuple[Response, int]:
    """JSON for the autocomplete script (idp/static/js/registry-autocomplete.js): names and
    councils, at most 10, from 3 letters; throttled per IP like the signup's. Never a birth
    date, an email or a registration number."""
    try:
        results = search.find_grantors(
            db.session, request.args.get("q", "")[:100], ip=client_ip(), searcher=_me()
        )
    except throttling.TooManyAttempts as error:
        return jsonify(error=error.message, results=[]), error.status
    response = jsonify(
        results=[{"token": c.token, "name": c.name, "council": c.council} for c in results]
    )
    response.headers["Cache-Control"] = "no-store"
    return response, 200


# --- the expert-comptable grants directly ------------------------------------------------------


@bp.route("/account/delegations/grant", methods=["GET", "POST"])
@login_required
def grant() -> Page:
    user = _me()
    form = GrantForm()
    offer(form.services, services.delegable_clients(db.session))
    refusal = rules.grant_refusal(db.session, user, None)
    if refusal is None and form.validate_on_submit():
        try:
            delegation = services.grant(
                db.session,
                user,
                form.grantee.data or "",
                form.services.data or [],
                ends_at=end_of(form.parsed_end),
            )
        except DelegationError as error:
            db.session.rollback()
            form.form_errors.append(error.message)
            return _render_grant(form, None, error.status)
        db.session.commit()
        if delegation.grantee is None:
            flash(
                _(
                    "Délégation accordée. %(email)s n'a pas encore de compte Sésame : une "
                    "invitation lui est envoyée, la délégation attend son compte.",
                    email=delegation.grantee_email,
                ),
                "success",
            )
        else:
            flash(_("Délégation accordée à %(name)s.", name=_grantee_name(delegation)), "success")
        return redirect(url_for("delegations.show", public_id=delegation.public_id))
    status = 403 if refusal else (400 if request.method == "POST" else 200)
    return _render_grant(form, refusal, status)


def _render_grant(form: GrantForm, refusal: str | None, status: int) -> tuple[str, int]:
    form.default_end()
    page = render_template(
        "delegation/grant.html",
        form=form,
        refusal=refusal,
        max_date=format_date(years_later(today(), MAX_YEARS), "d MMMM yyyy"),
    )
    return page, status


# --- the invitation link -------------------------------------------------------------------------


@bp.get("/delegations/invitation/<token>")
def invitation(token: str) -> Response:
    """The invitation email's link: the "Autre" signup with the invited address filled in,
    carried in the cookie session as a `prompt=create` login_hint is (ADR 0023), never in a
    URL. A link whose delegation no longer waits leads to the plain signup."""
    from idp.accounts.views import SIGNUP_EMAIL_KEY

    if current_user() is not None:
        return redirect(url_for("delegations.index"))
    try:
        public_id = invitation_tokens().loads(token).get("d")
    except (TokenInvalid, TokenExpired):
        public_id = None
    delegation = (
        db.session.scalar(select(Delegation).where(Delegation.public_id == public_id))
        if isinstance(public_id, str)
        else None
    )
    if (
        delegation is not None
        and delegation.grantee_id is None
        and delegation.grantee_email
        and delegation.status == DelegationStatus.ACTIVE.value
    ):
        session[SIGNUP_EMAIL_KEY] = delegation.grantee_email
    else:
        flash(
            _(
                "Ce lien d'invitation n'est plus valable. Créez votre compte avec l'adresse "
                "à laquelle l'invitation vous a été envoyée."
            ),
            "error",
        )
    return redirect(url_for("accounts.signup_autre"))
