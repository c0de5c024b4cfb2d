"""idp/oidc/cli.py: `idp clients add|list|show|remove|rotate-secret` and `idp keys rotate|list`
(exit status 2 and French lines on bad input, never a traceback; a secret printed once)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.database import utcnow
from idp.extensions import db
from idp.oidc import clients, keys
from idp.oidc.models import Grant, KeyState, OAuthClient, SigningKey
from tests.factories import create_user

REDIRECT = "https://rp.example/callback"


def _run(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def _add(app, *extra: str):
    return _run(app, "clients", "add", "--name", "Bibliothèque", "--redirect-uri", REDIRECT, *extra)


def test_cli_clients_add_json_prints_the_secret_once_and_stores_its_digest(app):
    result = _add(
        app,
        "--redirect-uri",
        "https://rp.example/other",
        "--post-logout-uri",
        "https://rp.example/bye",
        "--first-party",
        "--allowed-profiles",
        "expert-comptable, autre",
        "--backchannel-logout-uri",
        "https://rp.example/backchannel",
        "--auth-method",
        "client_secret_post",
        "--id-token-alg",
        "ES256",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert set(printed) == {"client_id", "client_secret"}
    assert len(printed["client_secret"]) >= 43  # 256 bits, base64url
    assert "ne sera plus affiché" in result.stderr
    client = db.session.scalars(select(OAuthClient)).one()
    assert client.client_id == printed["client_id"]
    assert client.secret_digest == hashlib.sha256(printed["client_secret"].encode()).hexdigest()
    assert client.redirect_uris == [REDIRECT, "https://rp.example/other"]
    assert client.post_logout_redirect_uris == ["https://rp.example/bye"]
    assert client.first_party and client.allowed_profiles == ["expert-comptable", "autre"]
    assert client.token_endpoint_auth_method == "client_secret_post"
    assert client.id_token_signed_response_alg == "ES256"
    assert client.backchannel_logout_uri == "https://rp.example/backchannel"
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "oidc_client_created")
    ).one()
    assert event.actor_kind == "cli"
    # Never shown again: `show` prints no secret and no digest.
    shown = _run(app, "clients", "show", client.client_id)
    assert shown.exit_code == 0
    assert printed["client_secret"] not in shown.stdout
    assert client.secret_digest not in shown.stdout


def test_cli_clients_add_public_has_no_secret(app):
    result = _add(app, "--public", "--json")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["client_secret"] is None
    assert db.session.scalars(select(OAuthClient)).one().token_endpoint_auth_method == "none"


def test_cli_clients_add_without_json_prints_tab_separated_lines(app):
    result = _add(app, "--grant-type", "authorization_code", "--scope", "openid")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("client_id\t") and lines[1].startswith("client_secret\t")
    client = db.session.scalars(select(OAuthClient)).one()
    assert client.grant_types == ["authorization_code"] and client.scopes == ["openid"]


def test_cli_clients_add_refuses_bad_input_with_status_2_and_french_lines(app):
    result = _run(
        app,
        "clients",
        "add",
        "--name",
        "Site",
        "--redirect-uri",
        "http://rp.example/cb",
        "--redirect-uri",
        "https://rp.example/cb#x",
        "--auth-method",
        "magic",
        "--id-token-alg",
        "HS256",
        "--allowed-profiles",
        "pirate",
    )
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr + result.stdout
    err = result.stderr
    assert err.startswith("Erreur : ")
    assert "--redirect-uri : « http://rp.example/cb » doit commencer par https://" in err
    assert "fragment" in err
    assert "--auth-method : Méthode d'authentification inconnue : « magic »" in err
    assert "--id-token-alg :" in err and "--allowed-profiles :" in err
    assert db.session.scalar(select(OAuthClient.id)) is None


def test_cli_clients_add_private_key_jwt_without_jwks_uri_refused(app):
    result = _add(app, "--auth-method", "private_key_jwt")
    assert result.exit_code == 2 and "--jwks-uri :" in result.stderr


def test_cli_clients_add_missing_name_is_a_usage_error(app):
    result = _run(app, "clients", "add", "--redirect-uri", REDIRECT)
    assert result.exit_code == 2 and "Traceback" not in result.stderr


def test_cli_clients_add_resource_repeatable_and_shown(app):
    api = "https://portail.example/api/v1"
    result = _add(app, "--resource", api, "--resource", "https://fichiers.example/", "--json")
    assert result.exit_code == 0, result.stderr
    client_id = json.loads(result.stdout)["client_id"]
    client = db.session.scalars(select(OAuthClient)).one()
    assert client.resources == [api, "https://fichiers.example/"]
    shown = json.loads(_run(app, "clients", "show", client_id).stdout)
    assert shown["resources"] == [api, "https://fichiers.example/"]
    other = json.loads(_add(app, "--json").stdout)["client_id"]
    assert json.loads(_run(app, "clients", "show", other).stdout)["resources"] == []


def test_cli_clients_add_malformed_resource_refused_with_status_2_in_french(app):
    result = _add(app, "--resource", "api/v1", "--resource", "https://portail.example/api#v1")
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("Erreur : ")
    assert "--resource : « api/v1 » n'est pas une adresse absolue" in result.stderr
    assert "--resource : « https://portail.example/api#v1 » ne doit pas contenir de fragment" in (
        result.stderr
    )
    assert db.session.scalar(select(OAuthClient.id)) is None


def test_cli_clients_update_sets_and_empties_the_resources(app):
    api = "https://portail.example/api/v1"
    client_id = json.loads(_add(app, "--json").stdout)["client_id"]
    result = _run(app, "clients", "update", client_id, "--resource", api)
    assert result.exit_code == 0, result.stderr
    assert f"{client_id}\tresources {api}" in result.stdout
    db.session.expire_all()
    assert clients.get_client(client_id).resources == [api]  # type: ignore[union-attr]
    again = _run(app, "clients", "update", client_id, "--resource", api)
    assert "(inchangé)" in again.stdout
    bad = _run(app, "clients", "update", client_id, "--resource", "portail.example/api")
    assert bad.exit_code == 2 and "--resource : « portail.example/api »" in bad.stderr
    both = _run(app, "clients", "update", client_id, "--resource", api, "--no-resources")
    assert both.exit_code == 2 and "--no-resources" in both.stderr
    emptied = _run(app, "clients", "update", client_id, "--no-resources")
    assert emptied.exit_code == 0, emptied.stderr
    assert f"{client_id}\tresources -" in emptied.stdout
    db.session.expire_all()
    assert clients.get_client(client_id).resources == []  # type: ignore[union-attr]
    updates = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "oidc_client_updated")
    ).all()
    assert [event.details["changes"] for event in updates] == [
        {"resources": [api]},
        {"resources": []},
    ]


def test_cli_clients_list_and_show(app):
    first = json.loads(_add(app, "--json").stdout)["client_id"]
    second = json.loads(
        _run(
            app, "clients", "add", "--name", "Annuaire", "--redirect-uri", REDIRECT, "--json"
        ).stdout
    )["client_id"]
    listed = _run(app, "clients", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].startswith(f"{second}\tAnnuaire\tclient_secret_basic\tthird-party\tactif")
    assert lines[1].startswith(f"{first}\tBibliothèque")
    as_json = json.loads(_run(app, "clients", "list", "--json").stdout)
    assert [c["client_id"] for c in as_json] == [second, first]
    assert all("secret_digest" not in c for c in as_json)
    shown = json.loads(_run(app, "clients", "show", first).stdout)
    assert shown["redirect_uris"] == [REDIRECT] and shown["removed_at"] is None


def test_cli_clients_unknown_id_status_2(app):
    for command in ("show", "remove", "rotate-secret"):
        result = _run(app, "clients", command, "nope")
        assert result.exit_code == 2, command
        assert "Aucun site partenaire" in result.stderr and "(nope)" in result.stderr


def test_cli_clients_remove_revokes_grants_and_keeps_the_row(app):
    client_id = json.loads(_add(app, "--json").stdout)["client_id"]
    client = clients.find_client(db.session, client_id)
    assert client is not None
    user = create_user("camille.martin")
    db.session.add(Grant(client_id=client.id, user_id=user.id, scope="openid"))
    db.session.commit()
    declined = _run(app, "clients", "remove", client_id, input="n\n")
    assert declined.exit_code == 2 and "Rien n'a été supprimé" in declined.stderr
    assert clients.get_client(client_id) is not None
    result = _run(app, "clients", "remove", client_id, "--yes")
    assert result.exit_code == 0, result.stderr
    assert "1 autorisation(s) révoquée(s)" in result.stdout
    db.session.expire_all()
    assert clients.get_client(client_id) is None
    assert db.session.scalars(select(Grant)).one().revoked_at is not None
    assert "supprimé" in _run(app, "clients", "list", "--all").stdout
    assert _run(app, "clients", "list").stdout == ""
    again = _run(app, "clients", "remove", client_id, "--yes")
    assert again.exit_code == 2


def test_cli_clients_rotate_secret_prints_a_new_secret_once(app):
    added = json.loads(_add(app, "--json").stdout)
    result = _run(app, "clients", "rotate-secret", added["client_id"], "--json")
    assert result.exit_code == 0, result.stderr
    rotated = json.loads(result.stdout)
    assert rotated["client_id"] == added["client_id"]
    assert rotated["client_secret"] != added["client_secret"]
    db.session.expire_all()
    client = clients.find_client(db.session, added["client_id"])
    assert client is not None
    assert clients.secret_matches(client, rotated["client_secret"])
    assert not clients.secret_matches(client, added["client_secret"])
    public = json.loads(_add(app, "--public", "--json").stdout)["client_id"]
    refused = _run(app, "clients", "rotate-secret", public)
    assert refused.exit_code == 2 and "pas de secret" in refused.stderr


def test_cli_keys_list_shows_no_private_part(app):
    result = _run(app, "keys", "list")
    assert result.exit_code == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert sorted((line[0], line[1]) for line in lines) == [
        ("ES256", "current"),
        ("ES256", "next"),
        ("RS256", "current"),
        ("RS256", "next"),
    ]
    assert "PRIVATE" not in result.stdout


def test_cli_keys_rotate_refused_too_early_then_forced(app):
    _run(app, "keys", "list")
    early = _run(app, "keys", "rotate")
    assert early.exit_code == 2 and "--force" in early.stderr
    assert "Traceback" not in early.stderr
    forced = _run(app, "keys", "rotate", "--force")
    assert forced.exit_code == 0, forced.stderr
    current = dict(
        db.session.execute(
            select(SigningKey.alg, SigningKey.kid).where(SigningKey.state == KeyState.CURRENT)
        ).all()
    )
    assert f"RS256\tcurrent\t{current['RS256']}" in forced.stdout
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "oidc_signing_keys_rotated")
    ).one()
    assert event.actor_kind == "cli" and event.details["forced"] is True


def test_cli_keys_rotate_after_the_next_key_was_published_long_enough(app):
    _run(app, "keys", "list")
    old = utcnow() - keys.MIN_NEXT_AGE - timedelta(seconds=1)
    db.session.execute(SigningKey.__table__.update().values(created_at=old))
    db.session.commit()
    result = _run(app, "keys", "rotate")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\tcurrent\t") == 2 and result.stdout.count("\tnext\t") == 2
