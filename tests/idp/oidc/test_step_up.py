"""Step-up at /authorize (ADR 0022, « Which requests need MFA »; docs/security.md 27 and 14):
a request that needs "sécurité avancée" sends a password session to the second-factor page,
which steps it up and comes back; the ID token then says `acr` urn:sesame:acr:mfa and `amr`
with otp and mfa. `prompt=none` answers interaction_required; « Annuler » answers the client
unmet_authentication_requirements (essential acr) or access_denied; an essential acr we cannot
assert fails at once. The client's "MFA always" and the Order's profile policy, set from the
CLI and the admin pages, require it too."""

from __future__ import annotations

import html
import json
import re
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.accounts.models import User, UserSession
from idp.audit.models import AuditEvent
from idp.audit.services import CLI
from idp.config import settings
from idp.database import utcnow
from idp.extensions import db
from idp.oidc.acr import ACR_ADVANCED, ACR_BASIC
from idp.oidc.models import AuthorizationCode, OAuthClient
from idp.registry import services as registry
from tests.factories import create_user
from tests.helpers import csrf_token, login
from tests.idp.mfa.support import code_at, enrol_totp, submit_second_factor
from tests.idp.oidc.helpers import (
    CodeFlow,
    RegisteredClient,
    authorize,
    callback_params,
    code_flow,
    decode_id_token,
    give_consent,
    log_in_and_return,
    pkce_pair,
    redeem_code,
    register_client,
    sign_in,
    token_request,
)

MFA_ONLY = ACR_ADVANCED
BOTH = f"{ACR_BASIC} {ACR_ADVANCED}"
ESSENTIAL_MFA = json.dumps({"id_token": {"acr": {"essential": True, "values": [ACR_ADVANCED]}}})


# --- helpers --------------------------------------------------------------------------------


def _user_with_totp(client: FlaskClient, username: str = "camille.martin") -> tuple[User, str]:
    """A logged-in user (a password session) who has a TOTP; returns the user and its secret."""
    user = create_user(username)
    secret = enrol_totp(user)
    sign_in(client, user)
    return user, secret


def _live_session(user: User) -> UserSession:
    db.session.expire_all()
    return db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    ).one()


def _codes() -> int:
    return int(db.session.scalar(select(func.count()).select_from(AuthorizationCode)) or 0)


def _is_step_up(response: Any) -> bool:
    return response.status_code in (302, 303) and urlsplit(response.location).path == (
        "/login/verify"
    )


def _step_up_query(response: Any) -> dict[str, str]:
    assert _is_step_up(response), (response.status_code, response.headers.get("Location"))
    return {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}


def _pass_second_factor(client: FlaskClient, to_verify: Any, code: str) -> Any:
    """On the second-factor page /authorize sent us to: type `code`; return the answer of the
    authorization request it goes back to (not followed further)."""
    location = to_verify.location
    back = submit_second_factor(client, code, location)
    assert back.status_code == 302, back.get_data(as_text=True)[:2000]
    assert back.location == _step_up_query(to_verify)["next"]
    assert urlsplit(back.location).path == "/authorize"
    return client.get(back.location)


def _pkce_params(**params: Any) -> tuple[str, dict[str, Any]]:
    verifier, challenge = pkce_pair()
    params.setdefault("state", secrets.token_urlsafe(12))
    params.setdefault("nonce", secrets.token_urlsafe(12))
    params.update(code_challenge=challenge, code_challenge_method="S256")
    return verifier, params


def _redeem(client: FlaskClient, rp: RegisteredClient, answer: Any, verifier: str) -> CodeFlow:
    callback = callback_params(answer)
    assert "code" in callback, callback
    assert callback["iss"] == settings().issuer
    response = redeem_code(client, rp, callback["code"], verifier=verifier)
    assert response.status_code == 200, response.get_data(as_text=True)
    return CodeFlow(response.get_json(), callback["code"], verifier, callback["state"], "")


def _stepped_up_flow(
    client: FlaskClient, rp: RegisteredClient, code: str, **params: Any
) -> CodeFlow:
    """Authorize (a password session), pass the second factor with `code`, redeem."""
    verifier, query = _pkce_params(**params)
    to_verify = authorize(client, rp, **query)
    answer = _pass_second_factor(client, to_verify, code)
    flow = _redeem(client, rp, answer, verifier)
    assert flow.state == query["state"]
    return flow


def _cancel_link(client: FlaskClient, to_verify: Any) -> str:
    """The « Annuler et retourner sur le site » link of the second-factor page."""
    page = client.get(to_verify.location).get_data(as_text=True)
    match = re.search(r'<a href="([^"]+)">Annuler et retourner sur le site</a>', page)
    assert match, page[:3000]
    return html.unescape(match.group(1))


def _cli(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def _national_admin(client: FlaskClient) -> User:
    admin = create_user("paul.national")
    registry.grant_council_role(db.session, admin.id, None, actor=CLI)
    db.session.commit()
    assert login(client, "paul.national").status_code == 302
    return admin


# --- docs/security.md 27 --------------------------------------------------------------------


def test_step_up_acr_values_mfa_makes_a_password_session_pass_totp(app, client):
    """Security 27: acr_values asking for "sécurité avancée" makes the user pass TOTP; the ID
    token then says so."""
    rp = register_client()
    user, secret = _user_with_totp(client)
    verifier, query = _pkce_params(acr_values=MFA_ONLY)
    to_verify = authorize(client, rp, **query)
    assert _is_step_up(to_verify)
    assert _codes() == 0  # no code before the second factor
    step = _step_up_query(to_verify)
    assert step["cancel"].startswith(step["next"]) and step["cancel"].endswith("step_up=cancel")
    page = client.get(to_verify.location).get_data(as_text=True)
    assert "Ce site demande une sécurité avancée" in page
    wrong = submit_second_factor(client, "000000", to_verify.location)
    assert wrong.status_code == 200 and _codes() == 0
    answer = _pass_second_factor(client, to_verify, code_at(secret))
    flow = _redeem(client, rp, answer, verifier)
    token = decode_id_token(flow.id_token)
    assert token["acr"] == ACR_ADVANCED
    assert {"pwd", "otp", "mfa"} <= set(token["amr"])
    assert token["nonce"] == query["nonce"]
    assert _live_session(user).acr == ACR_ADVANCED


@pytest.mark.parametrize("acr_values", [BOTH, f"{ACR_ADVANCED} {ACR_BASIC}", ACR_BASIC, "urn:x"])
def test_step_up_not_asked_when_the_request_accepts_a_password_session(app, client, acr_values):
    """acr_values is a preference: a request that accepts both levels (or only unknown
    values, which are ignored) is satisfied by a password session, and the token says pwd."""
    rp = register_client()
    _user_with_totp(client)
    flow = code_flow(client, rp, acr_values=acr_values)
    token = decode_id_token(flow.id_token)
    assert token["acr"] == ACR_BASIC and token["amr"] == ["pwd"]


@pytest.mark.parametrize(
    "claims",
    [
        ESSENTIAL_MFA,
        json.dumps({"id_token": {"acr": {"essential": True, "value": ACR_ADVANCED}}}),
        json.dumps({"userinfo": {"acr": {"essential": True, "values": [ACR_ADVANCED, "urn:x"]}}}),
        json.dumps({"id_token": {"acr": {"values": [ACR_ADVANCED]}}}),  # voluntary: a preference
    ],
    ids=["essential-values", "essential-value", "userinfo-with-unknown", "voluntary"],
)
def test_step_up_acr_claim_naming_only_mfa_needs_the_second_factor(app, client, claims):
    rp = register_client()
    _, secret = _user_with_totp(client)
    flow = _stepped_up_flow(client, rp, code_at(secret), claims=claims)
    assert decode_id_token(flow.id_token)["acr"] == ACR_ADVANCED


@pytest.mark.parametrize(
    "claims",
    [
        json.dumps({"id_token": {"acr": {"essential": True, "values": [ACR_BASIC, ACR_ADVANCED]}}}),
        json.dumps({"id_token": {"acr": {"essential": True}}}),
        json.dumps({"id_token": {"acr": None}}),
    ],
    ids=["both-levels", "no-values", "null"],
)
def test_step_up_acr_claim_a_password_session_can_meet(app, client, claims):
    rp = register_client()
    _user_with_totp(client)
    flow = code_flow(client, rp, claims=claims)
    assert decode_id_token(flow.id_token)["acr"] == ACR_BASIC


def test_step_up_essential_acr_claim_overrides_acr_values_accepting_passwords(app, client):
    rp = register_client()
    _user_with_totp(client)
    to_verify = authorize(client, rp, acr_values=ACR_BASIC, claims=ESSENTIAL_MFA)
    assert _is_step_up(to_verify)


@pytest.mark.parametrize("logged_in", [True, False], ids=["session", "no-session"])
def test_step_up_essential_acr_we_cannot_assert_is_unmet_at_the_redirect_uri(
    app, client, logged_in
):
    """An essential acr none of whose values we support: unmet_authentication_requirements to
    the client, with state and iss, before any login page."""
    rp = register_client()
    if logged_in:
        _user_with_totp(client)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:other:loa:4"]}}})
    response = authorize(client, rp, claims=claims, state="st-27")
    params = callback_params(response)
    assert response.location.startswith(rp.redirect_uri)
    assert params["error"] == "unmet_authentication_requirements"
    assert params["state"] == "st-27" and params["iss"] == settings().issuer
    assert "error_description" in params
    assert _codes() == 0


def test_step_up_prompt_none_below_the_level_is_interaction_required(app, client):
    rp = register_client()
    _user_with_totp(client)
    params = callback_params(authorize(client, rp, acr_values=MFA_ONLY, prompt="none", state="s"))
    assert params["error"] == "interaction_required"
    assert params["state"] == "s" and params["iss"] == settings().issuer
    assert _codes() == 0


def test_step_up_prompt_none_with_an_mfa_session_gives_the_code(app, client):
    rp = register_client()
    _, secret = _user_with_totp(client)
    _stepped_up_flow(client, rp, code_at(secret), acr_values=MFA_ONLY)
    params = callback_params(
        authorize(client, rp, acr_values=MFA_ONLY, prompt="none", **_pkce_params()[1])
    )
    assert "code" in params


def test_step_up_an_mfa_session_is_not_asked_again(app, client):
    rp = register_client()
    _, secret = _user_with_totp(client)
    first = _stepped_up_flow(client, rp, code_at(secret), acr_values=MFA_ONLY)
    second = code_flow(client, rp, acr_values=MFA_ONLY, claims=ESSENTIAL_MFA)  # no page
    first_token, second_token = decode_id_token(first.id_token), decode_id_token(second.id_token)
    assert second_token["acr"] == ACR_ADVANCED
    assert second_token["auth_time"] == first_token["auth_time"]
    assert second_token["sid"] == first_token["sid"]
    other = register_client(name="Autre site")
    assert decode_id_token(code_flow(client, other).id_token)["acr"] == ACR_ADVANCED


# --- docs/security.md 14 --------------------------------------------------------------------


def test_step_up_rotates_the_session_cookie_but_keeps_the_sid_of_the_id_token(app, client):
    """The cookie's token changes at the privilege change (security 14); the session itself
    stays, so the sid partner sites hold (back-channel logout) is the same."""
    rp = register_client()
    user, secret = _user_with_totp(client)
    before = decode_id_token(code_flow(client, rp).id_token)
    assert before["acr"] == ACR_BASIC
    old_cookie = client.get_cookie("sesame_session").value
    old_hash = _live_session(user).token_hash
    after = decode_id_token(
        _stepped_up_flow(client, rp, code_at(secret), acr_values=MFA_ONLY).id_token
    )
    assert client.get_cookie("sesame_session").value != old_cookie
    live = _live_session(user)
    assert live.token_hash != old_hash
    assert after["sid"] == before["sid"] == live.public_id
    assert after["auth_time"] >= before["auth_time"]
    client.set_cookie("sesame_session", old_cookie)
    assert client.get("/account").status_code == 302  # the old cookie designates nothing


# --- refresh, max_age, prompt=login, consent -------------------------------------------------


def test_step_up_refresh_tokens_keep_the_acr_and_amr_of_their_grant(app, client):
    rp = register_client()
    _, secret = _user_with_totp(client)
    password_flow = code_flow(client, rp, scope="openid offline_access")
    mfa_flow = _stepped_up_flow(
        client, rp, code_at(secret), acr_values=MFA_ONLY, scope="openid offline_access"
    )
    for flow, acr in ((mfa_flow, ACR_ADVANCED), (password_flow, ACR_BASIC)):
        original = decode_id_token(flow.id_token)
        refreshed = token_request(
            client, rp, grant_type="refresh_token", refresh_token=flow.refresh_token
        )
        assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
        token = decode_id_token(refreshed.get_json()["id_token"])
        assert token["acr"] == acr  # the password grant stays pwd though the session stepped up
        assert token["amr"] == original["amr"] and token["auth_time"] == original["auth_time"]


def test_step_up_a_stepped_up_session_older_than_max_age_steps_up_again(app, client):
    rp = register_client()
    user, secret = _user_with_totp(client)
    first = decode_id_token(
        _stepped_up_flow(client, rp, code_at(secret), acr_values=MFA_ONLY).id_token
    )
    live = _live_session(user)
    live.auth_time = utcnow() - timedelta(hours=1)
    db.session.commit()
    aged = first["auth_time"] - 3600
    verifier, query = _pkce_params(acr_values=MFA_ONLY, max_age="600")
    to_login = authorize(client, rp, **query)
    assert urlsplit(to_login.location).path == "/login"
    to_verify = log_in_and_return(client, to_login, user)  # the password again: a pwd session
    assert _live_session(user).acr != ACR_ADVANCED
    assert _is_step_up(to_verify)
    answer = _pass_second_factor(client, to_verify, code_at(secret, 1))  # a later TOTP step
    token = decode_id_token(_redeem(client, rp, answer, verifier).id_token)
    assert token["acr"] == ACR_ADVANCED and {"otp", "mfa"} <= set(token["amr"])
    assert token["auth_time"] >= aged + 3600  # renewed: the login and the step-up just now
    assert token["auth_time"] >= int(_live_session(user).auth_time.timestamp())
    assert token["sid"] != first["sid"]  # a new login, a new session


def test_step_up_after_prompt_login_does_not_loop(app, client):
    rp = register_client()
    user, secret = _user_with_totp(client)
    verifier, query = _pkce_params(acr_values=MFA_ONLY, prompt="login")
    to_login = authorize(client, rp, **query)
    to_verify = log_in_and_return(client, to_login, user)
    answer = _pass_second_factor(client, to_verify, code_at(secret))
    assert decode_id_token(_redeem(client, rp, answer, verifier).id_token)["acr"] == ACR_ADVANCED


def test_step_up_without_a_session_logs_in_then_asks_the_second_factor(app, client):
    rp = register_client()
    user = create_user("camille.martin")
    secret = enrol_totp(user)
    verifier, query = _pkce_params(acr_values=MFA_ONLY)
    to_login = authorize(client, rp, **query)
    to_verify = log_in_and_return(client, to_login, user)
    answer = _pass_second_factor(client, to_verify, code_at(secret))
    assert decode_id_token(_redeem(client, rp, answer, verifier).id_token)["acr"] == ACR_ADVANCED


def test_step_up_comes_before_the_consent_of_a_third_party_site(app, client):
    rp = register_client(first_party=False)
    _, secret = _user_with_totp(client)
    verifier, query = _pkce_params(acr_values=MFA_ONLY)
    to_verify = authorize(client, rp, **query)
    consent_page = _pass_second_factor(client, to_verify, code_at(secret))
    assert consent_page.status_code == 200
    answer = give_consent(client, consent_page)
    assert decode_id_token(_redeem(client, rp, answer, verifier).id_token)["acr"] == ACR_ADVANCED


def test_step_up_consent_answered_after_the_policy_changed_steps_up_first(app, client):
    """The consent page was shown to a password session; the client turned "MFA always"
    meanwhile: the answer goes to the second factor, not to a code."""
    rp = register_client(first_party=False)
    _user_with_totp(client)
    consent_page = authorize(client, rp, **_pkce_params()[1])
    assert consent_page.status_code == 200
    rp.row().require_mfa = True
    db.session.commit()
    assert _is_step_up(give_consent(client, consent_page))
    assert _codes() == 0


# --- « Annuler » ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"acr_values": MFA_ONLY}, "access_denied"),
        ({"claims": ESSENTIAL_MFA}, "unmet_authentication_requirements"),
    ],
    ids=["acr_values", "essential"],
)
def test_step_up_cancel_answers_the_client(app, client, params, error):
    rp = register_client()
    _user_with_totp(client)
    to_verify = authorize(client, rp, state="st-cancel", **params)
    response = client.get(_cancel_link(client, to_verify))
    answer = callback_params(response)
    assert response.location.startswith(rp.redirect_uri)
    assert answer["error"] == error
    assert answer["state"] == "st-cancel" and answer["iss"] == settings().issuer
    assert _codes() == 0


def test_step_up_user_without_a_factor_is_guided_to_enrol_and_may_cancel(app, client):
    rp = register_client()
    sign_in(client, create_user("camille.martin"))
    to_verify = authorize(client, rp, claims=ESSENTIAL_MFA, state="s")
    page = client.get(to_verify.location).get_data(as_text=True)
    assert "Ajouter un second facteur" in page
    answer = callback_params(client.get(_cancel_link(client, to_verify)))
    assert answer["error"] == "unmet_authentication_requirements" and answer["state"] == "s"


def test_step_up_cancel_marker_without_a_valid_resume_token_is_an_error_page(app, client):
    rp = register_client()
    _user_with_totp(client)
    response = client.get("/authorize?resume=forged&step_up=cancel")
    assert response.status_code == 400
    # A client cannot make its own request look cancelled: the marker counts only with resume.
    _, query = _pkce_params(acr_values=MFA_ONLY, step_up="cancel")
    assert _is_step_up(authorize(client, rp, **query))


# --- the client's "MFA always" ------------------------------------------------------------------


def _cli_client(app, *extra: str) -> RegisteredClient:
    result = _cli(
        app,
        "clients",
        "add",
        "--name",
        "Comptabilité",
        "--redirect-uri",
        "https://rp.example/callback",
        "--first-party",
        "--json",
        *extra,
    )
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    row = db.session.scalar(
        select(OAuthClient).where(OAuthClient.client_id == printed["client_id"])
    )
    return RegisteredClient(
        printed["client_id"],
        printed["client_secret"],
        "https://rp.example/callback",
        "client_secret_basic",
        row.id,
    )


def test_step_up_client_added_with_require_mfa_asks_every_login(app, client):
    rp = _cli_client(app, "--require-mfa")
    assert rp.row().require_mfa is True
    _, secret = _user_with_totp(client)
    assert callback_params(authorize(client, rp, prompt="none"))["error"] == (
        "interaction_required"
    )
    flow = _stepped_up_flow(client, rp, code_at(secret))  # no acr_values: the client's policy
    assert decode_id_token(flow.id_token)["acr"] == ACR_ADVANCED
    assert "code" in callback_params(authorize(client, rp, **_pkce_params()[1]))  # once


def test_step_up_cli_update_turns_require_mfa_on_and_off_audited(app, client):
    rp = _cli_client(app)
    _user_with_totp(client)
    assert "code" in callback_params(authorize(client, rp, **_pkce_params()[1]))
    on = _cli(app, "clients", "update", rp.client_id, "--require-mfa")
    assert on.exit_code == 0, on.stderr
    assert "sécurité avancée exigée" in on.stdout
    assert _is_step_up(authorize(client, rp, **_pkce_params()[1]))
    shown = json.loads(_cli(app, "clients", "show", rp.client_id).stdout)
    assert shown["require_mfa"] is True
    listed = _cli(app, "clients", "list").stdout.splitlines()
    assert listed[0].split("\t")[-1] == "mfa"
    again = _cli(app, "clients", "update", rp.client_id, "--require-mfa")
    assert "inchangé" in again.stdout
    off = _cli(app, "clients", "update", rp.client_id, "--no-require-mfa")
    assert off.exit_code == 0
    assert "code" in callback_params(authorize(client, rp, **_pkce_params()[1]))
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "oidc_client_updated")
    ).all()
    assert [(e.actor_kind, e.details["changes"]) for e in events] == [
        ("cli", {"require_mfa": True}),
        ("cli", {"require_mfa": False}),
    ]


def test_step_up_cli_update_refuses_unknown_clients_and_missing_options(app):
    unknown = _cli(app, "clients", "update", "0" * 32, "--require-mfa")
    assert unknown.exit_code == 2 and "Aucun site partenaire" in unknown.stderr
    rp = _cli_client(app)
    nothing = _cli(app, "clients", "update", rp.client_id)
    assert nothing.exit_code == 2 and "Rien à modifier" in nothing.stderr


def test_step_up_admin_page_sets_require_mfa_on_add_and_on_the_client_page(app, client):
    admin = _national_admin(client)
    new_page = client.get("/admin/clients/nouveau").get_data(as_text=True)
    assert "Sécurité avancée obligatoire" in new_page
    added = client.post(
        "/admin/clients/nouveau",
        data={
            "csrf_token": csrf_token(client, "/admin/clients/nouveau"),
            "name": "Archives",
            "client_type": "confidential",
            "auth_method": "client_secret_basic",
            "redirect_uris": "https://rp.example/callback",
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "profile"],
            "id_token_alg": "RS256",
            "require_mfa": "y",
        },
    )
    assert added.status_code == 200, added.get_data(as_text=True)[:2000]
    row = db.session.scalars(select(OAuthClient).where(OAuthClient.name == "Archives")).one()
    assert row.require_mfa is True
    created = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "oidc_client_created")
    ).one()
    assert created.details["require_mfa"] is True and created.actor_id == admin.id

    show = f"/admin/clients/{row.client_id}"
    page = client.get(show).get_data(as_text=True)
    assert "obligatoire : un second facteur à chaque connexion" in page
    off = client.post(f"{show}/securite", data={"csrf_token": csrf_token(client, show)})
    assert off.status_code == 302 and off.location.endswith(show)
    db.session.expire_all()
    assert db.session.get(OAuthClient, row.id).require_mfa is False
    assert "n&#39;exige plus de second facteur" in client.get(show).get_data(as_text=True)
    no_csrf = client.post(f"{show}/securite", data={"require_mfa": "y"})
    assert no_csrf.status_code == 400
    db.session.expire_all()
    assert db.session.get(OAuthClient, row.id).require_mfa is False
    on = client.post(
        f"{show}/securite", data={"csrf_token": csrf_token(client, show), "require_mfa": "y"}
    )
    assert on.status_code == 302
    db.session.expire_all()
    assert db.session.get(OAuthClient, row.id).require_mfa is True
    updates = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "oidc_client_updated")
    ).all()
    assert [(e.actor_id, e.details["changes"]["require_mfa"]) for e in updates] == [
        (admin.id, False),
        (admin.id, True),
    ]


def test_step_up_admin_require_mfa_page_is_404_for_others(app, client):
    rp = register_client()
    sign_in(client, create_user("camille.martin"))
    response = client.post(f"/admin/clients/{rp.client_id}/securite", data={"require_mfa": "y"})
    assert response.status_code == 404
    assert rp.row().require_mfa is False


# --- the Order's profile policy -----------------------------------------------------------------


def test_step_up_profile_policy_from_the_cli_applies_to_the_profiles_holders(app, client):
    rp = register_client()
    _, secret = _user_with_totp(client)  # profile "autre"
    assert "code" in callback_params(authorize(client, rp, **_pkce_params()[1]))
    assert _cli(app, "mfa", "policy", "--profile", "expert-comptable", "--on").exit_code == 0
    assert "code" in callback_params(authorize(client, rp, **_pkce_params()[1]))  # not held
    assert _cli(app, "mfa", "policy", "--profile", "autre", "--on").exit_code == 0
    flow = _stepped_up_flow(client, rp, code_at(secret))
    assert decode_id_token(flow.id_token)["acr"] == ACR_ADVANCED


def test_step_up_profile_policy_admin_page_national_administrators_only(app, client):
    rp = register_client()
    admin = _national_admin(client)
    page = client.get("/admin/security")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Politique de sécurité" in text and "Expert-comptable" in text
    assert 'href="/admin/security"' in client.get("/admin/clients/").get_data(as_text=True)
    saved = client.post(
        "/admin/security",
        data={"csrf_token": csrf_token(client, "/admin/security"), "profiles": ["autre"]},
    )
    assert saved.status_code == 302 and saved.location.endswith("/admin/security")
    after = client.get("/admin/security").get_data(as_text=True)
    assert "La politique de sécurité est enregistrée." in after
    assert re.search(r'<input checked[^>]*value="autre"|value="autre"[^>]*checked', after)
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "mfa_profile_policy_changed")
    ).all()
    assert [(e.actor_id, e.details) for e in events] == [
        (admin.id, {"profile": "autre", "required": True})
    ]
    assert client.post("/admin/security", data={"profiles": []}).status_code == 400  # no CSRF
    # The admin (profile "autre", no factor) now needs one at partner sites.
    assert _is_step_up(authorize(client, rp))
    cleared = client.post(
        "/admin/security", data={"csrf_token": csrf_token(client, "/admin/security")}
    )
    assert cleared.status_code == 302
    assert "code" in callback_params(authorize(client, rp, **_pkce_params()[1]))


def test_step_up_profile_policy_admin_page_refuses_an_unknown_profile(app, client):
    _national_admin(client)
    response = client.post(
        "/admin/security",
        data={"csrf_token": csrf_token(client, "/admin/security"), "profiles": ["pirate"]},
    )
    assert response.status_code == 400
    text = response.get_data(as_text=True).replace("\xa0", " ")
    assert "« pirate » n&#39;est pas un choix valide" in text
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event_type == "mfa_profile_policy_changed")
        )
        == 0
    )


@pytest.mark.parametrize("who", ["anonymous", "user", "council"])
def test_step_up_profile_policy_admin_page_is_404_for_everyone_else(app, client, who):
    if who != "anonymous":
        user = create_user("conseil.idf")
        if who == "council":
            council = registry.council_by_code(db.session, "IDF")
            registry.grant_council_role(db.session, user.id, council, actor=CLI)
            db.session.commit()
        assert login(client, "conseil.idf").status_code == 302
    assert client.get("/admin/security").status_code == 404
    assert client.post("/admin/security", data={"profiles": ["autre"]}).status_code == 404
