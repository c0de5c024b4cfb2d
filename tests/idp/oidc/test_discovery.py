"""idp/oidc/discovery.py: the provider metadata (validated with Authlib's validators) and the
JWKS, their cache headers and per-process caching."""

from __future__ import annotations

from datetime import timedelta

from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import event

from idp.database import utcnow
from idp.extensions import db
from idp.oidc import keys
from idp.oidc.acr import ACR_ADVANCED, ACR_BASIC

DISCOVERY = "/.well-known/openid-configuration"


def test_discovery_metadata_passes_authlib_validation(app, client, configure):
    configure(issuer="https://idp.example")
    response = client.get(DISCOVERY)
    assert response.status_code == 200 and response.mimetype == "application/json"
    metadata = response.get_json()
    OpenIDProviderMetadata(metadata).validate()  # raises on any invalid member
    assert metadata["issuer"] == "https://idp.example"
    assert metadata["jwks_uri"] == "https://idp.example/jwks"


def test_discovery_metadata_advertises_what_the_provider_does(client):
    m = client.get(DISCOVERY).get_json()
    issuer = "http://idp.test"
    assert m["issuer"] == issuer
    assert m["authorization_endpoint"] == issuer + "/authorize"
    assert m["token_endpoint"] == issuer + "/token"
    assert m["userinfo_endpoint"] == issuer + "/userinfo"
    assert m["revocation_endpoint"] == issuer + "/revoke"
    assert m["introspection_endpoint"] == issuer + "/introspect"
    assert m["end_session_endpoint"] == issuer + "/end-session"
    assert m["response_types_supported"] == ["code"]
    assert m["response_modes_supported"] == ["query"]
    assert set(m["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    }
    assert m["subject_types_supported"] == ["public"]
    assert m["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert set(m["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    }
    assert "none" not in m["introspection_endpoint_auth_methods_supported"]
    assert m["token_endpoint_auth_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert m["scopes_supported"] == [
        "openid",
        "profile",
        "email",
        "offline_access",
        "ordre",
        "delegations",
        "portal.deposits",
        "portal.accounting",
        "portal.archives",
        "portal.accesses",
    ]
    for claim in ("sub", "sid", "acr", "amr", "azp", "at_hash", "ordre_council", "locale"):
        assert claim in m["claims_supported"]
    assert m["code_challenge_methods_supported"] == ["S256"]  # plain refused
    assert m["authorization_response_iss_parameter_supported"] is True
    assert m["backchannel_logout_supported"] is True
    assert m["backchannel_logout_session_supported"] is True
    assert m["frontchannel_logout_supported"] is False
    assert m["request_parameter_supported"] is False
    assert m["request_uri_parameter_supported"] is False
    assert m["claims_parameter_supported"] is True
    assert m["ui_locales_supported"] == ["fr", "en"]
    assert m["acr_values_supported"] == [ACR_BASIC, ACR_ADVANCED]
    assert m["prompt_values_supported"] == ["none", "login", "consent", "create"]


def test_discovery_is_cacheable_public_json_with_etag(client):
    response = client.get(DISCOVERY)
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    etag = response.headers["ETag"]
    again = client.get(DISCOVERY, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get(DISCOVERY, headers={"If-None-Match": '"other"'}).status_code == 200


def test_discovery_follows_a_changed_issuer(client, configure):
    assert client.get(DISCOVERY).get_json()["issuer"] == "http://idp.test"
    configure(issuer="https://sesame.example")
    assert client.get(DISCOVERY).get_json()["token_endpoint"] == "https://sesame.example/token"


def test_discovery_jwks_publishes_public_keys_that_verify_our_tokens(client):
    response = client.get("/jwks")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    document = response.get_json()
    assert len(document["keys"]) == 4  # current and next, RS256 and ES256
    for jwk in document["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & jwk.keys()
        assert jwk["use"] == "sig" and jwk["kid"]
    published = KeySet.import_key_set(document)
    for alg in ("RS256", "ES256"):
        key = keys.current_signing_key(alg)
        token = jwt.encode({"alg": alg, "kid": key.kid}, {"iss": "http://idp.test"}, key)
        assert jwt.decode(token, published, algorithms=[alg]).claims["iss"] == "http://idp.test"


def test_discovery_jwks_shows_a_rotation(client):
    before = {k["kid"] for k in client.get("/jwks").get_json()["keys"]}
    etag = client.get("/jwks").headers["ETag"]
    outcome = keys.rotate(db.session, now=utcnow() + keys.MIN_NEXT_AGE + timedelta(seconds=1))
    db.session.commit()
    response = client.get("/jwks", headers={"If-None-Match": etag})
    assert response.status_code == 200  # the body changed: the old ETag no longer matches
    after = {k["kid"] for k in response.get_json()["keys"]}
    assert before < after  # nothing retired yet: previous keys stay published
    assert set(outcome.created.values()) == after - before


def test_discovery_jwks_served_from_memory_between_key_checks(app, client):
    client.get("/jwks")
    cache = keys.key_cache()
    cache.interval = 60.0
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for _ in range(20):
            assert client.get("/jwks").status_code == 200
            assert client.get(DISCOVERY).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
        cache.interval = 0.0
        cache.invalidate()
    assert statements == []
