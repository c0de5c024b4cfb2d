"""RFC 8693 token exchange at /token for delegations (idp/delegation/exchange.py, ADR 0025
"Token exchange", SECURITY.md 37-39), through the real endpoints: a partner site holding a
collaborator's access token obtains one acting for the expert-comptable who delegated to
them (`act`), only within a valid delegation covering the site; targets and scope only narrow;
ending the delegation, striking the grantor off, or revoking the subject token's family makes
the exchanged token inactive at once (introspection, userinfo)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from idp.accounts.models import User
from idp.audit.models import AuditEvent, AuditEventType
from idp.config import settings
from idp.delegation import services
from idp.delegation.exchange import represented_user
from idp.delegation.models import Delegation
from idp.extensions import db
from idp.oidc import keys
from idp.oidc.clients import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE
from idp.oidc.models import OAuthClient
from idp.oidc.tokens import InvalidAccessToken, decode_access_token, validate_access_token
from idp.registry.catalog import RegistryStatus
from tests.idp.delegation.support import collaborator, expert, set_registry_status
from tests.idp.oidc.helpers import RegisteredClient, code_flow, register_client, sign_in
from tests.idp.oidc.helpers import token_request as _token_request
from tests.idp.oidc.tokens_support import forge, introspect, revoke, segments, userinfo

SCOPE = "openid profile email"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"


def site(
    name: str = "Comptexpert",
    *,
    grant_types: list[str] | None = None,
    subject_types: list[str] | None = None,
    actor_types: list[str] | None = None,
    redirect_uri: str = "https://comptexpert.example/callback",
    public: bool = False,
    resources: list[str] | None = None,
) -> RegisteredClient:
    """A partner site that accepts delegations and may exchange access tokens (unless told
    otherwise), registered for `resources` (RFC 8707, ADR 0028; none unless given)."""
    rp = register_client(
        name=name,
        public=public,
        redirect_uris=[redirect_uri],
        grant_types=grant_types
        if grant_types is not None
        else ["authorization_code", "refresh_token", TOKEN_EXCHANGE],
        accepts_delegations=True,
        resources=resources,
    )
    row = rp.row()
    row.exchange_subject_token_types = (
        subject_types if subject_types is not None else [ACCESS_TOKEN_TYPE]
    )
    row.exchange_actor_token_types = actor_types or []
    db.session.commit()
    return rp


def delegate(grantor: User, grantee: User, *sites: RegisteredClient) -> Delegation:
    delegation = services.grant(db.session, grantor, grantee.username, [s.client_id for s in sites])
    db.session.commit()
    return delegation


def tokens_of(client: FlaskClient, user: User, rp: RegisteredClient, scope: str = SCOPE) -> Any:
    """The /token answer of a code flow of `user` at `rp` (a fresh browser session)."""
    keys.ensure_keys()
    browser = client.application.test_client()
    sign_in(browser, user)
    return code_flow(browser, rp, scope=scope).tokens


def exchange(client: FlaskClient, rp: RegisteredClient, subject_token: str, **params: Any) -> Any:
    params.setdefault("subject_token_type", ACCESS_TOKEN_TYPE)
    return _token_request(
        client, rp, grant_type=TOKEN_EXCHANGE, subject_token=subject_token, **params
    )


def refused(response: Any, error: str, status: int = 400) -> dict[str, Any]:
    body = response.get_json()
    assert response.status_code == status, (response.status_code, body)
    assert body["error"] == error, body
    assert "access_token" not in body
    description = body.get("error_description", "")
    assert description.isascii(), description
    return dict(body)


@dataclass
class Scene:
    """An expert-comptable, their collaborator, a site, the delegation, the collaborator's
    tokens at the site."""

    grantor: User
    collaborator: User
    rp: RegisteredClient
    delegation: Delegation
    tokens: dict[str, Any]

    @property
    def subject_token(self) -> str:
        return str(self.tokens["access_token"])


def scene(client: FlaskClient, **site_options: Any) -> Scene:
    grantor = expert()
    marie = collaborator()
    rp = site(**site_options)
    delegation = delegate(grantor, marie, rp)
    return Scene(grantor, marie, rp, delegation, tokens_of(client, marie, rp))


def exchanged(client: FlaskClient, s: Scene, **params: Any) -> dict[str, Any]:
    response = exchange(client, s.rp, s.subject_token, **params)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def active(client: FlaskClient, rp: RegisteredClient, token: str) -> dict[str, Any]:
    answer = introspect(client, rp, token)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return dict(answer.get_json())


# --- success --------------------------------------------------------------------------------


def test_exchange_issues_an_access_token_acting_for_the_grantor(app, client):
    s = scene(client)
    response = exchange(client, s.rp, s.subject_token)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in", "scope"}
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= settings().oidc.access_token_lifetime
    assert body["scope"] == SCOPE

    header, claims = segments(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256" and header["kid"]
    _, subject = segments(s.subject_token)
    assert claims["sub"] == s.grantor.subject
    assert claims["act"] == {"sub": s.collaborator.subject}
    assert claims["dlg"] == s.delegation.public_id
    assert "dlg_chain" not in claims
    assert claims["gid"] == subject["gid"] and claims["sid"] == subject["sid"]
    assert claims["client_id"] == claims["aud"] == s.rp.client_id
    assert claims["exp"] <= subject["exp"]  # never outlives the token it was exchanged for
    for name in ("auth_time", "acr", "amr"):
        assert claims.get(name) == subject.get(name)
    decode_access_token(body["access_token"])  # our signature, issuer, lifetime

    valid = validate_access_token(body["access_token"])
    assert valid.user is not None and valid.user.id == s.grantor.id

    described = active(client, s.rp, body["access_token"])
    assert described["active"] is True
    assert described["sub"] == s.grantor.subject
    assert described["username"] == s.grantor.username
    assert described["act"] == {"sub": s.collaborator.subject}
    assert "act" not in active(client, s.rp, s.subject_token)  # the subject token: no act

    answer = userinfo(client, body["access_token"])
    assert answer.status_code == 200, answer.get_json()
    info = answer.get_json()
    assert info["sub"] == s.grantor.subject
    assert info["preferred_username"] == s.grantor.username
    assert info["email"] == s.grantor.email
    assert info["act"] == {"sub": s.collaborator.subject}
    assert "act" not in userinfo(client, s.subject_token).get_json()


def test_exchange_is_audited_on_both_accounts(app, client):
    s = scene(client)
    exchanged(client, s)
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditEventType.TOKEN_EXCHANGED.value)
    ).all()
    assert {event.subject_id for event in events} == {s.grantor.id, s.collaborator.id}
    for event in events:
        assert event.actor_id == s.collaborator.id
        assert event.details["delegation"] == s.delegation.public_id
        assert event.details["client_id"] == s.rp.client_id


def test_exchange_issues_no_refresh_token_and_drops_offline_access(app, client):
    s = scene(client)
    s.tokens = tokens_of(client, s.collaborator, s.rp, scope="openid profile offline_access")
    assert s.tokens.get("refresh_token")
    body = exchanged(client, s)
    assert "refresh_token" not in body
    assert body["scope"] == "openid profile"
    assert segments(body["access_token"])[1]["scope"] == "openid profile"


def test_exchange_accepts_client_secret_post(app, client):
    grantor, marie = expert(), collaborator()
    rp = site()
    row = rp.row()
    row.token_endpoint_auth_method = "client_secret_post"
    db.session.commit()
    rp = RegisteredClient(rp.client_id, rp.secret, rp.redirect_uri, "client_secret_post", rp.id)
    delegate(grantor, marie, rp)
    token = tokens_of(client, marie, rp)["access_token"]
    assert exchange(client, rp, token).status_code == 200


# --- chains ---------------------------------------------------------------------------------


def test_an_exchanged_token_exchanged_again_nests_act(app, client):
    """The grantor A of Marie holds a delegation from C covering the site: the token acting
    for A is exchanged for one acting for C, `act` nested (RFC 8693 4.1: the current actor
    outermost), every link checked at each use."""
    s = scene(client)
    first = exchanged(client, s)["access_token"]
    chief = expert("claire.chef", family_name="Chef", given_names="Claire")
    upper = delegate(chief, s.grantor, s.rp)

    response = exchange(client, s.rp, first)
    assert response.status_code == 200, response.get_json()
    second = response.get_json()["access_token"]
    _, claims = segments(second)
    assert claims["sub"] == chief.subject
    assert claims["act"] == {"sub": s.grantor.subject, "act": {"sub": s.collaborator.subject}}
    assert claims["dlg"] == upper.public_id
    assert claims["dlg_chain"] == [s.delegation.public_id]
    assert claims["gid"] == segments(s.subject_token)[1]["gid"]
    described = active(client, s.rp, second)
    assert described["active"] is True and described["sub"] == chief.subject
    assert described["act"] == claims["act"]
    # Each link is checked against `sub`/`act`: a middle actor that is not the upper
    # delegation's grantee is refused (our key, claims the exchange never wrote).
    stranger = expert("paul.autre", family_name="Autre", given_names="Paul")
    middle = {"sub": stranger.subject, "act": {"sub": s.collaborator.subject}}
    assert active(client, s.rp, forge({"act": middle}, base=second)) == {"active": False}

    # The lower link ends: the chained token dies with it, though its own `dlg` lives.
    services.end(db.session, s.collaborator, s.delegation)
    db.session.commit()
    assert active(client, s.rp, second) == {"active": False}
    assert userinfo(client, second).status_code == 401


def test_a_chain_never_comes_back_to_one_of_its_members(app, client):
    """A delegates to B and B to A: B's token acts for A, and A's delegation from B cannot
    make it act for B again."""
    a = expert("anne.a", family_name="Alpha", given_names="Anne")
    b = expert("bruno.b", family_name="Beta", given_names="Bruno")
    rp = site()
    delegate(a, b, rp)
    delegate(b, a, rp)
    first = exchange(client, rp, tokens_of(client, b, rp)["access_token"])
    assert first.status_code == 200, first.get_json()
    assert segments(first.get_json()["access_token"])[1]["sub"] == a.subject
    refused(exchange(client, rp, first.get_json()["access_token"]), "invalid_grant")


# --- validity at use ------------------------------------------------------------------------


def test_ended_delegation_refuses_the_exchange_and_kills_exchanged_tokens(app, client):
    s = scene(client)
    token = exchanged(client, s)["access_token"]
    assert active(client, s.rp, token)["active"] is True

    services.end(db.session, s.grantor, s.delegation)
    db.session.commit()

    assert active(client, s.rp, token) == {"active": False}
    answer = userinfo(client, token)
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    refused(exchange(client, s.rp, s.subject_token), "invalid_grant")
    assert active(client, s.rp, s.subject_token)["active"] is True  # the subject token lives


def test_renounced_delegation_kills_exchanged_tokens(app, client):
    s = scene(client)
    token = exchanged(client, s)["access_token"]
    services.end(db.session, s.collaborator, s.delegation)
    db.session.commit()
    assert active(client, s.rp, token) == {"active": False}


def test_struck_off_grantor_refuses_the_exchange_and_kills_exchanged_tokens(app, client):
    s = scene(client)
    token = exchanged(client, s)["access_token"]

    set_registry_status(s.grantor, RegistryStatus.RADIE)

    assert active(client, s.rp, token) == {"active": False}
    assert userinfo(client, token).status_code == 401
    refused(exchange(client, s.rp, s.subject_token), "invalid_grant")


def test_suspension_is_read_at_use_and_reinstatement_restores(app, client):
    s = scene(client)
    token = exchanged(client, s)["access_token"]
    set_registry_status(s.grantor, RegistryStatus.SUSPENDU)
    assert active(client, s.rp, token) == {"active": False}
    refused(exchange(client, s.rp, s.subject_token), "invalid_grant")
    set_registry_status(s.grantor, RegistryStatus.INSCRIT)
    assert active(client, s.rp, token)["active"] is True
    assert exchange(client, s.rp, s.subject_token).status_code == 200


def test_expired_delegation_kills_exchanged_tokens(app, client):
    s = scene(client)
    token = exchanged(client, s)["access_token"]
    s.delegation.ends_at = s.delegation.starts_at
    db.session.commit()
    assert active(client, s.rp, token) == {"active": False}
    refused(exchange(client, s.rp, s.subject_token), "invalid_grant")


def test_revoking_the_subject_tokens_family_refuses_and_kills(app, client):
    s = scene(client, grant_types=["authorization_code", "refresh_token", TOKEN_EXCHANGE])
    s.tokens = tokens_of(client, s.collaborator, s.rp, scope="openid profile offline_access")
    token = exchanged(client, s)["access_token"]

    assert revoke(client, s.rp, s.tokens["refresh_token"]).status_code == 200  # the family

    assert active(client, s.rp, token) == {"active": False}
    assert userinfo(client, token).status_code == 401
    body = refused(exchange(client, s.rp, s.subject_token), "invalid_grant")
    assert "subject_token" in body["error_description"]


def test_ending_the_collaborators_idp_session_kills_exchanged_tokens(app, client):
    """The session (`sid`) ends (logout, « Fermer » on « Mon compte »): its grants are
    revoked, so the exchanged token, which names the subject's grant, dies with them."""
    from idp.accounts.sessions import end_own_session

    s = scene(client)
    token = exchanged(client, s)["access_token"]
    assert end_own_session(db.session, s.collaborator, segments(token)[1]["sid"]) is not None
    db.session.commit()
    assert active(client, s.rp, token) == {"active": False}
    refused(exchange(client, s.rp, s.subject_token), "invalid_grant")


def test_an_exchanged_token_is_revocable_by_itself(app, client):
    s = scene(client)
    token = exchanged(client, s)["access_token"]
    assert revoke(client, s.rp, token).status_code == 200
    assert active(client, s.rp, token) == {"active": False}
    assert active(client, s.rp, s.subject_token)["active"] is True


def test_a_deactivated_collaborator_kills_exchanged_tokens(app, client):
    from idp.accounts.services import disable_user
    from idp.audit.services import SYSTEM

    s = scene(client)
    token = exchanged(client, s)["access_token"]
    disable_user(db.session, s.collaborator, actor=SYSTEM)
    db.session.commit()
    assert active(client, s.rp, token) == {"active": False}


def test_forged_delegation_claims_are_refused(app, client):
    """Our own key, but claims the exchange never wrote: another delegation, a `sub` that is
    not its grantor, an `act` that is not the family's user, a chain without its links."""
    s = scene(client)
    token = exchanged(client, s)["access_token"]
    other = expert("paul.autre", family_name="Autre", given_names="Paul")
    for claims in (
        {"sub": other.subject},
        {"act": {"sub": other.subject}},
        {"dlg": "unknown-delegation"},
        {"dlg": 7},
        {"act": "marie"},
        {"act": {"sub": s.collaborator.subject, "act": {"sub": s.collaborator.subject}}},
        {"dlg_chain": [s.delegation.public_id]},
    ):
        forged = forge(claims, base=token)
        try:
            validate_access_token(forged)
        except InvalidAccessToken:
            pass
        else:
            raise AssertionError(f"accepted: {claims}")
    # and on the token's own family user: represented_user refuses another person
    _, real = segments(token)
    try:
        represented_user(db.session, real, other)
    except InvalidAccessToken:
        pass
    else:
        raise AssertionError("another family user accepted")


# --- targets and scope ----------------------------------------------------------------------


def test_audience_may_only_name_services_the_delegation_covers(app, client):
    grantor, marie = expert(), collaborator()
    rp = site()
    other = site("Bibliothèque", redirect_uri="https://bibliotheque.example/cb")
    outside = site("Hors délégation", redirect_uri="https://ailleurs.example/cb")
    delegate(grantor, marie, rp, other)
    token = tokens_of(client, marie, rp)["access_token"]

    response = exchange(client, rp, token, audience=other.client_id)
    assert response.status_code == 200, response.get_json()
    assert segments(response.get_json()["access_token"])[1]["aud"] == other.client_id

    refused(exchange(client, rp, token, audience=outside.client_id), "invalid_target")
    refused(exchange(client, rp, token, audience="https://evil.example"), "invalid_target")
    refused(exchange(client, rp, token, audience=[other.client_id, "x"]), "invalid_target")


def test_resource_must_be_on_a_covered_service(app, client):
    """The delegation's rule: a resource on the origin of a service it covers. The client is
    registered for every resource tried here, so that the delegation's rule is what refuses."""
    outside = (
        "https://ailleurs.example/api",
        "https://comptexpert.example.evil.example/api",
        "http://comptexpert.example/api",
    )
    s = scene(client, resources=["https://comptexpert.example/api", *outside])
    response = exchange(client, s.rp, s.subject_token, resource="https://comptexpert.example/api")
    assert response.status_code == 200, response.get_json()
    aud = segments(response.get_json()["access_token"])[1]["aud"]
    assert aud == [s.rp.client_id, "https://comptexpert.example/api"]
    for resource in outside:
        body = refused(exchange(client, s.rp, s.subject_token, resource=resource), "invalid_target")
        assert "delegation" in body["error_description"], body
    for resource in ("not a url", "https://comptexpert.example/api#frag"):
        refused(exchange(client, s.rp, s.subject_token, resource=resource), "invalid_target")


def test_resource_must_also_be_registered_for_the_exchanging_client(app, client):
    """ADR 0028: a resource on a covered service is still one the client registered (exactly:
    another path, a trailing slash, are other resources)."""
    s = scene(client, resources=["https://comptexpert.example/api"])
    for resource in (
        "https://comptexpert.example/other",
        "https://comptexpert.example/api/",
        "https://comptexpert.example/API",
    ):
        body = refused(exchange(client, s.rp, s.subject_token, resource=resource), "invalid_target")
        assert "not registered" in body["error_description"], body


def test_scope_only_narrows(app, client):
    s = scene(client)
    body = exchanged(client, s, scope="openid email")
    assert body["scope"] == "openid email"
    assert validate_access_token(body["access_token"]).scopes == ("openid", "email")
    for wider in ("openid profile email ordre", "offline_access", "delegations"):
        refused(exchange(client, s.rp, s.subject_token, scope=wider), "invalid_scope")


# --- clients and token types ----------------------------------------------------------------


def test_client_without_the_grant_type_is_unauthorized(app, client):
    s = scene(client, grant_types=["authorization_code", "refresh_token"])
    refused(exchange(client, s.rp, s.subject_token), "unauthorized_client")


def test_public_client_is_refused(app, client):
    grantor, marie = expert(), collaborator()
    rp = site(public=True, grant_types=["authorization_code", TOKEN_EXCHANGE])
    delegate(grantor, marie, rp)
    token = tokens_of(client, marie, rp)["access_token"]
    refused(exchange(client, rp, token), "invalid_client", status=401)


def test_token_types_outside_the_allowlists_are_invalid_requests(app, client):
    s = scene(client, subject_types=[])
    body = refused(exchange(client, s.rp, s.subject_token), "invalid_request")
    assert "subject token type" in body["error_description"]

    row = s.rp.row()
    row.exchange_subject_token_types = [ACCESS_TOKEN_TYPE]
    db.session.commit()
    cases: list[dict[str, Any]] = [
        {"subject_token_type": ID_TOKEN_TYPE},
        {"subject_token_type": None},
        {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
        {"actor_token": s.subject_token, "actor_token_type": ACCESS_TOKEN_TYPE},  # no allowlist
        {"actor_token": s.subject_token},
        {"actor_token_type": ACCESS_TOKEN_TYPE},
        {"scope": ["openid", "email"]},  # repeated
        {"subject_token_type": [ACCESS_TOKEN_TYPE, ACCESS_TOKEN_TYPE]},
    ]
    for params in cases:
        refused(exchange(client, s.rp, s.subject_token, **params), "invalid_request")
    refused(_token_request(client, s.rp, grant_type=TOKEN_EXCHANGE), "invalid_request")
    accepted = exchange(client, s.rp, s.subject_token, requested_token_type=ACCESS_TOKEN_TYPE)
    assert accepted.status_code == 200, accepted.get_json()


def test_actor_token_when_allowlisted_must_be_the_subjects_user(app, client):
    s = scene(client, actor_types=[ACCESS_TOKEN_TYPE])
    own = tokens_of(client, s.collaborator, s.rp)["access_token"]
    s.tokens = tokens_of(client, s.collaborator, s.rp)
    response = exchange(
        client, s.rp, s.subject_token, actor_token=own, actor_token_type=ACCESS_TOKEN_TYPE
    )
    assert response.status_code == 200, response.get_json()
    assert segments(response.get_json()["access_token"])[1]["act"] == {
        "sub": s.collaborator.subject
    }

    stranger = tokens_of(client, collaborator("paul.martin"), s.rp)["access_token"]
    for actor_token in (stranger, "garbage", response.get_json()["access_token"]):
        refused(
            exchange(
                client,
                s.rp,
                s.subject_token,
                actor_token=actor_token,
                actor_token_type=ACCESS_TOKEN_TYPE,
            ),
            "invalid_grant",
        )


# --- the subject token and the delegation ---------------------------------------------------


def test_a_subject_token_of_another_client_is_refused(app, client):
    grantor, marie = expert(), collaborator()
    rp = site()
    other = site("Bibliothèque", redirect_uri="https://bibliotheque.example/cb")
    delegate(grantor, marie, rp, other)
    token_at_other = tokens_of(client, marie, other)["access_token"]
    body = refused(exchange(client, rp, token_at_other), "invalid_grant")
    assert "another client" in body["error_description"]


def test_invalid_subject_tokens_are_refused(app, client):
    s = scene(client, grant_types=["authorization_code", "client_credentials", TOKEN_EXCHANGE])
    expired = forge({"exp": int(time.time()) - 10}, base=s.subject_token)
    own = _token_request(client, s.rp, grant_type="client_credentials")
    assert own.status_code == 200, own.get_json()
    for token in ("garbage", expired, s.tokens["id_token"], own.get_json()["access_token"]):
        refused(exchange(client, s.rp, token), "invalid_grant")


def test_a_collaborator_without_a_delegation_for_this_site_is_refused(app, client):
    grantor, marie = expert(), collaborator()
    rp = site()
    other = site("Bibliothèque", redirect_uri="https://bibliotheque.example/cb")
    delegate(grantor, marie, other)  # another service only
    token = tokens_of(client, marie, rp)["access_token"]
    refused(exchange(client, rp, token), "invalid_grant")


def test_two_delegations_need_the_delegation_parameter(app, client):
    s = scene(client)
    second_grantor = expert("claire.chef", family_name="Chef", given_names="Claire")
    second = delegate(second_grantor, s.collaborator, s.rp)

    body = refused(exchange(client, s.rp, s.subject_token), "invalid_request")
    assert "'delegation'" in body["error_description"]

    response = exchange(client, s.rp, s.subject_token, delegation=second.public_id)
    assert response.status_code == 200, response.get_json()
    _, claims = segments(response.get_json()["access_token"])
    assert claims["sub"] == second_grantor.subject and claims["dlg"] == second.public_id

    refused(exchange(client, s.rp, s.subject_token, delegation="unknown"), "invalid_grant")
    # a delegation held by someone else is no choice of the collaborator's
    paul = collaborator("paul.martin")
    foreign = delegate(second_grantor, paul, s.rp)
    refused(exchange(client, s.rp, s.subject_token, delegation=foreign.public_id), "invalid_grant")


# --- registration: discovery, `idp clients add/update` --------------------------------------


def _cli(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def test_discovery_lists_the_token_exchange_grant(app, client):
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert TOKEN_EXCHANGE in metadata["grant_types_supported"]


def test_cli_add_registers_the_grant_type_and_the_allowlists(app):
    result = _cli(
        app,
        "clients",
        "add",
        "--name",
        "Comptexpert",
        "--redirect-uri",
        "https://comptexpert.example/callback",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "token-exchange",
        "--exchange-subject-token-types",
        "access_token",
        "--exchange-actor-token-types",
        ACCESS_TOKEN_TYPE,
        "--json",
    )
    assert result.exit_code == 0, result.output
    client_id = json.loads(result.output.splitlines()[0])["client_id"]
    row = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    assert row is not None
    assert row.grant_types == ["authorization_code", TOKEN_EXCHANGE]
    assert row.exchange_subject_token_types == [ACCESS_TOKEN_TYPE]
    assert row.exchange_actor_token_types == [ACCESS_TOKEN_TYPE]
    shown = json.loads(_cli(app, "clients", "show", client_id).output)
    assert shown["exchange_subject_token_types"] == [ACCESS_TOKEN_TYPE]
    assert shown["exchange_actor_token_types"] == [ACCESS_TOKEN_TYPE]


def test_cli_add_refuses_unknown_token_types_and_a_public_exchanger(app):
    base = ("clients", "add", "--name", "Site", "--redirect-uri", "https://rp.example/cb")
    result = _cli(app, *base, "--exchange-actor-token-types", "id_token")
    assert result.exit_code == 2, result.output
    assert "--exchange-actor-token-types" in result.output and "id_token" in result.output
    result = _cli(app, *base, "--public", "--grant-type", "token-exchange")
    assert result.exit_code == 2, result.output
    assert "--grant-type" in result.output
    assert db.session.scalar(select(OAuthClient)) is None


def test_cli_update_sets_and_empties_the_allowlists(app):
    rp = site(subject_types=[])
    result = _cli(
        app, "clients", "update", rp.client_id, "--exchange-subject-token-types", "access_token"
    )
    assert result.exit_code == 0, result.output
    assert f"exchange_subject_token_types {ACCESS_TOKEN_TYPE}" in result.output
    db.session.expire_all()
    assert rp.row().exchange_subject_token_types == [ACCESS_TOKEN_TYPE]
    again = _cli(
        app, "clients", "update", rp.client_id, "--exchange-subject-token-types", ACCESS_TOKEN_TYPE
    )
    assert "(inchangé)" in again.output
    emptied = _cli(app, "clients", "update", rp.client_id, "--exchange-subject-token-types", "")
    assert emptied.exit_code == 0, emptied.output
    db.session.expire_all()
    assert rp.row().exchange_subject_token_types == []
    updates = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditEventType.OIDC_CLIENT_UPDATED.value)
    ).all()
    assert len(updates) == 2
    bad = _cli(app, "clients", "update", rp.client_id, "--exchange-actor-token-types", "saml2")
    assert bad.exit_code == 2 and "--exchange-actor-token-types" in bad.output


def test_a_client_registered_with_the_grant_type_alone_exchanges_access_tokens(
    client: FlaskClient,
) -> None:
    """The admin form has the grant type's checkbox, not the allowlists: the grant type alone
    means the one subject type there is (access tokens); actor tokens stay refused."""
    from idp.audit.services import SYSTEM
    from idp.oidc.clients import NewClient, create_client

    created = create_client(
        db.session,
        NewClient(
            name="Bibliothèque",
            redirect_uris=["https://bibliotheque.example/callback"],
            grant_types=["authorization_code", TOKEN_EXCHANGE],
        ),
        SYSTEM,
    )
    db.session.commit()
    row = db.session.scalar(select(OAuthClient).where(OAuthClient.name == "Bibliothèque"))
    assert row is not None and created is not None
    assert row.exchange_subject_token_types == [ACCESS_TOKEN_TYPE]
    assert row.exchange_actor_token_types == []
