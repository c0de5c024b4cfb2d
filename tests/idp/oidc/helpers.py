"""Shared helpers of the OpenID provider's tests: a registered client, a logged-in user, an
authorization request, a code redeemed at /token, a whole code flow with PKCE, and an ID token
verified with the IdP's published keys.

Everything goes through HTTP as a relying party would (the Flask test client), except the
client registration, which inserts the row as `idp clients add` would store it (the secret as
its SHA-256 digest). Used by every test module of tests/idp/oidc/: keep the API stable.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from idp.accounts.models import User
from idp.extensions import db
from idp.oidc.models import ClientAuthMethod, OAuthClient
from tests.factories import create_user
from tests.helpers import TEST_PASSWORD, csrf_in, login

REDIRECT_URI = "https://rp.example/callback"
DEFAULT_SCOPE = "openid profile email"

Params = dict[str, Any]


@dataclass(frozen=True)
class RegisteredClient:
    """A client as its relying party knows it: id, secret (None when public), redirect URI."""

    client_id: str
    secret: str | None
    redirect_uri: str
    auth_method: str
    id: int  # the row's primary key (oauth_clients.id)

    @property
    def is_public(self) -> bool:
        return self.auth_method == ClientAuthMethod.NONE.value

    def row(self) -> OAuthClient:
        """The client's row, read again."""
        client = db.session.get(OAuthClient, self.id)
        assert client is not None
        return client


def register_client(
    *,
    name: str = "Site partenaire",
    public: bool = False,
    auth_method: str | None = None,
    first_party: bool = True,
    redirect_uris: list[str] | None = None,
    scopes: list[str] | None = None,
    grant_types: list[str] | None = None,
    allowed_profiles: list[str] | None = None,
    id_token_signed_response_alg: str = "RS256",
    post_logout_redirect_uris: list[str] | None = None,
    backchannel_logout_uri: str | None = None,
    jwks_uri: str | None = None,
    accepts_delegations: bool = False,
    admits_delegates: bool = False,
    resources: list[str] | None = None,
) -> RegisteredClient:
    """Register a client (committed). Confidential with `client_secret_basic` by default;
    `public=True` gives a public client (method `none`, no secret). First-party by default
    (no consent page): pass `first_party=False` for a third-party client. The delegation
    settings (ADR 0025) are off unless asked; `resources` are the RFC 8707 resources the
    client may ask for at /token (none unless given, ADR 0028)."""
    method = auth_method or (
        ClientAuthMethod.NONE.value if public else ClientAuthMethod.CLIENT_SECRET_BASIC.value
    )
    secret = None
    if method in (
        ClientAuthMethod.CLIENT_SECRET_BASIC.value,
        ClientAuthMethod.CLIENT_SECRET_POST.value,
    ):
        secret = secrets.token_urlsafe(32)
    uris = redirect_uris or [REDIRECT_URI]
    client = OAuthClient(
        name=name,
        secret_digest=hashlib.sha256(secret.encode()).hexdigest() if secret else None,
        token_endpoint_auth_method=method,
        jwks_uri=jwks_uri,
        redirect_uris=uris,
        post_logout_redirect_uris=post_logout_redirect_uris or [],
        backchannel_logout_uri=backchannel_logout_uri,
        grant_types=grant_types or ["authorization_code", "refresh_token"],
        scopes=scopes or ["openid", "profile", "email", "offline_access"],
        id_token_signed_response_alg=id_token_signed_response_alg,
        first_party=first_party,
        allowed_profiles=allowed_profiles or [],
        accepts_delegations=accepts_delegations,
        admits_delegates=admits_delegates,
        resources=resources or [],
    )
    db.session.add(client)
    db.session.commit()
    return RegisteredClient(client.client_id, secret, uris[0], method, client.id)


def sign_in(client: FlaskClient, user: User | None = None, *, username: str | None = None) -> User:
    """Log `user` in on this browser (the login form, CSRF included); without a user, create
    an active one first (password tests.helpers.TEST_PASSWORD)."""
    if user is None:
        user = create_user(username or f"camille.martin.{secrets.token_hex(3)}")
    response = login(client, user.username, TEST_PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)
    return user


def log_in_and_return(
    client: FlaskClient, to_login: Any, user: User, *, password: str = TEST_PASSWORD
) -> Any:
    """`to_login` is /authorize's redirect to the login page: log `user` in there, as the page
    asks, and return the answer of the authorization request the login sends back to (not
    followed further)."""
    location = to_login.headers["Location"]
    parsed = urlsplit(location)
    assert parsed.path == "/login", location
    page = client.get(location)
    assert page.status_code == 200
    back = client.post(
        location,
        data={
            "csrf_token": csrf_in(page.get_data(as_text=True), "the login page"),
            "username": user.username,
            "password": password,
        },
    )
    assert back.status_code == 302, back.get_data(as_text=True)[:2000]
    assert urlsplit(back.headers["Location"]).path == "/authorize", back.headers["Location"]
    return client.get(back.headers["Location"])


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE (verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_params(rp: RegisteredClient, **params: Any) -> Params:
    """The query of an authorization request: response_type=code, the client's id and
    redirect URI, scope "openid profile email", a random state and nonce; keyword arguments
    override or add parameters, and a parameter given as None is left out."""
    query: Params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": DEFAULT_SCOPE,
        "state": secrets.token_urlsafe(12),
        "nonce": secrets.token_urlsafe(12),
    }
    query.update(params)
    return {key: value for key, value in query.items() if value is not None}


def authorize(
    client: FlaskClient, rp: RegisteredClient, *, method: str = "GET", **params: Any
) -> TestResponse:
    """Send an authorization request (GET, or POST with a form body) and return the raw
    response, unfollowed. Parameters as for `authorization_params`."""
    query = authorization_params(rp, **params)
    if method == "POST":
        return client.post("/authorize", data=query)
    return client.get("/authorize", query_string=query)


def callback_params(response: Any) -> dict[str, str]:
    """The parameters of a redirect to the client (one value each; fails if not a redirect)."""
    assert response.status_code in (302, 303), (response.status_code, response.data[:500])
    location = response.headers["Location"]
    parsed = urlsplit(location)
    return {key: values[0] for key, values in parse_qs(parsed.query).items()}


def redirect_target(response: Any) -> str:
    """Where a redirect goes, without its query."""
    assert response.status_code in (302, 303), (response.status_code, response.data[:500])
    parsed = urlsplit(response.headers["Location"])
    return f"{parsed.scheme}://{parsed.netloc}{parsed.path}" if parsed.scheme else parsed.path


def give_consent(client: FlaskClient, page: Any, *, allow: bool = True) -> Any:
    """Answer the consent page `page` (a response showing it): Autoriser or Refuser."""
    html = page.get_data(as_text=True)
    assert 'name="consent_request"' in html, html[:2000]
    request_key = html.split('name="consent_request" value="', 1)[1].split('"', 1)[0]
    return client.post(
        "/authorize/consent",
        data={
            "csrf_token": csrf_in(html, "the consent page"),
            "consent_request": request_key,
            "decision": "allow" if allow else "deny",
        },
    )


def get_code(
    client: FlaskClient, rp: RegisteredClient, *, consent: bool = True, **params: Any
) -> dict[str, str]:
    """Run the authorization request (the browser is logged in) and return the callback's
    parameters (`code`, `state`, `iss`). When a consent page shows and `consent` is true,
    Autoriser is pressed."""
    response = authorize(client, rp, **params)
    if response.status_code == 200 and consent and b'name="consent_request"' in response.data:
        response = give_consent(client, response)
    return callback_params(response)


def token_request(client: FlaskClient, rp: RegisteredClient, **data: Any) -> Any:
    """POST /token authenticated as the client's registered method (basic: Authorization
    header; post: client_id and client_secret in the body; none: client_id in the body).
    Keyword arguments form the body; a value None is left out."""
    body = {key: value for key, value in data.items() if value is not None}
    headers = {}
    if rp.auth_method == ClientAuthMethod.CLIENT_SECRET_BASIC.value:
        assert rp.secret is not None
        headers["Authorization"] = basic_authorization(rp.client_id, rp.secret)
    elif rp.auth_method == ClientAuthMethod.CLIENT_SECRET_POST.value:
        body.setdefault("client_id", rp.client_id)
        body.setdefault("client_secret", rp.secret)
    else:
        body.setdefault("client_id", rp.client_id)
    return client.post("/token", data=body, headers=headers)


def basic_authorization(client_id: str, secret: str) -> str:
    """An HTTP Basic Authorization header value (RFC 6749 2.3.1: form-urlencoded parts)."""
    from urllib.parse import quote

    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def redeem_code(
    client: FlaskClient,
    rp: RegisteredClient,
    code: str,
    *,
    verifier: str | None,
    redirect_uri: str | None = None,
    **data: Any,
) -> Any:
    """Exchange `code` at /token (grant_type=authorization_code) with `verifier` (None: no
    code_verifier sent); returns the raw response."""
    return token_request(
        client,
        rp,
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri or rp.redirect_uri,
        code_verifier=verifier,
        **data,
    )


@dataclass
class CodeFlow:
    """What a completed code flow gave the relying party."""

    tokens: dict[str, Any]  # the /token JSON answer
    code: str
    verifier: str
    state: str
    nonce: str
    callback: dict[str, str] = field(default_factory=dict)

    @property
    def id_token(self) -> str:
        return str(self.tokens["id_token"])

    @property
    def access_token(self) -> str:
        return str(self.tokens["access_token"])

    @property
    def refresh_token(self) -> str | None:
        value = self.tokens.get("refresh_token")
        return str(value) if value else None


def code_flow(
    client: FlaskClient, rp: RegisteredClient, *, consent: bool = True, **params: Any
) -> CodeFlow:
    """A whole authorization code flow with PKCE S256 for a logged-in browser: authorize
    (consenting when asked), check state and iss, redeem the code; asserts success and
    returns the tokens. Parameters as for `authorization_params`."""
    from idp.config import settings

    verifier, challenge = pkce_pair()
    params.setdefault("state", secrets.token_urlsafe(12))
    params.setdefault("nonce", secrets.token_urlsafe(12))
    params.setdefault("code_challenge", challenge)
    params.setdefault("code_challenge_method", "S256")
    callback = get_code(client, rp, consent=consent, **params)
    assert "code" in callback, callback
    assert callback.get("state") == params["state"], callback
    assert callback.get("iss") == settings().issuer, callback
    response = redeem_code(client, rp, callback["code"], verifier=verifier)
    assert response.status_code == 200, response.get_data(as_text=True)
    return CodeFlow(
        tokens=response.get_json(),
        code=callback["code"],
        verifier=verifier,
        state=str(params["state"] or ""),
        nonce=str(params["nonce"] or ""),
        callback=callback,
    )


def decode_id_token(id_token: str) -> dict[str, Any]:
    """The claims of an ID token, its signature verified with the IdP's published keys (the
    token's header alg must be RS256 or ES256)."""
    from joserfc import jwt

    from idp.oidc import keys

    token = jwt.decode(id_token, keys.verification_key_set(), algorithms=["RS256", "ES256"])
    return dict(token.claims)


def jwt_header(token: str) -> dict[str, Any]:
    """The (unverified) JOSE header of a compact JWT."""
    import json

    head = token.split(".", 1)[0]
    return dict(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))))
