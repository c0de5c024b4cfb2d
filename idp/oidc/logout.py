"""Logout at the OpenID provider: RP-initiated logout (`/end-session`) and what ending an IdP
session means for the clients (`on_sessions_ended`: grants revoked, back-channel logouts
queued). Delivery of the back-channel logouts is idp/oidc/backchannel.py. See
docs/adr/0021-oidc-provider.md and its amendments.

`/end-session` follows OpenID Connect RP-Initiated Logout 1.0 on Authlib's
`EndSessionEndpoint`, which verifies the `id_token_hint` signature (expired hints accepted, as
the spec allows), checks `client_id` against its `aud` and appends `state`. What it lacks
(OIDC_NOTES pitfall 12) is added here: a `post_logout_redirect_uri` that is not exactly one of
the client's registered URIs, or whose client is unknown, is an error page, never a redirect
nor silently ignored; the hint's issuer must be ours and its algorithm RS256 or ES256.

The rule (ADR 0021 amendments): a valid hint whose `sid` is this browser's session (or, with
no `sid`, whose `sub` is its user) logs out at once and redirects; anything else that would
end a session asks first (a CSRF-protected POST); without a session, nothing is ended and the
browser is sent back (valid hint) or told it is logged out.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import click
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from flask import redirect, render_template, request, url_for
from flask.cli import AppGroup
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from joserfc.errors import JoseError
from sqlalchemy import select, update
from werkzeug.wrappers import Response

import idp.oidc.account  # noqa: F401 - its « Mon compte » routes are on the `pages` blueprint
from idp.accounts.sessions import EndedSession
from idp.config import settings
from idp.database import DbSession, utcnow
from idp.errors import DomainError
from idp.extensions import csrf
from idp.oidc.backchannel import (
    DEFAULT_BATCH_SIZE,
    deliver_pending_logouts,
    run_logout_delivery_loop,
    summary,
)
from idp.oidc.models import BackchannelLogout, Grant, OAuthClient, SessionClient
from idp.oidc.web import pages

# Algorithms of the ID tokens we sign (a hint signed otherwise is not ours).
HINT_ALGORITHMS = ("RS256", "ES256")
LOGOUT_PARAMETERS = (
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "logout_hint",
    "ui_locales",
)
MAX_PARAMETER_LENGTH = 4096


# --- ending IdP sessions ---------------------------------------------------------------------


def on_sessions_ended(session: DbSession, ended: list[EndedSession]) -> None:
    """Called by `accounts.sessions.end_sessions` for every path that ends sessions (logout,
    « Fermer », a password reset or change, a disabled account, timeouts...): revoke the
    grants the sessions started and queue one back-channel logout per client each session
    was used for that has a back-channel logout URI. In the caller's transaction: the
    session ends, its tokens die and the logouts are queued together, or not at all."""
    if not ended:
        return
    sids = [e.public_id for e in ended]
    user_of = {e.public_id: e.user_id for e in ended}
    session.execute(
        update(Grant)
        .where(Grant.session_public_id.in_(sids), Grant.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoke_reason="session_ended")
    )
    used = session.execute(
        select(SessionClient.session_public_id, SessionClient.client_id)
        .join(OAuthClient, OAuthClient.id == SessionClient.client_id)
        .where(
            SessionClient.session_public_id.in_(sids),
            OAuthClient.backchannel_logout_uri.is_not(None),
            OAuthClient.backchannel_logout_uri != "",
            OAuthClient.disabled_at.is_(None),
        )
        .order_by(SessionClient.id)
    ).all()
    for sid, client_id in used:
        session.add(
            BackchannelLogout(client_id=client_id, user_id=user_of[sid], session_public_id=sid)
        )


# --- RP-initiated logout ---------------------------------------------------------------------


class LogoutRequestError(DomainError):
    """An RP-initiated logout request the IdP refuses: shown on an error page, never sent to
    a redirect URI (RP-Initiated Logout 1.0 §4)."""

    status = 400
    default_message = _l("Cette demande de déconnexion n'est pas valide.")


BAD_HINT = _l(
    "Le site qui vous a envoyé ici a joint une preuve de connexion que Sésame ne reconnaît "
    "pas. Vous n'avez pas été déconnecté."
)
BAD_REDIRECT = _l(
    "L'adresse de retour demandée n'est pas enregistrée pour ce site : Sésame ne vous y "
    "renverra pas. Vous n'avez pas été déconnecté."
)
UNKNOWN_CLIENT = _l("Le site qui vous a envoyé ici n'est pas connu de Sésame.")
CLIENT_MISMATCH = _l("La demande de déconnexion mélange deux sites différents.")
REPEATED_PARAMETER = _l("La demande de déconnexion répète un paramètre.")


class _ClientLookup:
    """The one method of an Authlib server `EndSessionEndpoint` calls: enabled clients only."""

    @staticmethod
    def query_client(client_id: str) -> OAuthClient | None:
        from idp.oidc.clients import get_client

        return get_client(client_id)


class _LogoutParameters:
    """An `OAuth2Request` as far as `EndSessionEndpoint` reads one (`payload.data`), without
    Authlib's transport check: this endpoint carries no secret, and under a plain-http
    development issuer the check would be a 500 (OIDC_NOTES pitfall 11)."""

    def __init__(self, data: dict[str, str], *, confirmed_by_user: bool) -> None:
        self.payload = BasicOAuth2Payload(data)
        self.confirmed_by_user = confirmed_by_user


class SesameEndSessionEndpoint(EndSessionEndpoint):
    """Authlib's endpoint with our keys and the strict rules it lacks (module docstring)."""

    def __init__(self) -> None:
        super().__init__(server=_ClientLookup())

    def get_server_jwks(self) -> Any:
        from idp.oidc.keys import verification_key_set

        return verification_key_set()

    def get_algorithms(self) -> list[str]:
        return list(HINT_ALGORITHMS)

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        if id_token_hint.count(".") != 2:  # a JWS, never a JWE or anything else
            raise LogoutRequestError(str(BAD_HINT))
        try:
            claims: dict[str, Any] = super()._validate_id_token_hint(id_token_hint)
        except (OAuth2Error, JoseError, ValueError, TypeError, KeyError) as exc:
            raise LogoutRequestError(str(BAD_HINT)) from exc
        if claims.get("iss") != settings().issuer or not isinstance(claims.get("sub"), str):
            raise LogoutRequestError(str(BAD_HINT))
        return claims

    def resolve_client_from_id_token_claims(self, claims: dict[str, Any]) -> OAuthClient | None:
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        if not isinstance(aud, str):
            aud = claims.get("azp")
        return _ClientLookup.query_client(aud) if isinstance(aud, str) else None

    def _is_valid_post_logout_redirect_uri(self, client: OAuthClient, uri: str) -> bool:
        return uri in (client.post_logout_redirect_uris or [])

    def is_post_logout_redirect_uri_legitimate(
        self, request: Any, uri: str, client: OAuthClient, logout_hint: str | None
    ) -> bool:
        """Without a hint, the registered URI of the named client is followed only after the
        person confirmed the logout on our page (RP-Initiated Logout §3's "other means")."""
        return bool(getattr(request, "confirmed_by_user", False))

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        """Not used: the view decides whether to end the session (confirmation rule)."""

    def check(self, data: dict[str, str], *, confirmed_by_user: bool) -> EndSessionRequest:
        """Validate a logout request; raise `LogoutRequestError` with the page's message."""
        parameters = _LogoutParameters(data, confirmed_by_user=confirmed_by_user)
        try:
            validated: EndSessionRequest = self.validate_request(parameters)
        except OAuth2Error as exc:  # client_id is not the hint's audience
            raise LogoutRequestError(str(CLIENT_MISMATCH)) from exc
        if data.get("client_id") and validated.client is None:
            raise LogoutRequestError(str(UNKNOWN_CLIENT))
        uri = data.get("post_logout_redirect_uri")
        if uri and (
            validated.client is None
            or not self._is_valid_post_logout_redirect_uri(validated.client, uri)
        ):
            raise LogoutRequestError(str(BAD_REDIRECT))
        return validated


end_session_endpoint = SesameEndSessionEndpoint()


def _logout_parameters() -> dict[str, str]:
    """The request's logout parameters (query or form, RP-Initiated Logout §2), each at most
    once: a repeated one is refused (RFC 6749 §3.1), an empty one is absent."""
    data: dict[str, str] = {}
    for name in LOGOUT_PARAMETERS:
        values = request.values.getlist(name)
        if len(values) > 1:
            raise LogoutRequestError(str(REPEATED_PARAMETER))
        if values and values[0]:
            if len(values[0]) > MAX_PARAMETER_LENGTH:
                raise LogoutRequestError()
            data[name] = values[0]
    return data


def _ui_locale(data: dict[str, str]) -> str | None:
    """The first of `ui_locales` the pages speak (fr, en); None: the usual choice."""
    languages = list(settings().languages)
    for tag in data.get("ui_locales", "").split():
        language = tag.split("-")[0].lower()
        if language in languages:
            return language
    return None


@dataclass(frozen=True)
class _Outcome:
    """What the page shows or where the browser goes."""

    redirect_to: str | None = None
    redirect_code: int = 302
    template: str | None = None
    context: dict[str, Any] | None = None
    status: int = 200


@pages.route("/end-session", methods=["GET", "POST"])
@csrf.exempt  # an RP may POST the logout request itself; the confirmation's token is checked below
def end_session() -> Response | tuple[str, int]:
    """RP-initiated logout: GET or POST from the relying party, POST `confirm` from our page."""
    data: dict[str, str] = {}
    try:
        data = _logout_parameters()
        outcome = _end_session(data)
    except LogoutRequestError as error:
        from idp.extensions import db

        db.session.rollback()
        outcome = _Outcome(
            template="oidc/end_session_error.html",
            context={"message": error.message},
            status=error.status,
        )
    if outcome.redirect_to is not None:
        return redirect(outcome.redirect_to, code=outcome.redirect_code)
    assert outcome.template is not None
    locale = _ui_locale(data)
    context = outcome.context or {}
    if locale is None:
        return render_template(outcome.template, **context), outcome.status
    with force_locale(locale):
        return render_template(outcome.template, **context), outcome.status


def _end_session(data: dict[str, str]) -> _Outcome:
    from idp.accounts.auth import current_session, logout_user
    from idp.accounts.forms import ConfirmForm
    from idp.extensions import db

    confirming = request.method == "POST" and request.form.get("confirm") == "1"
    if confirming and not ConfirmForm().validate_on_submit():
        raise LogoutRequestError(
            str(_l("Le formulaire a expiré. Revenez sur le site et déconnectez-vous à nouveau."))
        )
    validated = end_session_endpoint.check(data, confirmed_by_user=confirming)
    claims = validated.id_token_claims
    user_session = current_session()
    if user_session is None and request.method == "POST" and not confirming:
        # A relying party's cross-site form POST carries no SameSite=Lax cookie: the session
        # is invisible here. The same request as a top-level GET (our own URL) carries it.
        again = url_for("oidc_pages.end_session") + "?" + urlencode(data)
        return _Outcome(redirect_to=again, redirect_code=303)
    client_name = validated.client.name if validated.client is not None else None
    if user_session is not None and not (confirming or _hint_names(claims, user_session)):
        return _Outcome(
            template="oidc/end_session.html",
            context={
                "parameters": data,
                "client_name": client_name,
                "form": ConfirmForm(),
            },
        )
    if user_session is not None:
        logout_user()  # ends the session: grants revoked, back-channel logouts queued
        db.session.commit()
    if validated.redirect_uri:
        return _Outcome(redirect_to=validated.redirect_uri)
    # No hint and nothing confirmed (no session here): no redirect, but a link back to the
    # URI `check` found registered for the named client.
    return_uri = data.get("post_logout_redirect_uri")
    if return_uri and data.get("state"):
        return_uri = add_params_to_uri(return_uri, {"state": data["state"]})
    return _Outcome(
        template="oidc/logged_out.html",
        context={"client_name": client_name, "return_uri": return_uri},
    )


def _hint_names(claims: dict[str, Any] | None, user_session: Any) -> bool:
    """Whether a verified hint designates this browser's session: its `sid`, or (a hint
    without `sid`) its user's `sub`."""
    if claims is None:
        return False
    sid = claims.get("sid")
    if sid is not None:
        return bool(sid == user_session.public_id)
    return bool(claims.get("sub") == user_session.user.subject)


# --- `idp oidc deliver-logouts` ----------------------------------------------------------------

oidc_cli = AppGroup("oidc", help="OpenID provider: back-channel logout delivery.")


@oidc_cli.command("deliver-logouts")
@click.option("--loop", is_flag=True, help="Keep delivering until interrupted (SIGTERM, Ctrl-C).")
@click.option(
    "--interval", default=2.0, show_default=True, type=float, help="Seconds between polls."
)
@click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True, type=int)
def deliver_logouts(loop: bool, interval: float, batch_size: int) -> None:
    """Post the back-channel logout tokens waiting in the outbox.

    Once: exit code 0 when every due logout was delivered, 1 when some wait for a retry or
    were given up (or the database is unreachable). --loop logs errors and keeps polling.
    """
    from flask import current_app

    from idp.extensions import db
    from idp.mail.cli import _stop_on_signals

    if loop:
        stop = threading.Event()
        _stop_on_signals(stop)
        run_logout_delivery_loop(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            interval=interval,
            batch_size=batch_size,
            stop=stop,
            echo=click.echo,
        )
        return
    try:
        report = deliver_pending_logouts(db.session, batch_size=batch_size)
    except Exception as exc:  # database unreachable: say it, in one line
        db.session.rollback()
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise click.ClickException(f"Échec des déconnexions : {reason}") from exc
    click.echo(summary(report))
    if not report.ok:
        raise SystemExit(1)
