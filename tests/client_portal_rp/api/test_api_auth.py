"""The API's door: bearer tokens checked like the IdP's (signature, typ, iss, aud, exp), scopes per
module, the same tenancy as the pages, "sécurité avancée" as RFC 9470's
insufficient_user_authentication, problem+json errors, RateLimit headers (ADR 0026)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import ECKey

from client_portal_rp.api.ratelimit import TokenRateLimiter
from client_portal_rp.models import Company, Module, PortalUser, Role
from tests.client_portal_rp.api.support import bearer, token_for
from tests.client_portal_rp.conftest import make_company, make_firm, make_member, make_user


def _company_with(
    role: Role = Role.USER, modules: set[Module] | None = None
) -> tuple[Company, PortalUser]:
    firm = make_firm()
    company = make_company(firm)
    user = make_user("claire@example.fr")
    make_member(company, user, role=role, modules=modules)
    return company, user


def test_no_token_is_401_with_a_bearer_challenge_and_a_french_problem(
    api_client: FlaskClient,
) -> None:
    answer = api_client.get("/api/v1/companies")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="portail"'
    assert answer.mimetype == "application/problem+json"
    assert answer.json == {
        "type": "about:blank",
        "title": "Authentification requise",
        "status": 401,
        "detail": "Présentez un jeton d'accès Sésame : en-tête « Authorization: Bearer … ».",
        "code": "unauthorized",
    }


def test_the_page_session_does_not_open_the_api(portal_app: Flask, api_client: FlaskClient) -> None:
    from tests.client_portal_rp.conftest import sign_in

    _company, user = _company_with()
    sign_in(api_client, portal_app, user)
    assert api_client.get("/api/v1/companies").status_code == 401


def test_tokens_refused_for_each_reason_are_invalid_token(api_client: FlaskClient) -> None:
    _company, user = _company_with()
    other_key = ECKey.generate_key("P-256", parameters={"kid": "test-key-1"})
    refused = {
        "another key": token_for(user, key=other_key),
        "another audience": token_for(user, audience="https://other.example/api"),
        "another issuer": token_for(user, issuer="https://evil.example"),
        "expired": token_for(user, lifetime=-120),
        "garbage": "abc.def.ghi",
        "not a JWT": "opaque-token",
    }
    for reason, token in refused.items():
        answer = api_client.get("/api/v1/companies", headers=bearer(token))
        assert answer.status_code == 401, reason
        assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"], reason


def test_an_id_token_is_not_an_access_token(api_client: FlaskClient) -> None:
    from joserfc import jwt

    from tests.client_portal_rp.api.support import KEY

    _company, user = _company_with()
    token = token_for(user)
    claims = jwt.decode(token, KEY).claims
    id_token_like = jwt.encode({"alg": "ES256", "kid": KEY.kid, "typ": "JWT"}, claims, KEY)
    answer = api_client.get("/api/v1/companies", headers=bearer(id_token_like))
    assert answer.status_code == 401


def test_a_delegate_s_token_is_refused(api_client: FlaskClient) -> None:
    _company, user = _company_with()
    token = token_for(user, act={"sub": "someone-else"})
    answer = api_client.get("/api/v1/companies", headers=bearer(token))
    assert answer.status_code == 403
    assert answer.json["code"] == "delegation_refused"


def test_the_list_of_companies_is_the_person_s_and_says_their_modules(
    api_client: FlaskClient,
) -> None:
    company, user = _company_with(modules={Module.DEPOSIT, Module.ARCHIVES})
    make_company(make_firm("Autre cabinet"), name="Pas la sienne")
    answer = api_client.get("/api/v1/companies", headers=bearer(token_for(user)))
    assert answer.status_code == 200
    [item] = answer.json["items"]
    assert item["id"] == company.public_id
    assert [m["code"] for m in item["modules"]] == ["depot", "archives"]
    assert {m["code"]: m["advanced"] for m in item["modules"]} == {
        "depot": False,
        "archives": True,
    }


def test_another_company_is_404_like_one_that_does_not_exist(api_client: FlaskClient) -> None:
    _company, user = _company_with()
    theirs = make_company(make_firm("Autre cabinet"), name="Pas la sienne")
    token = token_for(user)
    for company_id in (theirs.public_id, "does-not-exist"):
        answer = api_client.get(f"/api/v1/companies/{company_id}", headers=bearer(token))
        assert answer.status_code == 404
        assert answer.json["title"] == "Ressource introuvable"


def test_a_token_without_any_portal_scope_is_insufficient_scope(api_client: FlaskClient) -> None:
    _company, user = _company_with()
    answer = api_client.get("/api/v1/companies", headers=bearer(token_for(user, scopes="openid")))
    assert answer.status_code == 403
    assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]


def test_rate_limit_headers_then_429_with_retry_after(
    portal_app: Flask, api_client: FlaskClient
) -> None:
    from limits.storage import MemoryStorage

    from client_portal_rp.api.ratelimit import EXTENSION

    _company, user = _company_with()
    token = token_for(user, gid="gid-ratelimit-test")
    saved = portal_app.extensions[EXTENSION]
    portal_app.extensions[EXTENSION] = TokenRateLimiter(MemoryStorage(), 3)
    try:
        answers = [api_client.get("/api/v1/me", headers=bearer(token)) for _ in range(4)]
    finally:
        portal_app.extensions[EXTENSION] = saved
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["RateLimit-Policy"] == '"jeton";q=3;w=60'
    assert answers[0].headers["RateLimit"].startswith('"jeton";r=2;t=')
    assert answers[2].headers["RateLimit"].startswith('"jeton";r=0;t=')
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert answers[3].json["code"] == "rate_limited"


def test_unknown_api_route_and_method_are_problems(api_client: FlaskClient) -> None:
    assert api_client.get("/api/v1/nothing-here").mimetype == "application/problem+json"
    answer = api_client.delete("/api/v1/companies")
    assert answer.status_code == 405
    assert answer.mimetype == "application/problem+json"
    assert "GET" in answer.headers["Allow"]


def test_openapi_document_is_3_1_with_bearer_security_and_problem_errors(
    api_client: FlaskClient,
) -> None:
    spec = api_client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    assert spec["security"] == [{"sesame": []}]
    assert all(path.startswith("/api/v1/") for path in spec["paths"])
    answer = spec["paths"]["/api/v1/companies/{company_id}"]["get"]["responses"]["404"]
    assert list(answer["content"]) == ["application/problem+json"]


def test_advanced_module_without_mfa_token_asks_for_step_up(api_client: FlaskClient) -> None:
    """Uses the check through an operation of an advanced module once one exists; here through
    the tenancy decision itself, the one both doors call."""
    from client_portal_rp.tenancy import Refusal, check_access

    company, user = _company_with(modules={Module.ARCHIVES})
    access, refusal = check_access(user, company.public_id, Module.ARCHIVES, advanced=False)
    assert access is not None and refusal is Refusal.ADVANCED
    assert check_access(user, company.public_id, Module.ARCHIVES, advanced=True)[1] is None


def test_an_unreachable_counter_store_lets_requests_through_uncounted(
    portal_app: Flask, api_client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis down (nothing listens on port 1): the API keeps answering, without RateLimit
    headers, and says why in the log (docs/security.md 55)."""
    from limits.storage import storage_from_string

    from client_portal_rp.api.ratelimit import EXTENSION

    _company, user = _company_with()
    saved = portal_app.extensions[EXTENSION]
    storage = storage_from_string("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    portal_app.extensions[EXTENSION] = TokenRateLimiter(storage, 3)  # type: ignore[arg-type]
    try:
        with caplog.at_level("WARNING", logger="client_portal_rp.api"):
            answer = api_client.get("/api/v1/me", headers=bearer(token_for(user)))
    finally:
        portal_app.extensions[EXTENSION] = saved
    assert answer.status_code == 200
    assert "RateLimit" not in answer.headers
    assert "store unreachable" in caplog.text
