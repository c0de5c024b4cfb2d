"""Client authentication at the token endpoint (docs/security.md 28, and the private_key_jwt
part of 32): a wrong secret is invalid_client with a 401; each client authenticates with its
registered method only, so a confidential client never passes as a public one; a
private_key_jwt assertion must be signed by a key of the client's jwks_uri with an
asymmetric algorithm, for us, unexpired, and used once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import func, select

from idp.config import settings
from idp.extensions import db
from idp.oidc import server
from idp.oidc.models import Grant
from tests.helpers import serving
from tests.idp.oidc.helpers import (
    RegisteredClient,
    basic_authorization,
    get_code,
    pkce_pair,
    register_client,
    sign_in,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _grants() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Grant)) or 0)


def _code(client, rp: RegisteredClient, **params: Any) -> str:
    sign_in(client)
    return get_code(client, rp, **params)["code"]


def _exchange(code: str, rp: RegisteredClient, **extra: Any) -> dict[str, Any]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp.redirect_uri,
        **extra,
    }


def _invalid_client(response) -> None:
    assert response.status_code == 401, (response.status_code, response.get_json())
    assert response.get_json()["error"] == "invalid_client"


# --- secrets ------------------------------------------------------------------------------------


def test_client_auth_right_secret_basic_gets_tokens(app, client):
    rp = register_client()
    code = _code(client, rp)
    response = client.post(
        "/token",
        data=_exchange(code, rp),
        headers={"Authorization": basic_authorization(rp.client_id, rp.secret or "")},
    )
    assert response.status_code == 200, response.get_json()


def test_client_auth_right_secret_post_gets_tokens(app, client):
    rp = register_client(auth_method="client_secret_post")
    code = _code(client, rp)
    response = client.post(
        "/token", data=_exchange(code, rp, client_id=rp.client_id, client_secret=rp.secret)
    )
    assert response.status_code == 200, response.get_json()


def test_client_auth_wrong_secret_basic_is_invalid_client_401(app, client):
    rp = register_client()
    code = _code(client, rp)
    response = client.post(
        "/token",
        data=_exchange(code, rp),
        headers={"Authorization": basic_authorization(rp.client_id, (rp.secret or "") + "x")},
    )
    _invalid_client(response)
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert _grants() == 0


def test_client_auth_wrong_secret_post_is_invalid_client_401(app, client):
    rp = register_client(auth_method="client_secret_post")
    code = _code(client, rp)
    for secret in ("wrong", (rp.secret or "")[:-1], (rp.secret or "").upper(), "é" * 43):
        response = client.post(
            "/token", data=_exchange(code, rp, client_id=rp.client_id, client_secret=secret)
        )
        _invalid_client(response)
    assert _grants() == 0


def test_client_auth_unknown_client_is_invalid_client_401(app, client):
    rp = register_client()
    code = _code(client, rp)
    _invalid_client(
        client.post(
            "/token",
            data=_exchange(code, rp),
            headers={"Authorization": basic_authorization("nobody", "secret")},
        )
    )
    _invalid_client(
        client.post("/token", data=_exchange(code, rp, client_id="nobody", client_secret="s"))
    )


def test_client_auth_without_any_credentials_is_invalid_client_401(app, client):
    rp = register_client()
    code = _code(client, rp)
    _invalid_client(client.post("/token", data=_exchange(code, rp)))


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_auth_confidential_client_cannot_act_as_a_public_one(app, client, method):
    """client_id alone, with a PKCE verifier as public clients do: refused, no tokens."""
    rp = register_client(auth_method=method)
    verifier, challenge = pkce_pair()
    code = _code(client, rp, code_challenge=challenge, code_challenge_method="S256")
    response = client.post(
        "/token", data=_exchange(code, rp, client_id=rp.client_id, code_verifier=verifier)
    )
    _invalid_client(response)
    assert _grants() == 0


def test_client_auth_basic_client_cannot_use_post(app, client):
    rp = register_client(auth_method="client_secret_basic")
    code = _code(client, rp)
    response = client.post(
        "/token", data=_exchange(code, rp, client_id=rp.client_id, client_secret=rp.secret)
    )
    _invalid_client(response)


def test_client_auth_post_client_cannot_use_basic(app, client):
    rp = register_client(auth_method="client_secret_post")
    code = _code(client, rp)
    response = client.post(
        "/token",
        data=_exchange(code, rp),
        headers={"Authorization": basic_authorization(rp.client_id, rp.secret or "")},
    )
    _invalid_client(response)


def test_client_auth_public_client_sending_a_secret_is_refused(app, client):
    rp = register_client(public=True)
    verifier, challenge = pkce_pair()
    code = _code(client, rp, code_challenge=challenge, code_challenge_method="S256")
    response = client.post(
        "/token",
        data=_exchange(
            code, rp, client_id=rp.client_id, client_secret="guess", code_verifier=verifier
        ),
    )
    _invalid_client(response)


def test_client_auth_public_client_with_its_verifier_gets_tokens(app, client):
    rp = register_client(public=True)
    verifier, challenge = pkce_pair()
    code = _code(client, rp, code_challenge=challenge, code_challenge_method="S256")
    response = client.post(
        "/token", data=_exchange(code, rp, client_id=rp.client_id, code_verifier=verifier)
    )
    assert response.status_code == 200, response.get_json()


# --- private_key_jwt ----------------------------------------------------------------------------


class JwksApp:
    """The relying party's jwks_uri: serves `keys` (public parts), counts the fetches."""

    def __init__(self, *keys: Any) -> None:
        self.keys = list(keys)
        self.fetches = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.fetches += 1
        body = json.dumps({"keys": [k.as_dict(private=False) for k in self.keys]}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]


@pytest.fixture
def rp_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rp-key-1"})


@pytest.fixture
def jwks(rp_key: RSAKey) -> Iterator[tuple[str, JwksApp]]:
    wsgi = JwksApp(rp_key)
    with serving(wsgi) as url:
        yield url + "/jwks.json", wsgi


@pytest.fixture(autouse=True)
def _no_cached_client_keys() -> Iterator[None]:
    """The keys of a jwks_uri are cached per process: a test whose loopback port an earlier
    test's server had would otherwise start with that server's keys."""
    server._jwks_cache.clear()
    yield
    server._jwks_cache.clear()


def _assertion_claims(rp: RegisteredClient, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": rp.client_id,
        "sub": rp.client_id,
        "aud": settings().issuer + "/token",
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key: Any, claims: dict[str, Any], alg: str = "RS256", kid: str | None = None) -> str:
    return jwt.encode({"alg": alg, "kid": kid or key.kid}, claims, key, algorithms=[alg])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _post_assertion(client, code: str, rp: RegisteredClient, assertion: str):
    return client.post(
        "/token",
        data=_exchange(code, rp, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion),
    )


def _pkjwt_client(jwks_uri: str) -> RegisteredClient:
    return register_client(auth_method="private_key_jwt", jwks_uri=jwks_uri)


def test_client_auth_private_key_jwt_valid_assertion_gets_tokens(app, client, jwks, rp_key):
    url, _wsgi = jwks
    rp = _pkjwt_client(url)
    code = _code(client, rp)
    response = _post_assertion(client, code, rp, _sign(rp_key, _assertion_claims(rp)))
    assert response.status_code == 200, response.get_json()
    assert _grants() == 1


def test_client_auth_private_key_jwt_accepts_the_issuer_as_audience(app, client, jwks, rp_key):
    url, _wsgi = jwks
    rp = _pkjwt_client(url)
    code = _code(client, rp)
    assertion = _sign(rp_key, _assertion_claims(rp, aud=settings().issuer))
    assert _post_assertion(client, code, rp, assertion).status_code == 200


def test_client_auth_private_key_jwt_assertion_is_used_once(app, client, jwks, rp_key):
    url, _wsgi = jwks
    rp = _pkjwt_client(url)
    assertion = _sign(rp_key, _assertion_claims(rp))
    first = _post_assertion(client, _code(client, rp), rp, assertion)
    assert first.status_code == 200
    _invalid_client(_post_assertion(client, _code(client, rp), rp, assertion))
    assert _grants() == 1


def test_client_auth_private_key_jwt_refuses_forged_assertions(app, client, jwks, rp_key):
    """docs/security.md 32 for private_key_jwt: none, HS256 keyed with the client's public
    key, a key not in its JWKS (unknown kid, or its kid), a tampered payload; and claims that
    are not for us (audience), expired, or for another client."""
    url, _wsgi = jwks
    rp = _pkjwt_client(url)
    other = register_client(name="Autre")
    claims = _assertion_claims(rp)
    genuine = _sign(rp_key, claims)
    head, _payload, signature = genuine.split(".")
    stranger = RSAKey.generate_key(2048, parameters={"kid": "stranger"})
    ec_stranger = ECKey.generate_key("P-256", parameters={"kid": "rp-key-1"})
    public_pem = rp_key.as_pem(private=False)
    hs_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': rp_key.kid}).encode())}." + _b64(
        json.dumps(_assertion_claims(rp)).encode()
    )
    hs_signature = _b64(hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest())
    forged = {
        "alg_none": _b64(b'{"alg":"none"}')
        + "."
        + _b64(json.dumps(_assertion_claims(rp)).encode())
        + ".",
        "hs256_with_public_key": f"{hs_input}.{hs_signature}",
        "unknown_kid": _sign(stranger, _assertion_claims(rp)),
        "foreign_key_with_its_kid": _sign(stranger, _assertion_claims(rp), kid="rp-key-1"),
        "ec_key_with_its_kid": _sign(ec_stranger, _assertion_claims(rp), alg="ES256"),
        "tampered_payload": f"{head}."
        f"{_b64(json.dumps({**claims, 'exp': claims['exp'] + 3600}).encode())}.{signature}",
        "other_audience": _sign(rp_key, _assertion_claims(rp, aud="https://evil.example/token")),
        "expired": _sign(
            rp_key, _assertion_claims(rp, iat=int(time.time()) - 900, exp=int(time.time()) - 600)
        ),
        "no_jti": _sign(rp_key, _assertion_claims(rp, jti=None)),
        "no_exp": _sign(rp_key, _assertion_claims(rp, exp=None)),
        "iss_not_sub": _sign(rp_key, _assertion_claims(rp, iss="someone-else")),
        "garbage": "a.b.c",
    }
    code = _code(client, rp)
    for name, assertion in forged.items():
        response = _post_assertion(client, code, rp, assertion)
        assert response.status_code == 401, (name, response.get_json())
        assert response.get_json()["error"] == "invalid_client", name
    # another client's id in sub/iss, signed with our RP's key: not that client's method
    as_other = _sign(rp_key, _assertion_claims(rp, iss=other.client_id, sub=other.client_id))
    _invalid_client(_post_assertion(client, code, rp, as_other))
    assert _grants() == 0
    assert _wsgi.fetches == 1  # forged assertions did not make us read the client's keys again
    assert _post_assertion(client, code, rp, genuine).status_code == 200  # code still good


def test_client_auth_private_key_jwt_client_cannot_use_a_secret(app, client, jwks):
    url, _wsgi = jwks
    rp = _pkjwt_client(url)
    code = _code(client, rp)
    _invalid_client(
        client.post("/token", data=_exchange(code, rp, client_id=rp.client_id, client_secret="x"))
    )
    _invalid_client(client.post("/token", data=_exchange(code, rp, client_id=rp.client_id)))


def test_client_auth_secret_client_cannot_use_private_key_jwt(app, client, rp_key):
    rp = register_client()
    code = _code(client, rp)
    _invalid_client(_post_assertion(client, code, rp, _sign(rp_key, _assertion_claims(rp))))


def test_client_auth_private_key_jwt_unreachable_jwks_is_invalid_client(app, client, rp_key):
    from tests.helpers import free_port

    rp = _pkjwt_client(f"http://127.0.0.1:{free_port()}/jwks.json")
    code = _code(client, rp)
    response = _post_assertion(client, code, rp, _sign(rp_key, _assertion_claims(rp)))
    _invalid_client(response)


@pytest.mark.parametrize("same_kid", [False, True], ids=["new_kid", "same_kid"])
def test_client_auth_private_key_jwt_follows_a_key_rotation(
    app, client, jwks, rp_key, monkeypatch, same_kid
):
    """A client that rotates its keys is not refused for the cache's five minutes: an
    assertion the cached keys do not verify re-reads them once they are older than
    CLIENT_JWKS_REFRESH_SECONDS (set to 0 here instead of waiting), then verifies."""
    url, wsgi = jwks
    rp = _pkjwt_client(url)
    first = _post_assertion(client, _code(client, rp), rp, _sign(rp_key, _assertion_claims(rp)))
    assert first.status_code == 200, first.get_json()
    assert wsgi.fetches == 1
    new_key = RSAKey.generate_key(2048, parameters={"kid": rp_key.kid if same_kid else "rp-2"})
    wsgi.keys = [new_key]
    rotated = _sign(new_key, _assertion_claims(rp))

    _invalid_client(_post_assertion(client, _code(client, rp), rp, rotated))  # read too lately
    assert wsgi.fetches == 1
    monkeypatch.setattr(server, "CLIENT_JWKS_REFRESH_SECONDS", 0)
    response = _post_assertion(client, _code(client, rp), rp, rotated)
    assert response.status_code == 200, response.get_json()
    assert wsgi.fetches == 2
    # the old key is gone from the client's set: its assertions are refused from now on
    _invalid_client(
        _post_assertion(client, _code(client, rp), rp, _sign(rp_key, _assertion_claims(rp)))
    )


def test_client_auth_private_key_jwt_assertions_refused_at_once_read_the_keys_once(app, rp_key):
    """Many assertions the cached keys refuse at the same moment (a flood of forged ones, or
    one client's burst right after its rotation): one of them re-reads the client's keys, the
    others go on with the cached ones — the client's server is not hit once per request."""
    slow = JwksApp(rp_key)
    served = slow.__call__

    def slowly(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        time.sleep(0.2)  # the re-read is under way while the others arrive
        return served(environ, start_response)

    with serving(slowly) as base:
        url = base + "/jwks.json"
        keys = server.client_key_set(url)
        read_at = time.monotonic() - server.CLIENT_JWKS_REFRESH_SECONDS  # long enough ago
        server._jwks_cache[url] = (read_at, keys)
        barrier = threading.Barrier(8)

        failures: list[BaseException] = []

        def refused() -> None:
            try:
                with app.app_context():
                    barrier.wait()
                    server.client_key_set(url, refresh=True)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=refused) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert not failures, failures
    assert slow.fetches == 2  # the first read, and one re-read for the eight
