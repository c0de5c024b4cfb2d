"""Passkeys (idp/mfa/passkeys.py, passkey_views.py): whole WebAuthn ceremonies through the Flask
test client with a software authenticator (tests/idp/mfa/soft_authenticator.py): registration,
the list (rename, remove), second factor (pending login and step-up), passwordless login,
« Confirmez votre identité », and the refusals: cloned authenticator, replayed or concurrent
challenge, another site, another account's handle, a disabled account, no CSRF token, a hostile
name."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import render_template
from flask.testing import FlaskClient
from sqlalchemy import select, update

from idp.accounts.models import User, UserSession
from idp.accounts.services import disable_user
from idp.audit.models import AuditEvent
from idp.audit.services import SYSTEM
from idp.database import utcnow
from idp.extensions import db
from idp.mfa import factors, passkeys
from idp.mfa.errors import PasskeyRefused
from idp.mfa.models import Passkey, RecoveryCode, WebauthnChallenge
from idp.mfa.passkeys import Purpose
from idp.oidc.acr import ACR_ADVANCED
from tests.factories import create_user
from tests.helpers import csrf_in, login, outbox
from tests.idp.mfa.soft_authenticator import SoftAuthenticator, unb64url
from tests.idp.mfa.support import recovery_codes

REFUSED = "La clé d'accès n'a pas pu être vérifiée."
EXPIRED = "La demande a expiré ou a déjà servi."
COOKIE = "sesame_session"


# --- helpers ----------------------------------------------------------------------------------


def token_of(client: FlaskClient, page: str = "/login") -> str:
    return csrf_in(client.get(page).get_data(as_text=True), page)


def post_json(client: FlaskClient, url: str, body: dict[str, Any], token: str | None) -> Any:
    headers = {"X-CSRFToken": token} if token is not None else {}
    return client.post(url, json=body, headers=headers)


def options_of(client: FlaskClient, url: str, token: str, **body: Any) -> dict[str, Any]:
    response = post_json(client, url, body, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return dict(response.get_json())


def register_via_web(
    client: FlaskClient, authenticator: SoftAuthenticator, name: str = "Téléphone", **create: Any
) -> Any:
    """The two requests passkeys.js makes on « Sécurité avancée » (logged in)."""
    token = token_of(client, "/account")
    options = options_of(client, "/account/security/passkeys/options", token, name=name)
    credential = authenticator.create(options, **create)
    return post_json(
        client, "/account/security/passkeys", {"name": name, "credential": credential}, token
    )


def enrol_passkey(
    user: User, authenticator: SoftAuthenticator, name: str = "Téléphone", **create: Any
) -> Passkey:
    """A passkey for `user`, registered through the domain (no request)."""
    options = json.loads(passkeys.registration_options(db.session, user))
    passkey = passkeys.register(db.session, user, authenticator.create(options, **create), name)
    db.session.commit()
    return passkey


def enrol(user: User, name: str = "Téléphone", **knobs: Any) -> tuple[Passkey, SoftAuthenticator]:
    authenticator = SoftAuthenticator(**knobs)
    return enrol_passkey(user, authenticator, name), authenticator


def assertion_via_web(
    client: FlaskClient,
    authenticator: SoftAuthenticator,
    base: str,
    *,
    next_url: str | None = None,
    page: str = "/login",
    **get: Any,
) -> Any:
    """Options then answer at `base`/options and `base` (as passkeys.js does)."""
    token = token_of(client, page)
    options = options_of(client, f"{base}/options", token)
    body: dict[str, Any] = {"credential": authenticator.get(options, **get)}
    if next_url is not None:
        body["next"] = next_url
    return post_json(client, base, body, token)


def live_sessions() -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(UserSession).where(UserSession.revoked_at.is_(None))))


def events(kind: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == kind)))


def age_session(seconds: int = 3600) -> None:
    db.session.execute(update(UserSession).values(auth_time=utcnow() - timedelta(seconds=seconds)))
    db.session.commit()


# --- registration -----------------------------------------------------------------------------


def test_register_passkey_stores_audits_emails_and_steps_the_session_up(client):
    user = create_user("camille.martin")
    login(client, "camille.martin")
    (before,) = live_sessions()
    old_cookie = client.get_cookie(COOKIE).value
    authenticator = SoftAuthenticator()
    response = register_via_web(client, authenticator, name="  Téléphone de Camille  ")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"redirect": "/account/security"}
    (passkey,) = db.session.scalars(select(Passkey)).all()
    assert passkey.user_id == user.id and passkey.name == "Téléphone de Camille"
    assert passkey.credential_id == next(iter(authenticator.credentials))
    assert passkey.transports == ["internal", "hybrid"]
    assert passkey.aaguid == "00112233-4455-6677-8899-aabbccddeeff"
    assert passkey.backed_up is False and passkey.amr == "hwk"
    (added,) = events("passkey_added")
    assert added.details["name"] == "Téléphone de Camille"
    assert [m for m in outbox() if "Téléphone de Camille" in m.body_text]
    (after,) = live_sessions()
    assert after.id == before.id and after.acr == ACR_ADVANCED
    assert after.amr.split() == ["pwd", "hwk", "mfa"]
    assert client.get_cookie(COOKIE).value != old_cookie
    assert db.session.scalars(select(WebauthnChallenge)).all() == []  # spent


def test_registration_options_name_the_account_and_exclude_its_passkeys(client):
    user = create_user("camille.martin")
    authenticator = SoftAuthenticator()
    first = enrol_passkey(user, authenticator)
    login(client, "camille.martin")
    options = options_of(client, "/account/security/passkeys/options", token_of(client, "/account"))
    assert options["rp"] == {"name": "Sésame", "id": "idp.test"}
    assert options["user"]["name"] == "camille.martin"
    assert options["user"]["displayName"] == "Camille Martin"
    assert unb64url(options["user"]["id"]) == user.subject.encode()
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    assert {p["alg"] for p in options["pubKeyCredParams"]} == {-7, -257, -8}
    assert [unb64url(c["id"]) for c in options["excludeCredentials"]] == [first.credential_id]


def test_register_synced_passkey_is_a_software_key(client):
    create_user("camille.martin")
    login(client, "camille.martin")
    response = register_via_web(client, SoftAuthenticator(backed_up=True))
    assert response.status_code == 200
    passkey = db.session.scalars(select(Passkey)).one()
    assert passkey.backed_up is True and passkey.amr == "swk"
    (session,) = live_sessions()
    assert session.amr.split() == ["pwd", "swk", "mfa"]


def test_register_needs_a_recent_authentication(client):
    create_user("camille.martin")
    login(client, "camille.martin")
    age_session()
    token = token_of(client, "/account")
    response = post_json(client, "/account/security/passkeys/options", {"name": "Clé"}, token)
    assert response.status_code == 403
    body = response.get_json()
    assert "confirmez d'abord votre identité" in body["error"]
    assert body["redirect"].startswith("/account/confirm?next=")
    assert db.session.scalars(select(WebauthnChallenge)).all() == []


def test_register_without_a_session_answers_401_json(client):
    token = token_of(client, "/login")
    response = post_json(client, "/account/security/passkeys/options", {}, token)
    assert response.status_code == 401
    assert response.get_json()["redirect"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Donnez un nom à votre clé d'accès"),
        ("   ", "Donnez un nom à votre clé d'accès"),
        ("x" * 61, "60 caractères au plus"),
        ("Clé\nSuivez ce lien", "caractères non autorisés"),
        ("Clé\u202eevil", "caractères non autorisés"),
    ],
)
def test_register_refuses_a_bad_name(client, name, message):
    create_user("camille.martin")
    login(client, "camille.martin")
    token = token_of(client, "/account")
    response = post_json(client, "/account/security/passkeys/options", {"name": name}, token)
    assert response.status_code == 400 and message in response.get_json()["error"]
    # and the answer with such a name, were the options asked without it
    options = options_of(client, "/account/security/passkeys/options", token)
    credential = SoftAuthenticator().create(options)
    response = post_json(
        client, "/account/security/passkeys", {"name": name, "credential": credential}, token
    )
    assert response.status_code == 400 and message in response.get_json()["error"]
    assert db.session.scalars(select(Passkey)).all() == []


def test_register_refuses_a_credential_already_registered(client):
    other = create_user("dominique.durand")
    authenticator = SoftAuthenticator()
    taken = enrol_passkey(other, authenticator)
    create_user("camille.martin")
    login(client, "camille.martin")
    response = register_via_web(client, authenticator, credential_id=taken.credential_id)
    assert response.status_code == 400
    assert "déjà enregistrée" in response.get_json()["error"]
    assert db.session.scalars(select(Passkey)).all() == [taken]


@pytest.mark.parametrize("hostile", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}])
def test_register_refuses_another_site(client, hostile):
    create_user("camille.martin")
    login(client, "camille.martin")
    response = register_via_web(client, SoftAuthenticator(), **hostile)
    assert response.status_code == 400 and REFUSED in response.get_json()["error"]
    assert db.session.scalars(select(Passkey)).all() == []


def test_register_refuses_garbage(client):
    create_user("camille.martin")
    login(client, "camille.martin")
    token = token_of(client, "/account")
    for credential in (None, "x", {"id": "a"}, {"id": "a", "rawId": "a", "response": {}}):
        response = post_json(
            client, "/account/security/passkeys", {"name": "Clé", "credential": credential}, token
        )
        assert response.status_code == 400 and REFUSED in response.get_json()["error"]


def test_registration_answer_for_another_account_challenge_is_refused(client):
    """A challenge is bound to the account that asked for it."""
    other = create_user("dominique.durand")
    foreign = json.loads(passkeys.registration_options(db.session, other))
    db.session.commit()
    create_user("camille.martin")
    login(client, "camille.martin")
    token = token_of(client, "/account")
    credential = SoftAuthenticator().create(foreign)
    response = post_json(
        client, "/account/security/passkeys", {"name": "Clé", "credential": credential}, token
    )
    assert response.status_code == 400 and EXPIRED in response.get_json()["error"]


def test_missing_csrf_token_is_refused(client):
    create_user("camille.martin")
    login(client, "camille.martin")
    response = post_json(client, "/account/security/passkeys/options", {"name": "Clé"}, None)
    assert response.status_code == 400
    response = post_json(client, "/login/passkey/options", {}, None)
    assert response.status_code == 400
    response = post_json(client, "/login/passkey/options", {}, "not-a-token")
    assert response.status_code == 400
    assert db.session.scalars(select(WebauthnChallenge)).all() == []


# --- the list: rename, remove -----------------------------------------------------------------


def test_rename_passkey_is_audited(client):
    user = create_user("camille.martin")
    passkey = enrol_passkey(user, SoftAuthenticator())
    login(client, "camille.martin")
    path = f"/account/security/passkeys/{passkey.id}/rename"
    page = client.get(path).get_data(as_text=True)
    assert 'value="Téléphone"' in page
    response = client.post(path, data={"csrf_token": csrf_in(page), "name": " Ordinateur "})
    assert response.status_code == 302 and response.location.endswith("/account/security#passkeys")
    db.session.expire_all()
    assert db.session.get(Passkey, passkey.id).name == "Ordinateur"
    (renamed,) = events("passkey_renamed")
    assert renamed.details["old_name"] == "Téléphone" and renamed.details["name"] == "Ordinateur"


def test_rename_refuses_control_characters_with_a_message(client):
    user = create_user("camille.martin")
    passkey = enrol_passkey(user, SoftAuthenticator())
    login(client, "camille.martin")
    path = f"/account/security/passkeys/{passkey.id}/rename"
    token = token_of(client, path)
    response = client.post(path, data={"csrf_token": token, "name": "Clé\u200b"})
    assert response.status_code == 200
    assert "caractères non autorisés" in response.get_data(as_text=True)
    response = client.post(path, data={"csrf_token": token, "name": "x" * 61})
    assert "60 caractères au plus" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Passkey, passkey.id).name == "Téléphone"
    assert events("passkey_renamed") == []


def test_someone_else_passkey_cannot_be_renamed_or_removed(client):
    other = create_user("dominique.durand")
    passkey = enrol_passkey(other, SoftAuthenticator())
    create_user("camille.martin")
    login(client, "camille.martin")
    token = token_of(client, "/account")
    base = f"/account/security/passkeys/{passkey.id}"
    client.post(f"{base}/rename", data={"csrf_token": token, "name": "À moi"})
    client.post(f"{base}/remove", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Passkey, passkey.id).name == "Téléphone"


def test_remove_last_passkey_audits_emails_and_forgets_the_other_factors(client):
    user = create_user("camille.martin")
    passkey, authenticator = enrol(user, name="Clé USB")
    recovery_codes(user)
    user.mfa_always = True
    db.session.commit()
    login(client, "camille.martin")
    # mfa_always: the login went through the second factor first
    response = assertion_via_web(
        client, authenticator, "/login/verify/passkey", page="/login/verify"
    )
    assert response.status_code == 200
    token = token_of(client, "/account")
    response = client.post(
        f"/account/security/passkeys/{passkey.id}/remove", data={"csrf_token": token}
    )
    assert response.status_code == 302
    assert db.session.scalars(select(Passkey)).all() == []
    assert events("passkey_removed")[0].details["name"] == "Clé USB"
    assert [m for m in outbox() if "« Clé USB » a été supprimée" in m.body_text]
    db.session.expire_all()
    assert db.session.scalars(select(RecoveryCode)).all() == []
    assert db.session.get(User, user.id).mfa_always is False


def test_remove_needs_a_recent_authentication(client):
    user = create_user("camille.martin")
    passkey = enrol_passkey(user, SoftAuthenticator())
    login(client, "camille.martin")
    age_session()
    token = token_of(client, "/account")
    response = client.post(
        f"/account/security/passkeys/{passkey.id}/remove", data={"csrf_token": token}
    )
    assert response.status_code == 302 and "/account/confirm" in response.location
    assert db.session.scalars(select(Passkey)).all() != []


def test_hostile_passkey_name_is_escaped_on_the_page_and_in_the_email(client, app):
    user = create_user("camille.martin")
    login(client, "camille.martin")
    hostile = '<script>alert("x")</script><img src=x>'
    response = register_via_web(client, SoftAuthenticator(), name=hostile)
    assert response.status_code == 200
    with app.test_request_context("/account/security"):
        page = render_template(
            "mfa/_passkeys.html", factors=factors.factors_of(db.session, user), next_url=""
        )
    assert hostile not in page and "&lt;script&gt;alert(" in page
    security_page = client.get("/account/security").get_data(as_text=True)  # flash + list
    assert hostile not in security_page
    passkey = db.session.scalars(select(Passkey)).one()
    rename_page = client.get(f"/account/security/passkeys/{passkey.id}/rename")
    assert hostile not in rename_page.get_data(as_text=True)
    (message,) = [m for m in outbox() if m.template == "security_notice"]
    assert hostile not in message.body_html and "&lt;script&gt;" in message.body_html


def test_security_partial_renders_hidden_ceremony_and_the_list(client, app):
    user = create_user("camille.martin")
    enrol_passkey(user, SoftAuthenticator(), name="Téléphone")
    with app.test_request_context("/account/security"):
        page = render_template(
            "mfa/_passkeys.html",
            factors=factors.factors_of(db.session, user),
            next_url="/login/verify?next=/account",
        )
    assert 'data-passkey="register" hidden' in page
    assert 'data-next="/login/verify?next=/account"' in page
    assert "Téléphone" in page and "Renommer" in page and "Supprimer" in page
    assert "js/passkeys.js" in page and "<script>" not in page and "style=" not in page


# --- second factor ----------------------------------------------------------------------------


def test_passkey_as_second_factor_opens_the_pending_login(client):
    user = create_user("camille.martin")
    passkey, authenticator = enrol(user, user_verified=False)  # UV preferred, not required
    user.mfa_always = True
    db.session.commit()
    response = login(client, "camille.martin")
    assert response.location.endswith("/login/verify")
    page = client.get("/login/verify").get_data(as_text=True)
    assert 'data-passkey="verify"' in page and "/login/verify/passkey/options" in page
    assert live_sessions() == []
    response = assertion_via_web(
        client, authenticator, "/login/verify/passkey", page="/login/verify"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"redirect": "/account"}
    (session,) = live_sessions()
    assert session.acr == ACR_ADVANCED and session.amr.split() == ["pwd", "hwk", "mfa"]
    assert client.get("/account").status_code == 200
    db.session.expire_all()
    stored = db.session.get(Passkey, passkey.id)
    assert stored.sign_count == 1 and stored.last_used_at is not None


def test_passkey_steps_up_a_live_session_and_rotates_its_cookie(client):
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user, backed_up=True)
    login(client, "camille.martin")
    (before,) = live_sessions()
    old_hash, old_cookie = before.token_hash, client.get_cookie(COOKIE).value
    response = assertion_via_web(
        client,
        authenticator,
        "/login/verify/passkey",
        next_url="/account/sessions",
        page="/login/verify?next=/account/sessions",
    )
    assert response.get_json() == {"redirect": "/account/sessions"}
    (after,) = live_sessions()
    assert after.id == before.id and after.public_id == before.public_id
    assert after.acr == ACR_ADVANCED and after.amr.split() == ["pwd", "swk", "mfa"]
    assert after.token_hash != old_hash
    assert client.get_cookie(COOKIE).value != old_cookie
    client.set_cookie(COOKIE, old_cookie)
    assert client.get("/account").status_code == 302


def test_step_up_ignores_a_hostile_next(client):
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user)
    login(client, "camille.martin")
    response = assertion_via_web(
        client, authenticator, "/login/verify/passkey", next_url="//evil.example"
    )
    assert response.get_json() == {"redirect": "/account"}


def test_second_factor_refuses_another_account_passkey(client):
    other = create_user("dominique.durand")
    _passkey, foreign = enrol(other)
    user = create_user("camille.martin")
    enrol(user)
    login(client, "camille.martin")
    token = token_of(client, "/login/verify")
    options = options_of(client, "/login/verify/passkey/options", token)
    credential = foreign.get(options, credential_id=next(iter(foreign.credentials)))
    response = post_json(client, "/login/verify/passkey", {"credential": credential}, token)
    assert response.status_code == 400 and REFUSED in response.get_json()["error"]
    assert live_sessions()[0].acr != ACR_ADVANCED
    assert len(events("second_factor_failed")) == 1


def test_second_factor_without_login_answers_401(client):
    token = token_of(client)
    response = post_json(client, "/login/verify/passkey/options", {}, token)
    assert response.status_code == 401 and response.get_json()["redirect"] == "/login"


# --- passwordless -----------------------------------------------------------------------------


def test_passwordless_login_is_mfa_audited_and_emailed(client):
    user = create_user("camille.martin")
    passkey, authenticator = enrol(user)
    page = client.get("/login?next=/authorize?client_id%3Dportal").get_data(as_text=True)
    assert 'data-passkey="login" hidden' in page and "Se connecter avec une clé d" in page
    response = assertion_via_web(
        client, authenticator, "/login/passkey", next_url="/authorize?client_id=portal"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"redirect": "/authorize?client_id=portal"}
    (session,) = live_sessions()
    assert session.user_id == user.id and session.acr == ACR_ADVANCED
    assert session.amr.split() == ["hwk", "user", "mfa"]
    assert events("passkey_login")[0].details["name"] == passkey.name
    assert events("login_succeeded")[0].subject_id == user.id
    assert [m for m in outbox() if "Vous vous êtes connecté avec la clé d'accès" in m.body_text]
    assert client.get("/account").status_code == 200


def test_passwordless_login_options_ask_user_verification_and_allow_any_passkey(client):
    options = options_of(client, "/login/passkey/options", token_of(client))
    assert options["userVerification"] == "required" and options["allowCredentials"] == []
    assert options["rpId"] == "idp.test"


def test_passwordless_login_ignores_a_hostile_next(client):
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user)
    response = assertion_via_web(client, authenticator, "/login/passkey", next_url="//evil.example")
    assert response.get_json() == {"redirect": "/account"}


def test_passwordless_login_requires_user_verification(client):
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user)
    authenticator.user_verified = False
    response = assertion_via_web(client, authenticator, "/login/passkey")
    assert response.status_code == 400 and REFUSED in response.get_json()["error"]
    assert live_sessions() == []


def test_passwordless_login_refuses_a_user_handle_of_someone_else(client):
    other = create_user("dominique.durand")
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user)
    response = assertion_via_web(
        client, authenticator, "/login/passkey", user_handle=other.subject.encode()
    )
    assert response.status_code == 400 and REFUSED in response.get_json()["error"]
    assert live_sessions() == []


def test_passwordless_login_refuses_a_disabled_account_like_an_unknown_passkey(client):
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user)
    disable_user(db.session, user, actor=SYSTEM)
    db.session.commit()
    refused = assertion_via_web(client, authenticator, "/login/passkey")
    stranger = SoftAuthenticator()
    stranger.create({"rp": {"id": "idp.test"}, "user": {"id": "AA"}, "challenge": "AA"})
    unknown = assertion_via_web(client, stranger, "/login/passkey")
    assert refused.status_code == unknown.status_code == 400
    assert refused.get_json() == unknown.get_json() == {"error": PasskeyRefused().message}
    assert live_sessions() == []


def test_passwordless_failures_are_throttled_per_ip(client, configure):
    configure(throttles__otp_failures_per_ip="2 per 15 minutes")
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user)
    authenticator.user_verified = False
    for _ in range(2):
        assert assertion_via_web(client, authenticator, "/login/passkey").status_code == 400
    response = assertion_via_web(client, authenticator, "/login/passkey")
    assert response.status_code == 429 and "Trop de tentatives" in response.get_json()["error"]
    authenticator.user_verified = True
    assert assertion_via_web(client, authenticator, "/login/passkey").status_code == 429


# --- counters, challenges, other sites --------------------------------------------------------


def test_cloned_authenticator_is_refused(client):
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user)
    clone = authenticator.clone()
    assert assertion_via_web(client, authenticator, "/login/passkey").status_code == 200
    client.post("/logout", data={"csrf_token": token_of(client, "/logout")})
    response = assertion_via_web(client, clone, "/login/passkey")  # same counter as used
    assert response.status_code == 400 and REFUSED in response.get_json()["error"]
    assert len(live_sessions()) == 0
    assert events("login_failed")[0].details["reason"] == "assertion"


def test_authenticator_without_counter_is_accepted(client):
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user, counter_step=0)
    for _ in range(2):
        assert assertion_via_web(client, authenticator, "/login/passkey").status_code == 200


def test_challenge_used_twice_is_refused(client):
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user)
    token = token_of(client)
    options = options_of(client, "/login/passkey/options", token)
    credential = authenticator.get(options)
    assert post_json(client, "/login/passkey", {"credential": credential}, token).status_code == 200
    token = token_of(client, "/account")
    replay = post_json(client, "/login/passkey", {"credential": credential}, token)
    assert replay.status_code == 400 and EXPIRED in replay.get_json()["error"]
    fresh = authenticator.get(options)  # a new counter, the same spent challenge
    replay = post_json(client, "/login/passkey", {"credential": fresh}, token)
    assert replay.status_code == 400 and EXPIRED in replay.get_json()["error"]


def test_expired_challenge_is_refused_and_purged(client):
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user)
    token = token_of(client)
    options = options_of(client, "/login/passkey/options", token)
    db.session.execute(update(WebauthnChallenge).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    response = post_json(
        client, "/login/passkey", {"credential": authenticator.get(options)}, token
    )
    assert response.status_code == 400 and EXPIRED in response.get_json()["error"]
    options_of(client, "/login/passkey/options", token)  # purges the expired row on the way
    assert len(db.session.scalars(select(WebauthnChallenge)).all()) == 1


def test_challenge_of_one_ceremony_does_not_serve_another(client):
    """A second-factor challenge cannot open a passwordless login."""
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user)
    login(client, "camille.martin")
    token = token_of(client, "/account")
    options = options_of(client, "/login/verify/passkey/options", token)
    credential = authenticator.get(options)
    response = post_json(client, "/login/passkey", {"credential": credential}, token)
    assert response.status_code == 400 and EXPIRED in response.get_json()["error"]


@pytest.mark.parametrize("hostile", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}])
def test_assertion_for_another_site_is_refused(client, hostile):
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user)
    authenticator.origin = hostile.get("origin", authenticator.origin)
    get = {"rp_id": hostile["rp_id"]} if "rp_id" in hostile else {}
    response = assertion_via_web(client, authenticator, "/login/passkey", **get)
    assert response.status_code == 400 and REFUSED in response.get_json()["error"]
    assert live_sessions() == []


def test_assertion_garbage_is_refused_not_a_500(client):
    token = token_of(client)
    for credential in (None, [], "x", {"id": "a", "rawId": "a", "type": "public-key"}):
        response = post_json(client, "/login/passkey", {"credential": credential}, token)
        assert response.status_code == 400
    response = client.post("/login/passkey", data="not json", headers={"X-CSRFToken": token})
    assert response.status_code == 400


def _race(app: Any, attempts: list[Any]) -> list[bool]:
    """Run each `attempt(session)` in its own thread and app context, all at once; which ones
    passed (commit) or were refused (PasskeyRefused)."""
    results: list[bool] = []
    barrier = threading.Barrier(len(attempts))

    def run(attempt: Any) -> None:
        with app.test_request_context():
            barrier.wait()
            try:
                attempt()
                db.session.commit()
                results.append(True)
            except PasskeyRefused:
                db.session.rollback()
                results.append(False)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(a,)) for a in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_verifications_of_one_assertion_let_one_through(committed_app):
    with committed_app.app_context():
        user = create_user("camille.martin")
        # Without a counter, only the challenge's single use stands between the copies.
        authenticator = SoftAuthenticator(counter_step=0)
        enrol_passkey(user, authenticator)
        options = json.loads(passkeys.authentication_options(db.session, Purpose.LOGIN))
        db.session.commit()
        credential = authenticator.get(options)
        db.session.remove()

    def attempt() -> None:
        passkeys.authenticate(db.session, credential, Purpose.LOGIN, ip="192.0.2.1")

    assert sorted(_race(committed_app, [attempt] * 6)) == [False] * 5 + [True]


def test_concurrent_assertions_with_one_counter_let_one_through(committed_app):
    """A cloned authenticator used twice at once, each with its own challenge: same counter,
    one wins (the counter's compare-and-set)."""
    with committed_app.app_context():
        user = create_user("camille.martin")
        authenticator = SoftAuthenticator()
        enrol_passkey(user, authenticator)
        clone = authenticator.clone()
        answers = []
        for copy in (authenticator, clone):
            options = json.loads(passkeys.authentication_options(db.session, Purpose.LOGIN))
            answers.append(copy.get(options))
        db.session.commit()
        db.session.remove()

    def attempt_with(credential: dict[str, Any]) -> Any:
        return lambda: passkeys.authenticate(db.session, credential, Purpose.LOGIN, ip="192.0.2.1")

    assert sorted(_race(committed_app, [attempt_with(a) for a in answers])) == [False, True]


def test_counter_changed_since_it_was_read_refuses_the_assertion(app, monkeypatch):
    """The interleaving the threads above may or may not hit (SQLite serialises writers): a
    concurrent assertion wrote a new counter between our read and our write."""
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user)
    options = json.loads(passkeys.authentication_options(db.session, Purpose.LOGIN))
    credential = authenticator.get(options)
    verify = passkeys.webauthn.verify_authentication_response

    def verify_then_lose_the_race(**kwargs: Any) -> Any:
        verified = verify(**kwargs)
        db.session.execute(update(Passkey).values(sign_count=Passkey.sign_count + 1))
        return verified

    monkeypatch.setattr(
        passkeys.webauthn, "verify_authentication_response", verify_then_lose_the_race
    )
    with pytest.raises(PasskeyRefused):
        passkeys.authenticate(db.session, credential, Purpose.LOGIN, ip="192.0.2.1")


# --- « Confirmez votre identité » ------------------------------------------------------------


def test_confirm_identity_with_a_passkey_renews_the_authentication(client):
    user = create_user("camille.martin")
    _passkey, authenticator = enrol(user)
    login(client, "camille.martin")
    age_session()
    (before,) = live_sessions()
    old_auth_time, old_acr = before.auth_time, before.acr
    response = assertion_via_web(
        client,
        authenticator,
        "/account/confirm/passkey",
        next_url="/account/security",
        page="/account",
    )
    assert response.get_json() == {"redirect": "/account/security"}
    (after,) = live_sessions()
    assert after.auth_time > old_auth_time and after.acr == old_acr
    assert events("reauthenticated")[0].details["method"] == "passkey"
    token = token_of(client, "/account")
    # recent again: registering works
    assert options_of(client, "/account/security/passkeys/options", token)["challenge"]


def test_confirm_identity_refuses_another_account_passkey(client):
    other = create_user("dominique.durand")
    _p, foreign = enrol(other)
    user = create_user("camille.martin")
    enrol(user)
    login(client, "camille.martin")
    age_session()
    token = token_of(client, "/account")
    options = options_of(client, "/account/confirm/passkey/options", token)
    credential = foreign.get(options, credential_id=next(iter(foreign.credentials)))
    response = post_json(client, "/account/confirm/passkey", {"credential": credential}, token)
    assert response.status_code == 400
    assert events("reauthenticated") == []


def test_confirm_identity_page_offers_the_passkey_with_the_way_back(client):
    user = create_user("camille.martin")
    enrol(user)
    login(client, "camille.martin")
    age_session()
    page = client.get("/account/confirm?next=/account/security").get_data(as_text=True)
    assert 'data-passkey="confirm" hidden' in page
    assert 'data-next="/account/security"' in page and "/account/confirm/passkey/options" in page
