"""Native apps (RFC 8252): a public client may register a loopback redirect on an IP literal
(`http://127.0.0.1/…`, `http://[::1]/…`) even in production (section 7.3, 8.3: not
`localhost`), and its port may vary at each authorization request, the path and query staying
exact. Every other redirect URI is matched character for character (docs/security.md 19), and
the token endpoint compares the code's redirect URI exactly."""

from __future__ import annotations

import dataclasses
import html

import pytest
from sqlalchemy import func, select

from idp.audit.services import CLI
from idp.extensions import db
from idp.oidc import clients
from idp.oidc.clients import ClientInvalid, NewClient
from idp.oidc.models import AuthorizationCode, OAuthClient
from tests.idp.oidc.helpers import (
    RegisteredClient,
    authorize,
    callback_params,
    code_flow,
    pkce_pair,
    redeem_code,
    register_client,
    sign_in,
)

LOOPBACK = "http://127.0.0.1/callback"
LOOPBACK_V6 = "http://[::1]/callback"
REFUSED = "L'adresse de retour demandée n'est pas enregistrée pour ce site."


def _codes() -> int:
    return int(db.session.scalar(select(func.count()).select_from(AuthorizationCode)) or 0)


def _is_error_page(response) -> None:
    assert response.status_code == 400, response.status_code
    assert "Location" not in response.headers
    assert REFUSED in html.unescape(response.get_data(as_text=True))


def _at(rp: RegisteredClient, redirect_uri: str) -> RegisteredClient:
    """The same client, as an app that listens on `redirect_uri` this time."""
    return dataclasses.replace(rp, redirect_uri=redirect_uri)


def _pkce_authorize(client, rp: RegisteredClient, redirect_uri: str):
    _verifier, challenge = pkce_pair()
    return authorize(
        client,
        rp,
        redirect_uri=redirect_uri,
        code_challenge=challenge,
        code_challenge_method="S256",
    )


# --- authorization: the port of a public client's loopback redirect may vary ----------------


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        (LOOPBACK, "http://127.0.0.1:53123/callback"),
        (LOOPBACK, "http://127.0.0.1:1/callback"),
        (LOOPBACK, "http://127.0.0.1:65535/callback"),
        (LOOPBACK_V6, "http://[::1]:40001/callback"),
        ("http://127.0.0.1:8000/callback", "http://127.0.0.1:9000/callback"),
        ("http://127.0.0.1:8000/callback", "http://127.0.0.1/callback"),
        ("http://127.0.0.1/cb?app=mobile", "http://127.0.0.1:5555/cb?app=mobile"),
    ],
)
def test_native_public_loopback_redirect_accepts_any_port(app, client, registered, requested):
    rp = _at(register_client(public=True, redirect_uris=[registered]), requested)
    sign_in(client)
    flow = code_flow(client, rp)  # authorize on the app's port, redeem with the same URI
    assert flow.callback["code"] and flow.access_token
    assert db.session.scalar(select(AuthorizationCode.redirect_uri)) == requested


def test_native_loopback_redirect_goes_to_the_port_asked(app, client):
    rp = register_client(public=True, redirect_uris=[LOOPBACK])
    sign_in(client)
    response = _pkce_authorize(client, rp, "http://127.0.0.1:53123/callback")
    assert response.headers["Location"].startswith("http://127.0.0.1:53123/callback?")
    assert "code" in callback_params(response)


def test_native_token_endpoint_wants_the_exact_redirect_uri_of_the_code(app, client):
    rp = register_client(public=True, redirect_uris=[LOOPBACK])
    sign_in(client)
    verifier, challenge = pkce_pair()
    used = "http://127.0.0.1:53123/callback"
    response = authorize(
        client, rp, redirect_uri=used, code_challenge=challenge, code_challenge_method="S256"
    )
    code = callback_params(response)["code"]
    for other in (LOOPBACK, "http://127.0.0.1:53124/callback"):
        refused = redeem_code(client, rp, code, verifier=verifier, redirect_uri=other)
        assert refused.status_code == 400, refused.get_data(as_text=True)
        assert refused.get_json()["error"] == "invalid_grant"


def test_native_confidential_client_loopback_port_is_exact(app, client):
    rp = register_client(redirect_uris=[LOOPBACK])  # client_secret_basic
    sign_in(client)
    _is_error_page(_pkce_authorize(client, rp, "http://127.0.0.1:53123/callback"))
    assert "code" in callback_params(_pkce_authorize(client, rp, LOOPBACK))


@pytest.mark.parametrize(
    "requested",
    [
        "http://127.0.0.1:53123/callback/",  # path
        "http://127.0.0.1:53123/callbac",
        "http://127.0.0.1:53123/Callback",
        "http://127.0.0.1:53123/callback?x=1",  # query
        "http://127.0.0.1:53123/callback#frag",
        "http://127.0.0.1:53123",
        "http://127.0.0.1:/callback",  # empty port
        "http://127.0.0.1:0/callback",
        "http://127.0.0.1:65536/callback",
        "http://127.0.0.1:053123/callback",
        "http://127.0.0.1:+80/callback",
        "http://127.0.0.1: 80/callback",
        "https://127.0.0.1:53123/callback",  # scheme
        "HTTP://127.0.0.1:53123/callback",
        "http://127.0.0.2:53123/callback",  # another host
        "http://[::1]:53123/callback",
        "http://localhost:53123/callback",
        "http://127.0.0.1.evil.example:53123/callback",
        "http://127.0.0.1:53123@evil.example/callback",  # userinfo trick
        "http://evil.example@127.0.0.1:53123/callback",
        "http://127.0.0.1:53123\\@evil.example/callback",
        "http://2130706433:53123/callback",  # 127.0.0.1 spelled otherwise
        "http://127.1:53123/callback",
    ],
)
def test_native_public_loopback_everything_but_the_port_is_exact(app, client, requested):
    rp = register_client(public=True, redirect_uris=[LOOPBACK])
    sign_in(client)
    _is_error_page(_pkce_authorize(client, rp, requested))
    assert _codes() == 0


def test_native_localhost_redirect_has_no_port_variance(app, client):
    """RFC 8252 8.3: `localhost` may resolve elsewhere; a client registering it (development
    only) gets exact matching."""
    rp = register_client(public=True, redirect_uris=["http://localhost/callback"])
    sign_in(client)
    _is_error_page(_pkce_authorize(client, rp, "http://localhost:53123/callback"))
    assert "code" in callback_params(_pkce_authorize(client, rp, "http://localhost/callback"))


@pytest.mark.parametrize(
    "requested",
    ["https://app.example:8443/callback", "https://app.example:443/callback"],
)
def test_native_https_redirects_of_a_public_client_stay_exact(app, client, requested):
    rp = register_client(public=True, redirect_uris=["https://app.example/callback"])
    sign_in(client)
    _is_error_page(_pkce_authorize(client, rp, requested))
    response = _pkce_authorize(client, rp, "https://app.example/callback")
    assert "code" in callback_params(response)


# --- the token endpoint: the API asked for as an RFC 8707 resource (ADR 0026) -------------------


def _code(client, rp: RegisteredClient) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    response = authorize(client, rp, code_challenge=challenge, code_challenge_method="S256")
    return callback_params(response)["code"], verifier


def test_native_code_grant_resource_joins_the_audience(app, client):
    api = "https://portail.example/api/v1"
    rp = _at(
        register_client(public=True, redirect_uris=[LOOPBACK], resources=[api]),
        "http://127.0.0.1:4242/callback",
    )
    sign_in(client)
    code, verifier = _code(client, rp)
    response = redeem_code(client, rp, code, verifier=verifier, resource=api)
    assert response.status_code == 200, response.get_data(as_text=True)
    claims = _access_claims(response.get_json()["access_token"])
    assert claims["aud"] == [rp.client_id, api]


@pytest.mark.parametrize("resource", ["api", "/api/v1", "https://portail.example/api#v1"])
def test_native_code_grant_bad_resource_is_invalid_target_and_spends_no_code(app, client, resource):
    rp = _at(
        register_client(public=True, redirect_uris=[LOOPBACK], resources=[resource]),
        "http://127.0.0.1:4242/callback",
    )  # registered or not, a malformed resource is refused
    sign_in(client)
    code, verifier = _code(client, rp)
    refused = redeem_code(client, rp, code, verifier=verifier, resource=resource)
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_target"
    assert db.session.scalar(select(AuthorizationCode.used_at)) is None
    again = redeem_code(client, rp, code, verifier=verifier)
    assert again.status_code == 200
    assert _access_claims(again.get_json()["access_token"])["aud"] == rp.client_id


def _access_claims(token: str) -> dict[str, object]:
    from joserfc import jwt

    from idp.oidc import keys

    return dict(jwt.decode(token, keys.verification_key_set(), algorithms=["ES256"]).claims)


# --- registration -------------------------------------------------------------------------------


def _create(**fields: object) -> OAuthClient:
    values: dict[str, object] = {"name": "Sésame Mobile", "redirect_uris": [LOOPBACK]}
    values.update(fields)
    client, _secret = clients.create_client(db.session, NewClient(**values), CLI)  # type: ignore[arg-type]
    db.session.commit()
    return client


def _refusal(**fields: object) -> dict[str, list[str]]:
    values: dict[str, object] = {"name": "Sésame Mobile", "redirect_uris": [LOOPBACK]}
    values.update(fields)
    with pytest.raises(ClientInvalid) as refused:
        clients.create_client(db.session, NewClient(**values), CLI)  # type: ignore[arg-type]
    db.session.rollback()
    return refused.value.errors


def test_native_production_registers_a_public_client_on_loopback_ip_literals(app, configure):
    configure(oidc__allow_insecure_transport=False)  # production
    client = _create(public=True, redirect_uris=[LOOPBACK, LOOPBACK_V6, "https://app.example/cb"])
    assert client.redirect_uris == [LOOPBACK, LOOPBACK_V6, "https://app.example/cb"]
    assert client.is_public


@pytest.mark.parametrize(
    "fields",
    [
        {"public": False},  # a confidential client: https only
        {"public": False, "auth_method": "client_secret_post"},
        {"public": True, "redirect_uris": ["http://localhost/callback"]},  # RFC 8252 8.3
        {"public": True, "redirect_uris": ["http://127.0.0.2/callback"]},
        {"public": True, "redirect_uris": ["http://app.example/callback"]},
    ],
)
def test_native_production_refuses_other_http_redirects(app, configure, fields):
    configure(oidc__allow_insecure_transport=False)
    errors = _refusal(**fields)
    assert len(errors["redirect_uris"]) == 1 and "https://" in errors["redirect_uris"][0]


def test_native_production_loopback_is_for_redirects_only(app, configure):
    """Post-logout and back-channel addresses of a public client keep the https rule."""
    configure(oidc__allow_insecure_transport=False)
    errors = _refusal(public=True, post_logout_redirect_uris=["http://127.0.0.1/bye"])
    assert set(errors) == {"post_logout_redirect_uris"}


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("http://127.0.0.1/callback", ("127.0.0.1", "/callback")),
        ("http://127.0.0.1:8080/callback?x=1", ("127.0.0.1", "/callback?x=1")),
        ("http://[::1]:9/", ("[::1]", "/")),
        ("http://[::1]", ("[::1]", "")),
        ("http://localhost:8080/callback", None),
        ("https://127.0.0.1:8080/callback", None),
        ("http://127.0.0.1:0/callback", None),
        ("http://127.0.0.1:99999/callback", None),
        ("http://127.0.0.1:80#x", None),
        ("http://127.0.0.1:80@evil/", None),
    ],
)
def test_native_loopback_key_drops_only_a_valid_port(uri, key):
    assert clients.loopback_redirect_key(uri) == key
