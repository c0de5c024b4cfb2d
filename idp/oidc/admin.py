"""Client administration pages for the Order's national administrators (an account with a
`CouncilAdministrator` row whose council is NULL): list, register (the secret shown once, on
the page that answers the form), show, renew the secret, remove, « Sécurité avancée
obligatoire » per client; and « Politique de sécurité » (/admin/security), the profiles whose
holders need a second factor at every partner site (ADR 0022).

For anyone else every URL answers 404, before CSRF or method checks could tell that the pages
exist (the approach of idp/registry/views.py). Every form carries a CSRF token; the pages that
show a secret are never cached (`Cache-Control: no-store`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response
from wtforms import (
    BooleanField,
    Field,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from idp.accounts.auth import current_user
from idp.accounts.errors import InvalidText
from idp.accounts.forms import REQUIRED, ConfirmForm, SesameForm
from idp.accounts.models import User
from idp.audit.services import Actor
from idp.database import DbSession
from idp.errors import DomainError
from idp.extensions import db
from idp.mfa import policy as mfa_policy
from idp.oidc import clients
from idp.oidc.models import OAuthClient
from idp.profiles.catalog import PROFILE_LABELS
from idp.registry.models import CouncilAdministrator
from idp.text import has_forbidden_characters

bp = Blueprint("oidc_admin", __name__, url_prefix="/admin")
CLIENTS = "/clients"  # the client pages' prefix; /admin/security is the policy page

Page = str | Response | tuple[str, int]
View = TypeVar("View", bound=Callable[..., Any])


@bp.app_context_processor
def _order_admin_link() -> dict[str, Any]:
    """`order_administrator()`: whether the logged-in account sees the « Sites partenaires »
    link in the navigation (national administrators of the Order only)."""

    def order_administrator() -> bool:
        try:
            user = current_user()
            return bool(user and is_order_administrator(db.session, user.id))
        except SQLAlchemyError:  # error pages render even with the database down
            db.session.rollback()
            return False

    return {"order_administrator": order_administrator}


def is_order_administrator(session: DbSession, user_id: int) -> bool:
    """A national administrator of the Order (a council role whose council is NULL)."""
    return (
        session.scalar(
            select(CouncilAdministrator.id).where(
                CouncilAdministrator.user_id == user_id,
                CouncilAdministrator.council_id.is_(None),
            )
        )
        is not None
    )


# --- access ---------------------------------------------------------------------------------


@bp.url_value_preprocessor
def _guard(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """404 for anyone but a national administrator, before any before_request function
    (CSRF's would answer 400 and tell the URL exists)."""
    g.pop("session_lookup", None)  # fresh in production; tests share one `g`
    _administrator()


def _administrator() -> User:
    user = current_user()
    if user is None or not is_order_administrator(db.session, user.id):
        abort(404)
    return user


def _route(
    rule: str, methods: tuple[str, ...] = ("GET",), *, prefix: str = CLIENTS
) -> Callable[[View], View]:
    """A route that takes GET and POST, so that routing answers no 405 to anyone (that would
    tell the URL exists): `_guard` answers 404 first, then a wrong method gets its 405."""

    def register(view: View) -> View:
        @functools.wraps(view)
        def guarded(**kwargs: Any) -> Any:
            if request.method not in methods:
                abort(405)
            return view(**kwargs)

        bp.add_url_rule(prefix + rule, view.__name__, guarded, methods=["GET", "POST"])
        return view

    return register


def _client(client_id: str) -> OAuthClient:
    client = clients.find_client(db.session, client_id)
    if client is None:
        abort(404)
    return client


def _no_store(page: str) -> Response:
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the form -------------------------------------------------------------------------------


class LineListField(TextAreaField):
    """One value per line (URIs): `data` is the list of non-empty lines."""

    data: list[str]

    def process_formdata(self, valuelist: list[Any]) -> None:
        raw = str(valuelist[0]) if valuelist else ""
        self.data = [line.strip() for line in raw.splitlines() if line.strip()]

    def _value(self) -> str:
        return "\n".join(self.data or [])

    def pre_validate(self, form: Any) -> None:
        if any(has_forbidden_characters(line) for line in self.data or []):
            raise ValidationError(InvalidText().message)


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


CONFIDENTIAL_METHODS = [
    SelectChoice(
        "client_secret_basic", _l("client_secret_basic : secret dans l'en-tête Authorization")
    ),
    SelectChoice(
        "client_secret_post", _l("client_secret_post : secret dans le corps de la requête")
    ),
    SelectChoice(
        "private_key_jwt", _l("private_key_jwt : assertion signée par les clés du client")
    ),
]


# NewClient field -> ClientForm field, where the names differ (the domain's refusals).
FORM_FIELD_OF = {"id_token_signed_response_alg": "id_token_alg"}


class ClientForm(SesameForm):
    name = StringField(
        _l("Nom du site"),
        description=_l("Montré aux utilisateurs (consentement, « Mon compte »)."),
        validators=[DataRequired(REQUIRED), Length(max=clients.NAME_MAX_LENGTH)],
    )
    client_type = RadioField(
        _l("Type de client"),
        choices=[
            SelectChoice("confidential", _l("Confidentiel : un serveur qui garde un secret")),
            SelectChoice(
                "public", _l("Public : application mobile ou dans le navigateur (pas de secret)")
            ),
        ],
        default="confidential",
        validators=[DataRequired(REQUIRED)],
    )
    auth_method = SelectField(
        _l("Authentification du client (clients confidentiels)"),
        choices=CONFIDENTIAL_METHODS,
        default="client_secret_basic",
    )
    jwks_uri = StringField(_l("Adresse des clés publiques du client (jwks_uri)"))
    redirect_uris = LineListField(_l("Adresses de retour (redirect URI), une par ligne"))
    post_logout_redirect_uris = LineListField(
        _l("Adresses après déconnexion (post_logout_redirect_uri), une par ligne")
    )
    backchannel_logout_uri = StringField(_l("Adresse de déconnexion back-channel"))
    resources = LineListField(
        _l("Ressources (RFC 8707) que le site peut demander, une par ligne"),
        description=_l(
            "Les API auxquelles ses jetons d'accès peuvent être destinés (paramètre resource "
            "à /token), adresses exactes : https://…, sans fragment (#). Aucune : ses jetons ne "
            "nomment que lui."
        ),
    )
    first_party = BooleanField(_l("Site de l'Ordre (pas d'écran de consentement)"))
    allowed_profiles = CheckboxesField(
        _l("Profils autorisés (aucun coché : tout le monde)"),
        choices=[SelectChoice(p.value, label) for p, label in PROFILE_LABELS.items()],
    )
    grant_types = CheckboxesField(
        _l("Types d'autorisation"),
        choices=[SelectChoice(grant, grant) for grant in clients.GRANT_TYPES],
        default=list(clients.DEFAULT_GRANT_TYPES),
    )
    scopes = CheckboxesField(
        _l("Portées autorisées"),
        choices=[SelectChoice(scope, scope) for scope in clients.SUPPORTED_SCOPES],
        default=list(clients.DEFAULT_SCOPES),
    )
    id_token_alg = SelectField(
        _l("Signature des ID tokens"),
        choices=[SelectChoice(alg, alg) for alg in clients.ID_TOKEN_ALGORITHMS],
        default="RS256",
    )
    require_mfa = BooleanField(
        _l("Sécurité avancée obligatoire"),
        description=_l(
            "Chaque connexion à ce site demande un second facteur (application "
            "d'authentification, code de secours ou clé d'accès)."
        ),
    )
    accepts_delegations = BooleanField(
        _l("Accepte les délégations"),
        description=_l(
            "Un expert-comptable peut déléguer ce service à un collaborateur (il figure dans "
            "la liste des services d'une délégation)."
        ),
    )
    admits_delegates = BooleanField(
        _l("Admet les délégataires des profils autorisés"),
        description=_l(
            "Un collaborateur titulaire d'une délégation valide couvrant ce site, donnée par "
            "un titulaire d'un profil autorisé, peut aussi s'y connecter."
        ),
    )

    def new_client(self) -> clients.NewClient:
        public = self.client_type.data == "public"
        return clients.NewClient(
            name=self.name.data or "",
            redirect_uris=list(self.redirect_uris.data or []),
            post_logout_redirect_uris=list(self.post_logout_redirect_uris.data or []),
            public=public,
            first_party=bool(self.first_party.data),
            allowed_profiles=list(self.allowed_profiles.data or []),
            backchannel_logout_uri=(self.backchannel_logout_uri.data or "").strip() or None,
            auth_method=None if public else self.auth_method.data,
            jwks_uri=(self.jwks_uri.data or "").strip() or None,
            id_token_signed_response_alg=self.id_token_alg.data or "RS256",
            grant_types=list(self.grant_types.data or []),
            scopes=list(self.scopes.data or []),
            require_mfa=bool(self.require_mfa.data),
            accepts_delegations=bool(self.accepts_delegations.data),
            admits_delegates=bool(self.admits_delegates.data),
            resources=list(self.resources.data or []),
        )

    def show_refusal(self, errors: dict[str, list[str]]) -> None:
        for name, messages in errors.items():
            field: Field | None = getattr(self, FORM_FIELD_OF.get(name, name), None)
            if field is None:
                self.form_errors.extend(messages)
            else:
                field.errors = [*field.errors, *messages]


class RequireMfaForm(SesameForm):
    """« Sécurité avancée obligatoire » on a registered client's page."""

    require_mfa = BooleanField(_l("Sécurité avancée obligatoire"))


class DelegationSettingsForm(SesameForm):
    """The two delegation settings on a registered client's page (ADR 0025)."""

    accepts_delegations = BooleanField(_l("Accepte les délégations"))
    admits_delegates = BooleanField(_l("Admet les délégataires des profils autorisés"))


class ProfilePolicyForm(SesameForm):
    """« Politique de sécurité »: the profiles whose holders always need a second factor."""

    profiles = CheckboxesField(
        _l("Profils dont les titulaires doivent toujours utiliser un second facteur"),
        choices=[SelectChoice(p.value, label) for p, label in PROFILE_LABELS.items()],
    )


# --- pages ----------------------------------------------------------------------------------


@_route("/")
def index() -> str:
    _administrator()
    include_removed = request.args.get("tous") == "1"
    return render_template(
        "oidc/admin/list.html",
        clients=clients.list_clients(db.session, include_removed=include_removed),
        include_removed=include_removed,
    )


@_route("/nouveau", methods=("GET", "POST"))
def new() -> Page:
    user = _administrator()
    form = ClientForm()
    if form.validate_on_submit():
        try:
            client, secret = clients.create_client(db.session, form.new_client(), Actor.user(user))
        except clients.ClientInvalid as error:
            db.session.rollback()
            form.show_refusal(error.errors)
        else:
            db.session.commit()
            return _no_store(
                render_template(
                    "oidc/admin/secret.html", client=client, secret=secret, created=True
                )
            )
    return render_template("oidc/admin/new.html", form=form)


@_route("/<client_id>")
def show(client_id: str) -> str:
    _administrator()
    client = _client(client_id)
    return render_template(
        "oidc/admin/show.html",
        client=client,
        form=ConfirmForm(),
        mfa_form=RequireMfaForm(formdata=None, require_mfa=client.require_mfa),
        delegation_form=DelegationSettingsForm(
            formdata=None,
            accepts_delegations=client.accepts_delegations,
            admits_delegates=client.admits_delegates,
        ),
        profile_labels={p.value: label for p, label in PROFILE_LABELS.items()},
    )


@_route("/<client_id>/securite", methods=("POST",))
def require_mfa(client_id: str) -> Page:
    """« Sécurité avancée obligatoire » on or off (audited `oidc_client_updated`)."""
    user = _administrator()
    client = _client(client_id)
    form = RequireMfaForm()
    if not form.validate_on_submit():
        abort(400)
    required = bool(form.require_mfa.data)
    try:
        changed = clients.set_require_mfa(db.session, client, required, Actor.user(user))
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("oidc_admin.show", client_id=client_id))
    db.session.commit()
    if not changed:
        flash(_("Aucun changement."), "success")
    elif required:
        flash(
            _(
                "Chaque connexion à « %(name)s » demande désormais un second facteur.",
                name=client.name,
            ),
            "success",
        )
    else:
        flash(
            _("« %(name)s » n'exige plus de second facteur à chaque connexion.", name=client.name),
            "success",
        )
    return redirect(url_for("oidc_admin.show", client_id=client_id))


@_route("/<client_id>/delegations", methods=("POST",))
def delegation_settings(client_id: str) -> Page:
    """« Accepte les délégations » / « Admet les délégataires » (audited
    `oidc_client_updated`)."""
    user = _administrator()
    client = _client(client_id)
    form = DelegationSettingsForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        changes = clients.set_delegation_settings(
            db.session,
            client,
            Actor.user(user),
            accepts_delegations=bool(form.accepts_delegations.data),
            admits_delegates=bool(form.admits_delegates.data),
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("oidc_admin.show", client_id=client_id))
    db.session.commit()
    if changes:
        flash(
            _("Réglages des délégations de « %(name)s » enregistrés.", name=client.name),
            "success",
        )
    else:
        flash(_("Aucun changement."), "success")
    return redirect(url_for("oidc_admin.show", client_id=client_id))


@_route("/security", methods=("GET", "POST"), prefix="")
def security_policy() -> Page:
    """« Politique de sécurité »: the profiles whose holders need a second factor at every
    partner site (each change audited `mfa_profile_policy_changed`)."""
    user = _administrator()
    current = mfa_policy.profiles_requiring_mfa(db.session)
    form = ProfilePolicyForm(formdata=None, profiles=sorted(current))
    if request.method == "POST":
        form = ProfilePolicyForm()
        if not form.validate_on_submit():
            if form.csrf_token.errors:
                abort(400)
            return render_template("oidc/admin/security.html", form=form), 400
        wanted = set(form.profiles.data or [])
        try:
            changed = [
                profile
                for profile in (p.value for p in PROFILE_LABELS)
                if (profile in wanted) != (profile in current)
                and mfa_policy.set_profile_policy(
                    db.session, profile, profile in wanted, actor=Actor.user(user)
                )
            ]
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
            return redirect(url_for("oidc_admin.security_policy"))
        db.session.commit()
        if changed:
            flash(_("La politique de sécurité est enregistrée."), "success")
        else:
            flash(_("Aucun changement."), "success")
        return redirect(url_for("oidc_admin.security_policy"))
    return render_template("oidc/admin/security.html", form=form)


@_route("/<client_id>/secret", methods=("POST",))
def rotate_secret(client_id: str) -> Page:
    user = _administrator()
    client = _client(client_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        secret = clients.rotate_secret(db.session, client, Actor.user(user))
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("oidc_admin.show", client_id=client_id))
    db.session.commit()
    return _no_store(
        render_template("oidc/admin/secret.html", client=client, secret=secret, created=False)
    )


@_route("/<client_id>/supprimer", methods=("GET", "POST"))
def remove(client_id: str) -> Page:
    user = _administrator()
    client = _client(client_id)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            revoked = clients.remove_client(db.session, client, Actor.user(user))
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
            return redirect(url_for("oidc_admin.show", client_id=client_id))
        db.session.commit()
        flash(
            _(
                "« %(name)s » est supprimé : il ne peut plus connecter personne "
                "(%(count)s autorisation(s) révoquée(s)).",
                name=client.name,
                count=revoked,
            ),
            "success",
        )
        return redirect(url_for("oidc_admin.index"))
    return render_template("oidc/admin/remove.html", client=client, form=form)
