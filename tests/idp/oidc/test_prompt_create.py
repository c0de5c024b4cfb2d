"""`prompt=create` (OpenID Connect Prompt Create 1.0, docs/adr/0023-prompt-create.md): an
invited person without an account goes from /authorize to the "Autre" signup with their email
prefilled, activates, logs in and comes back to the site with a code; every invalid request is
still an error, never a signup; `next` stays a local path; the login page keeps the pending
authorization; the « Mot de passe oublié » page takes `login_hint`."""

from __future__ import annotations

import html
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.accounts.models import User, UserStatus
from idp.config import settings
from idp.extensions import db
from idp.mail.delivery import deliver_pending
from idp.oidc import views
from idp.oidc.models import AuthorizationCode
from tests.factories import create_user
from tests.helpers import (
    HOSTILE_NEXT_TARGETS,
    SIGNUP_PASSWORD,
    Inbox,
    activate,
    csrf_in,
    without_tokens,
)
from tests.idp.oidc.helpers import (
    RegisteredClient,
    authorization_params,
    authorize,
    callback_params,
    decode_id_token,
    get_code,
    log_in_and_return,
    pkce_pair,
    redeem_code,
    register_client,
    sign_in,
)

INVITEE = "invitee@example.fr"


def _codes() -> int:
    return int(db.session.scalar(select(func.count()).select_from(AuthorizationCode)) or 0)


def _value_of(page: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    assert match, name
    value = re.search(r'value="([^"]*)"', match.group(0))
    return html.unescape(value.group(1)) if value else None


def _link_to(page: str, path: str) -> str:
    """The first link of the page to `path` (its href, unescaped)."""
    match = re.search(rf'href="({re.escape(path)}(?:\?[^"]*)?)"', page)
    assert match, f"no link to {path}"
    return html.unescape(match.group(1))


def _next_of(url: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get("next")
    return values[0] if values else None


def _to_signup(response: Any) -> str:
    """/authorize's redirect to the "Autre" signup page; returns its `next`."""
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert urlsplit(location).path == "/signup/autre", location
    next_url = _next_of(location)
    assert next_url is not None and next_url.startswith("/authorize?resume="), location
    return next_url


def _fill_signup(client: FlaskClient, page: str, **fields: str) -> Any:
    """Post the "Autre" form shown in `page`, keeping its prefilled email unless given."""
    data = {
        "csrf_token": csrf_in(page, "the signup page"),
        "username": "ines.invitee",
        "given_name": "Inès",
        "family_name": "Invitée",
        "email": _value_of(page, "email") or "",
        "password": SIGNUP_PASSWORD,
        "password_confirm": SIGNUP_PASSWORD,
        **fields,
    }
    return client.post("/signup/autre", data=data)


def _activation_path(smtp: Inbox, email: str) -> str:
    assert deliver_pending(db.session).sent == 1
    links = [link for link in smtp.links(email) if "/activate/" in link]
    assert links, smtp.messages
    return urlsplit(links[0]).path


def _invitee() -> User:
    db.session.expire_all()
    return db.session.scalars(select(User).where(User.email == INVITEE)).one()


def _pkce() -> dict[str, str]:
    return {"code_challenge": pkce_pair()[1], "code_challenge_method": "S256"}


# --- the whole flow -----------------------------------------------------------------------------


def test_prompt_create_signs_up_activates_and_returns_to_the_client_with_a_code(
    app: Flask, client: FlaskClient, smtp: Inbox
) -> None:
    rp = register_client(public=True)
    verifier, challenge = pkce_pair()
    started = authorize(
        client,
        rp,
        prompt="create",
        login_hint=INVITEE,
        state="invitation-15",
        nonce="n-15",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    _to_signup(started)

    page = client.get(started.headers["Location"]).get_data(as_text=True)
    assert _value_of(page, "email") == INVITEE
    assert _next_of(_link_to(page, "/login")) == _next_of(started.headers["Location"])
    created = _fill_signup(client, page)
    assert created.status_code == 302 and created.headers["Location"] == "/signup/done"
    assert _invitee().status == UserStatus.PENDING

    activated = activate(client, _activation_path(smtp, INVITEE))
    assert activated.status_code == 302
    assert _next_of(activated.headers["Location"]) == _next_of(started.headers["Location"])
    login_page = client.get(activated.headers["Location"]).get_data(as_text=True)
    assert "Connectez-vous pour revenir sur le site." in html.unescape(login_page)
    assert _value_of(login_page, "username") == "ines.invitee"

    back = log_in_and_return(client, activated, _invitee(), password=SIGNUP_PASSWORD)
    callback = callback_params(back)
    assert back.headers["Location"].startswith(rp.redirect_uri + "?")
    assert callback["state"] == "invitation-15" and callback["iss"] == settings().issuer
    tokens = redeem_code(client, rp, callback["code"], verifier=verifier)
    assert tokens.status_code == 200, tokens.get_data(as_text=True)
    claims = decode_id_token(tokens.get_json()["id_token"])
    assert claims["sub"] == _invitee().subject
    assert claims["email"] == INVITEE and claims["nonce"] == "n-15"
    assert _invitee().status == UserStatus.ACTIVE


def test_prompt_create_activation_in_another_browser_goes_to_the_plain_login(
    app: Flask, client: FlaskClient, smtp: Inbox
) -> None:
    """The pending authorization lives in the signup's browser: another browser activates
    and is sent to the login page, with nothing to resume."""
    rp = register_client()
    started = authorize(client, rp, prompt="create", login_hint=INVITEE)
    page = client.get(started.headers["Location"]).get_data(as_text=True)
    assert _fill_signup(client, page).status_code == 302

    other_browser = app.test_client()
    activated = activate(other_browser, _activation_path(smtp, INVITEE))
    assert activated.status_code == 302 and activated.headers["Location"] == "/login"
    assert "Vous pouvez vous connecter." in html.unescape(
        other_browser.get("/login").get_data(as_text=True)
    )


# --- the signup page ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hint", [None, "jean.dupont", "pas une adresse@", '"><script>x</script>@a.fr', "a@b"]
)
def test_prompt_create_prefills_the_email_only_from_an_email_login_hint(
    app: Flask, client: FlaskClient, hint: str | None
) -> None:
    rp = register_client()
    response = authorize(client, rp, prompt="create", login_hint=hint)
    _to_signup(response)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert _value_of(page, "email") in (None, "")
    assert "<script>x" not in page


def test_prompt_create_normalises_the_email_hint(app: Flask, client: FlaskClient) -> None:
    rp = register_client()
    response = authorize(client, rp, prompt="create", login_hint="Invitee@Example.FR")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert _value_of(page, "email") == INVITEE


def test_prompt_create_post_without_session_is_asked_again_as_a_get_then_signup(
    app: Flask, client: FlaskClient
) -> None:
    rp = register_client()
    posted = authorize(client, rp, method="POST", prompt="create", login_hint=INVITEE)
    assert posted.status_code == 303
    _to_signup(client.get(posted.headers["Location"]))


# --- invalid requests are errors, never a signup ------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"client_id": "inconnu"}, "n'est pas connu de Sésame"),
        ({"redirect_uri": "https://evil.example/cb"}, "n'est pas enregistrée pour ce site"),
        ({"redirect_uri": None}, "ne dit pas où revenir"),
    ],
)
def test_prompt_create_unknown_client_or_redirect_uri_is_an_error_page(
    app: Flask, client: FlaskClient, params: dict[str, Any], message: str
) -> None:
    rp = register_client()
    response = authorize(client, rp, prompt="create", login_hint=INVITEE, **params)
    assert response.status_code == 400 and "Location" not in response.headers
    assert message in html.unescape(response.get_data(as_text=True))
    with client.session_transaction() as cookie:
        assert "signup_email_hint" not in cookie


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),  # PKCE
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"prompt": "create none"}, "invalid_request"),
        ({"prompt": "none create"}, "invalid_request"),
        ({"request": "eyJ.x.y"}, "request_not_supported"),
    ],
)
def test_prompt_create_invalid_request_goes_back_to_the_client_as_an_error(
    app: Flask, client: FlaskClient, params: dict[str, Any], error: str
) -> None:
    rp = register_client(public=True)
    query = {"prompt": "create", "login_hint": INVITEE, "state": "s", **_pkce(), **params}
    response = authorize(client, rp, **query)
    callback = callback_params(response)
    assert response.headers["Location"].startswith(rp.redirect_uri + "?")
    assert callback["error"] == error, callback
    assert callback["state"] == "s" and callback["iss"] == settings().issuer
    assert _codes() == 0


def test_prompt_create_with_a_session_is_a_plain_authorization(
    app: Flask, client: FlaskClient
) -> None:
    """Decision (ADR 0023): someone already logged in is not asked to create a second
    account; the client gets a code for the logged-in user."""
    rp = register_client()
    user = sign_in(client)
    callback = get_code(client, rp, prompt="create", login_hint=INVITEE)
    assert "code" in callback
    assert user.status == UserStatus.ACTIVE


def test_prompt_create_login_still_forces_a_login_when_logged_in(
    app: Flask, client: FlaskClient
) -> None:
    rp = register_client()
    sign_in(client)
    response = authorize(client, rp, prompt="login create")
    assert urlsplit(response.headers["Location"]).path == "/login"


# --- next stays local ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", HOSTILE_NEXT_TARGETS)
@pytest.mark.parametrize("path", ["/signup", "/signup/autre"])
def test_signup_pages_refuse_a_next_that_leaves_the_idp(
    app: Flask, client: FlaskClient, path: str, target: str
) -> None:
    page = client.get(path, query_string={"next": target}).get_data(as_text=True)
    assert _link_to(page, "/login") == "/login"
    with client.session_transaction() as cookie:
        assert "signup_next" not in cookie


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/%2F/evil.example"])
def test_activation_never_follows_a_hostile_signup_next(
    app: Flask, client: FlaskClient, smtp: Inbox, target: str
) -> None:
    with client.session_transaction() as cookie:  # as if it had got in somehow
        cookie["signup_next"] = target
    page = client.get("/signup/autre").get_data(as_text=True)
    assert _fill_signup(client, page, email=INVITEE).status_code == 302
    activated = activate(client, _activation_path(smtp, INVITEE))
    assert activated.headers["Location"] == "/login"


# --- the login page keeps the pending authorization ---------------------------------------------


def test_login_create_account_link_keeps_the_pending_authorization(
    app: Flask, client: FlaskClient, smtp: Inbox
) -> None:
    """Sent to the login page (no prompt=create), the person chooses « Créer un compte »,
    signs up with the "Autre" profile, activates and comes back with a code."""
    rp = register_client()
    to_login = authorize(client, rp, login_hint=INVITEE, state="via-login")
    login_url = to_login.headers["Location"]
    login_page = client.get(login_url).get_data(as_text=True)
    assert _value_of(login_page, "username") in (None, "")  # an email is no username
    signup_url = _link_to(login_page, "/signup")
    assert _next_of(signup_url) == _next_of(login_url)

    chooser = client.get(signup_url).get_data(as_text=True)
    assert _next_of(_link_to(chooser, "/login")) == _next_of(login_url)
    page = client.get(_link_to(chooser, "/signup/autre")).get_data(as_text=True)
    assert _fill_signup(client, page, email=INVITEE).status_code == 302
    activated = activate(client, _activation_path(smtp, INVITEE))
    assert _next_of(activated.headers["Location"]) == _next_of(login_url)
    back = log_in_and_return(client, activated, _invitee(), password=SIGNUP_PASSWORD)
    callback = callback_params(back)
    assert "code" in callback and callback["state"] == "via-login"


def test_login_page_without_pending_authorization_links_to_the_plain_signup(
    app: Flask, client: FlaskClient
) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert _link_to(page, "/signup") == "/signup"


def test_login_hint_username_still_prefills_the_login_page(app: Flask, client: FlaskClient) -> None:
    rp = register_client()
    response = authorize(client, rp, login_hint="jean.dupont")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert _value_of(page, "username") == "jean.dupont"


# --- how long the pending authorization lives ---------------------------------------------------


def _resume_signed_ago(
    app: Flask, rp: RegisteredClient, seconds: int, *, for_signup: bool, **params: Any
) -> str:
    real = time.time()
    query = list(authorization_params(rp, **_pkce(), **params).items())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: real - seconds)
        with app.test_request_context():
            return views._resume_token(query, real - seconds, None, for_signup=for_signup)


@pytest.mark.parametrize(
    ("age", "for_signup", "lives"),
    [
        (31 * 60, False, False),  # a login's request: 30 minutes
        (31 * 60, True, True),  # a signup's: signup, email and activation take longer
        (119 * 60, True, True),
        (121 * 60, True, False),
    ],
)
def test_resume_token_lifetime_is_longer_for_a_signup(
    app: Flask, client: FlaskClient, age: int, for_signup: bool, lives: bool
) -> None:
    rp = register_client()
    sign_in(client)
    token = _resume_signed_ago(app, rp, age, for_signup=for_signup, prompt="create")
    response = client.get("/authorize", query_string={"resume": token})
    if lives:
        assert "code" in callback_params(response)
    else:
        assert response.status_code == 400
        assert "La demande de connexion a expiré." in html.unescape(response.get_data(as_text=True))


# --- discovery ----------------------------------------------------------------------------------


def test_discovery_lists_prompt_create(app: Flask, client: FlaskClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert "create" in metadata["prompt_values_supported"]


# --- « Mot de passe oublié » takes login_hint ---------------------------------------------------


@pytest.mark.parametrize("hint", [INVITEE, "jean.dupont"])
def test_forgot_password_is_prefilled_from_login_hint(
    app: Flask, client: FlaskClient, hint: str
) -> None:
    page = client.get("/password/forgot", query_string={"login_hint": hint})
    assert page.status_code == 200
    assert _value_of(page.get_data(as_text=True), "identifier") == hint


def test_forgot_password_hint_tells_nothing_about_accounts(app: Flask, client: FlaskClient) -> None:
    """The hint is echoed, never looked up: an existing account's email and an unknown one
    give the same page, but for the echoed value."""
    create_user("jean.dupont", email="jean@cabinet.example")
    known = client.get("/password/forgot", query_string={"login_hint": "jean@cabinet.example"})
    unknown = client.get("/password/forgot", query_string={"login_hint": "nobody@cabinet.exam"})
    assert known.status_code == unknown.status_code == 200
    known_page = without_tokens(known.get_data(as_text=True)).replace("jean@cabinet.example", "X")
    unknown_page = without_tokens(unknown.get_data(as_text=True)).replace(
        "nobody@cabinet.exam", "X"
    )
    assert known_page == unknown_page


@pytest.mark.parametrize("hint", ["a\x00b@c.fr", "x" * 255, "   ", "a\u202eb@c.fr"])
def test_forgot_password_ignores_a_hint_it_would_refuse(
    app: Flask, client: FlaskClient, hint: str
) -> None:
    page = client.get("/password/forgot", query_string={"login_hint": hint})
    assert page.status_code == 200
    assert _value_of(page.get_data(as_text=True), "identifier") in (None, "")


def test_forgot_password_hint_is_escaped(app: Flask, client: FlaskClient) -> None:
    page = client.get("/password/forgot", query_string={"login_hint": '"><b>x</b>'})
    assert "<b>x</b>" not in page.get_data(as_text=True)
