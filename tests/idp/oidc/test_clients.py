"""idp/oidc/clients.py: client validation, secrets (docs/security.md 28: ≥ 256 bits, digest
stored, shown once, constant-time comparison), removal, the per-process cache, the profile
policy."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.audit.services import CLI
from idp.database import utcnow
from idp.extensions import db
from idp.oidc import clients
from idp.oidc.clients import ClientInvalid, NewClient
from idp.oidc.models import Grant, OAuthClient
from idp.profiles.catalog import Profile
from idp.registry.catalog import RegistryStatus
from idp.registry.models import ProfileClaim
from tests.factories import create_registry_entry, create_user

REDIRECT = "https://rp.example/callback"


def _new(**fields: object) -> NewClient:
    values: dict[str, object] = {"name": "Bibliothèque de l'Ordre", "redirect_uris": [REDIRECT]}
    values.update(fields)
    return NewClient(**values)  # type: ignore[arg-type]


def _create(**fields: object) -> tuple[OAuthClient, str | None]:
    client, secret = clients.create_client(db.session, _new(**fields), CLI)
    db.session.commit()
    return client, secret


def _refusal(**fields: object) -> dict[str, list[str]]:
    before = db.session.scalars(select(OAuthClient.id)).all()
    with pytest.raises(ClientInvalid) as refused:
        clients.create_client(db.session, _new(**fields), CLI)
    db.session.rollback()
    assert db.session.scalars(select(OAuthClient.id)).all() == before  # nothing stored
    return refused.value.errors


def _events(event_type: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)))


# --- secrets (docs/security.md 28) ----------------------------------------------------------


def test_clients_secret_has_256_random_bits_and_only_its_digest_is_stored(app):
    client, secret = _create()
    assert secret is not None
    raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    assert len(raw) >= 32  # 256 bits
    assert client.secret_digest == hashlib.sha256(secret.encode()).hexdigest()
    row = db.session.execute(select(OAuthClient.__table__)).one()
    assert secret not in repr(tuple(row))  # no column holds the secret itself
    created = _events("oidc_client_created")
    assert len(created) == 1 and secret not in repr(created[0].details)
    assert created[0].details["client_id"] == client.client_id
    _other, another = _create(name="Autre site")
    assert another != secret


def test_clients_secret_matches_only_the_right_secret(app):
    client, secret = _create()
    assert secret is not None
    assert clients.secret_matches(client, secret)
    assert not clients.secret_matches(client, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert not clients.secret_matches(client, secret + "x")
    assert not clients.secret_matches(client, "")
    assert not clients.secret_matches(client, None)
    assert not clients.secret_matches(client, client.secret_digest)  # the digest is no secret
    assert not clients.secret_matches(client, "é" * 43)


def test_clients_secret_compared_in_constant_time_on_digests(app, monkeypatch):
    client, secret = _create()
    assert secret is not None
    calls: list[tuple[str, str]] = []
    real = clients.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(clients.hmac, "compare_digest", spy)
    assert clients.secret_matches(client, secret)
    assert not clients.secret_matches(client, "wrong")
    assert len(calls) == 2
    assert all(len(a) == len(b) == 64 for a, b in calls)  # digests, never the raw secret
    assert calls[0][1] == client.secret_digest


def test_clients_public_client_has_no_secret_and_matches_none(app):
    client, secret = _create(public=True)
    assert secret is None and client.secret_digest is None
    assert client.token_endpoint_auth_method == "none" and client.is_public
    assert not clients.secret_matches(client, "anything")
    assert not clients.secret_matches(client, "")
    with pytest.raises(clients.ClientHasNoSecret):
        clients.rotate_secret(db.session, client, CLI)


def test_clients_rotate_secret_shows_a_new_one_once_and_the_old_one_stops(app):
    client, old = _create(auth_method="client_secret_post")
    new = clients.rotate_secret(db.session, client, CLI)
    db.session.commit()
    assert new != old and len(new) >= 43
    assert clients.secret_matches(client, new) and not clients.secret_matches(client, old)
    assert client.secret_rotated_at is not None
    fresh = clients.get_client(client.client_id)
    assert fresh is not None and clients.secret_matches(fresh, new)
    assert not clients.secret_matches(fresh, old)
    assert len(_events("oidc_client_secret_rotated")) == 1


def test_clients_private_key_jwt_needs_jwks_uri_and_gets_no_secret(app):
    errors = _refusal(auth_method="private_key_jwt")
    assert "jwks_uri" in errors["jwks_uri"][0]
    client, secret = _create(auth_method="private_key_jwt", jwks_uri="https://rp.example/jwks")
    assert secret is None and client.secret_digest is None
    assert client.jwks_uri == "https://rp.example/jwks"


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("http://rp.example/callback", "https://"),
        ("https://rp.example/callback#frag", "fragment"),
        ("https://user:pass@rp.example/callback", "identifiant"),
        ("https://user@rp.example/callback", "identifiant"),
        ("/callback", "absolue"),
        ("rp.example/callback", "absolue"),
        ("javascript:alert(1)", "absolue"),
        ("ftp://rp.example/callback", "https://"),
        ("com.example.app:/callback", "absolue"),
        ("https://rp.example/call back", "espaces"),
        ("https://rp.example/call\nback", "espaces"),
        ("https://rp.example:99999/callback", "valide"),
        ("https://rp.example/" + "a" * 600, "500"),
        ("http://127.0.0.2/callback", "https://"),
        ("http://localhost.evil.example/callback", "https://"),
    ],
)
def test_clients_redirect_uri_refused_with_precise_message(app, uri, words):
    errors = _refusal(redirect_uris=[uri])
    assert len(errors["redirect_uris"]) == 1 and words in errors["redirect_uris"][0]


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1:8000/cb", "http://localhost:3000/cb", "http://[::1]:8080/cb"],
)
def test_clients_loopback_http_only_when_insecure_transport_allowed(app, configure, uri):
    client, _secret = _create(redirect_uris=[uri], post_logout_redirect_uris=[uri])
    assert client.redirect_uris == [uri]
    configure(oidc__allow_insecure_transport=False)  # production
    errors = _refusal(redirect_uris=[uri])
    assert "https://" in errors["redirect_uris"][0]


def test_clients_other_uris_follow_the_same_rules(app):
    errors = _refusal(
        post_logout_redirect_uris=["http://rp.example/bye"],
        backchannel_logout_uri="https://rp.example/logout#x",
        auth_method="private_key_jwt",
        jwks_uri="https://u:p@rp.example/jwks",
    )
    assert set(errors) == {"post_logout_redirect_uris", "backchannel_logout_uri", "jwks_uri"}


def test_clients_every_refusal_at_once_in_french(app):
    errors = _refusal(
        name="  ",
        redirect_uris=[],
        public=True,
        auth_method="client_secret_basic",
        id_token_signed_response_alg="HS256",
        grant_types=["implicit", "client_credentials"],
        scopes=["openid", "admin"],
        allowed_profiles=["pirate"],
        jwks_uri="https://rp.example/jwks",
    )
    assert errors["name"] == ["Indiquez le nom du site partenaire."]
    assert "none" in errors["auth_method"][0]
    assert "RS256 ou ES256" in errors["id_token_signed_response_alg"][0]
    assert any("implicit" in m for m in errors["grant_types"])
    assert "« admin »" in errors["scopes"][0]
    assert "« pirate »" in errors["allowed_profiles"][0]
    assert "private_key_jwt" in errors["jwks_uri"][0]


def test_clients_code_flow_needs_a_redirect_uri_and_refresh_needs_the_code_flow(app):
    assert "redirect_uris" in _refusal(redirect_uris=[])
    assert "grant_types" in _refusal(grant_types=["refresh_token", "client_credentials"])
    assert "grant_types" in _refusal(public=True, grant_types=["client_credentials"])
    client, secret = _create(redirect_uris=[], grant_types=["client_credentials"])
    assert secret and client.grant_types == ["client_credentials"]


def test_clients_auth_method_none_makes_a_public_client(app):
    client, secret = _create(auth_method="none")
    assert secret is None and client.is_public


def test_clients_duplicates_and_blanks_dropped(app):
    client, _secret = _create(
        redirect_uris=[REDIRECT, REDIRECT, " "], allowed_profiles=["autre", "autre"]
    )
    assert client.redirect_uris == [REDIRECT]
    assert client.allowed_profiles == ["autre"]


# --- RFC 8707 resources (ADR 0028) ----------------------------------------------------------


def test_clients_resources_registered_as_given_without_duplicates(app):
    api = "https://portail.example/api/v1"
    client, _secret = _create(resources=[api, " ", api, api + "/"])
    assert client.resources == [api, api + "/"]  # a trailing slash is another resource
    plain, _secret = _create(name="Sans ressource")
    assert plain.resources == []


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("api/v1", "absolue"),
        ("/api/v1", "absolue"),
        ("https://portail.example/api#v1", "fragment"),
        ("http://portail.example/api", "https://"),
        ("https://u:p@portail.example/api", "identifiant"),
    ],
)
def test_clients_resources_refused_with_precise_message(app, uri, words):
    errors = _refusal(resources=[uri])
    assert len(errors["resources"]) == 1 and words in errors["resources"][0]


def test_clients_set_resources_replaces_the_list_audited_and_drops_the_cache(app):
    api = "https://portail.example/api/v1"
    client, _secret = _create()
    assert clients.get_client(client.client_id).resources == []  # type: ignore[union-attr]
    assert clients.set_resources(db.session, client, CLI, [api, api]) == [api]
    db.session.commit()
    assert clients.get_client(client.client_id).resources == [api]  # type: ignore[union-attr]
    assert clients.set_resources(db.session, client, CLI, [api]) is None  # unchanged
    [event] = _events("oidc_client_updated")
    assert event.details["changes"] == {"resources": [api]}
    with pytest.raises(ClientInvalid) as refused:
        clients.set_resources(db.session, client, CLI, ["https://portail.example/#x"])
    assert "fragment" in refused.value.errors["resources"][0]
    assert clients.set_resources(db.session, client, CLI, []) == []
    db.session.commit()
    assert clients.get_client(client.client_id).resources == []  # type: ignore[union-attr]


# --- removal and the cache ------------------------------------------------------------------


def test_clients_remove_disables_and_revokes_every_grant(app):
    client, _secret = _create()
    user = create_user("camille.martin")
    earlier = utcnow() - timedelta(hours=1)
    live = Grant(client_id=client.id, user_id=user.id, scope="openid")
    already = Grant(
        client_id=client.id,
        user_id=user.id,
        scope="openid",
        revoked_at=earlier,
        revoke_reason="consent_withdrawn",
    )
    other_client, _s = _create(name="Autre site")
    other = Grant(client_id=other_client.id, user_id=user.id, scope="openid")
    db.session.add_all([live, already, other])
    db.session.commit()
    assert clients.remove_client(db.session, client, CLI) == 1
    db.session.commit()
    db.session.expire_all()
    assert client.disabled_at is not None
    assert live.revoked_at is not None and live.revoke_reason == "client_removed"
    assert already.revoked_at == earlier and already.revoke_reason == "consent_withdrawn"
    assert other.revoked_at is None
    assert clients.get_client(client.client_id) is None
    assert clients.find_client(db.session, client.client_id) is not None  # the row stays
    assert len(_events("oidc_client_removed")) == 1
    with pytest.raises(clients.ClientAlreadyRemoved):
        clients.remove_client(db.session, client, CLI)
    with pytest.raises(clients.ClientNotFound):
        clients.enabled_client(db.session, client.client_id)


def test_clients_get_client_unknown_or_odd_ids_give_none(app):
    assert clients.get_client("unknown") is None
    assert clients.get_client("") is None
    assert clients.get_client(None) is None
    assert clients.get_client("x" * 500) is None


def test_clients_get_client_cached_briefly_and_dropped_on_change_here(app):
    client, _secret = _create()
    cache = clients.client_cache()
    cache.interval = 60.0
    try:
        first = clients.get_client(client.client_id)
        assert first is not None and first.redirect_uris == [REDIRECT]
        second = clients.get_client(client.client_id)
        assert second is not None and second is not first  # a copy per caller
        second.redirect_uris.append("https://evil.example/cb")
        assert clients.get_client(client.client_id).redirect_uris == [REDIRECT]  # type: ignore[union-attr]
        # Another process changes the row: this one sees it after the cache delay only.
        db.session.execute(
            OAuthClient.__table__.update()
            .where(OAuthClient.id == client.id)
            .values(name="Renommé ailleurs")
        )
        db.session.commit()
        assert clients.get_client(client.client_id).name != "Renommé ailleurs"  # type: ignore[union-attr]
        cache.interval = 0.0
        assert clients.get_client(client.client_id).name == "Renommé ailleurs"  # type: ignore[union-attr]
        cache.interval = 60.0
        # A change made in this process is seen at once.
        clients.remove_client(db.session, db.session.get(OAuthClient, client.id), CLI)
        db.session.commit()
        assert clients.get_client(client.client_id) is None
    finally:
        cache.interval = 0.0
        cache.clear()


# --- profile policy -------------------------------------------------------------------------


def test_clients_profile_allowed_everyone_when_no_profile_listed(app):
    client, _secret = _create()
    assert clients.profile_allowed(client, create_user("camille.martin"))


def test_clients_profile_allowed_by_signup_profile_or_live_registry_claim(app):
    client, _secret = _create(allowed_profiles=[Profile.EXPERT_COMPTABLE.value])
    outsider = create_user("camille.martin")  # profile "autre"
    assert not clients.profile_allowed(client, outsider)
    for_autre, _s = _create(name="Pour tous les autres", allowed_profiles=["autre"])
    assert clients.profile_allowed(for_autre, outsider)

    member = create_user("jf.lefevre")
    member.profile = Profile.EXPERT_COMPTABLE.value
    entry = create_registry_entry()
    db.session.add(ProfileClaim(user_id=member.id, registry_entry_id=entry.id))
    db.session.commit()
    assert clients.profile_allowed(client, member)
    # Struck off the registry: the claim is no longer live, the signup profile alone does
    # not count for a registry-matched profile.
    entry.status = RegistryStatus.RADIE.value
    db.session.commit()
    assert not clients.profile_allowed(client, member)


def test_clients_client_ids_never_look_like_a_command_line_option(app):
    """A client_id is typed after `idp clients show|remove|rotate-secret`: a leading `-` made
    the command read it as an option (seen as a random CI failure)."""
    from idp.oidc.models import new_client_id

    ids = [new_client_id() for _ in range(2000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 32 and set(i) <= set("0123456789abcdef") for i in ids)
