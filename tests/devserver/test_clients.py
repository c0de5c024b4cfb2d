"""`make run` registers its four relying parties and the demo native app's public client in the
IdP through the IdP's own CLI (`idp clients add ... --json`), once: restarts reuse them, a
changed port or a new database registers again."""

from __future__ import annotations

import json
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from devserver.__main__ import Ports, Supervisor, child_env, native_app, site_env, sites
from devserver.clients import Credentials, RegistrationError, Site, ensure_registered


class InProcessIdpCli:
    """The IdP's CLI on the test's own database, in this process; records every call."""

    def __init__(self, app: Flask) -> None:
        self.runner = app.test_cli_runner()
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> tuple[int, str, str]:
        self.calls.append(list(args))
        result = self.runner.invoke(args=list(args))
        return result.exit_code, result.stdout, result.stderr

    def listed(self) -> dict[str, dict[str, Any]]:
        status, out, _ = self(["clients", "list", "--json"])
        assert status == 0
        return {entry["client_id"]: entry for entry in json.loads(out)}


@pytest.fixture
def idp_cli(committed_app: Flask) -> InProcessIdpCli:
    return InProcessIdpCli(committed_app)


PORTS = Ports(idp=5000, portal=5001, mailbox=8025, smtp=1025, library=5002, journal=5003)


def test_clients_make_run_registers_four_sites_once(
    idp_cli: InProcessIdpCli, tmp_path: Path
) -> None:
    path = tmp_path / "instance" / "oidc-clients.json"
    lines: list[str] = []
    first = ensure_registered(sites(PORTS), idp_cli, path, lines.append)
    assert set(first) == {"portal", "bibliotheque", "revue", "experts"}
    registered = idp_cli.listed()
    assert {c.client_id for c in first.values()} <= set(registered)
    library = registered[first["bibliotheque"].client_id]
    assert library["auth_method"] == "client_secret_post" and library["first_party"] is True
    journal = registered[first["revue"].client_id]
    assert journal["auth_method"] == "client_secret_basic" and journal["first_party"] is False
    assert journal["redirect_uris"] == ["http://127.0.0.1:5003/callback"]
    assert journal["post_logout_redirect_uris"] == ["http://127.0.0.1:5003/logged-out"]
    assert journal["backchannel_logout_uri"] == "http://127.0.0.1:5003/backchannel-logout"
    assert "ordre" in journal["scopes"]
    assert (journal["accepts_delegations"], journal["admits_delegates"]) == (False, False)
    experts = registered[first["experts"].client_id]  # ADR 0025
    assert experts["allowed_profiles"] == ["expert-comptable"]
    assert (experts["accepts_delegations"], experts["admits_delegates"]) == (True, True)
    assert "delegations" in experts["scopes"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # secrets inside
    assert all("enregistré / registered" in line for line in lines)
    assert not any(c.client_secret in line for c in first.values() for line in lines)

    idp_cli.calls.clear()
    again = ensure_registered(sites(PORTS), idp_cli, path, lines.append)
    assert again == first
    assert idp_cli.calls == [["clients", "list", "--json"]]  # nothing added


def test_clients_changed_port_replaces_only_that_site(
    idp_cli: InProcessIdpCli, tmp_path: Path
) -> None:
    path = tmp_path / "oidc-clients.json"
    first = ensure_registered(sites(PORTS), idp_cli, path, print)
    moved = Ports(idp=5000, portal=5001, mailbox=8025, smtp=1025, library=6002, journal=5003)
    second = ensure_registered(sites(moved), idp_cli, path, print)
    assert second["portal"] == first["portal"] and second["revue"] == first["revue"]
    assert second["bibliotheque"].client_id != first["bibliotheque"].client_id
    registered = idp_cli.listed()
    assert first["bibliotheque"].client_id not in registered  # the old one is removed
    assert registered[second["bibliotheque"].client_id]["redirect_uris"] == [
        "http://127.0.0.1:6002/callback"
    ]


def test_clients_unknown_to_a_new_database_are_registered_again(
    idp_cli: InProcessIdpCli, tmp_path: Path
) -> None:
    path = tmp_path / "oidc-clients.json"
    path.write_text(
        json.dumps(
            {
                site.key: {
                    "client_id": "gone",
                    "client_secret": "x",
                    "registration": site.registration(),
                }
                for site in sites(PORTS)
            }
        )
    )
    fresh = ensure_registered(sites(PORTS), idp_cli, path, print)
    assert all(c.client_id != "gone" for c in fresh.values())
    assert json.loads(path.read_text())["portal"]["client_id"] == fresh["portal"].client_id


def test_clients_refusal_of_the_idp_stops_make_run(
    idp_cli: InProcessIdpCli, tmp_path: Path
) -> None:
    bad = Site("portal", "Portail", "http://127.0.0.1:5001#frag", "client_secret_basic", True)
    with pytest.raises(RegistrationError, match="clients add"):
        ensure_registered([bad], idp_cli, tmp_path / "c.json", print)


def test_clients_each_site_gets_its_own_settings() -> None:
    relying_parties = sites(PORTS)
    credentials = {
        site.key: Credentials(site.key, "secret", site.auth_method) for site in relying_parties
    }
    portal = site_env(relying_parties[0], credentials["portal"], relying_parties)
    assert portal["PORTAL_CLIENT_ID"] == "portal" and portal["PORTAL_BASE_URL"].endswith(":5001")
    library = site_env(relying_parties[1], credentials["bibliotheque"], relying_parties)
    assert library["PARTNER_SITE"] == "bibliotheque"
    assert library["PARTNER_CLIENT_AUTH_METHOD"] == "client_secret_post"
    assert [name for name, _ in json.loads(library["PARTNER_LINKS"])] == [
        "Portail client",
        "Revue Française de Comptabilité",
        "Espace des experts-comptables",
    ]
    experts = site_env(relying_parties[3], credentials["experts"], relying_parties)
    assert experts["PARTNER_SITE"] == "experts"
    assert experts["PARTNER_SCOPES"].split()[-1] == "delegations"


def test_clients_supervisor_runs_the_idp_cli_in_a_process(
    committed_app: Flask, own_database_url: str
) -> None:
    env = child_env(PORTS, {"DATABASE_URL": own_database_url, "SESAME_ENV": "testing"})
    status, out, _ = Supervisor(env).idp(["clients", "list", "--json"])
    assert status == 0 and json.loads(out) == []


def test_clients_make_run_registers_the_native_app_as_a_public_client(
    idp_cli: InProcessIdpCli, tmp_path: Path
) -> None:
    """ADR 0026: « Sésame Mobile (démo) », no secret (PKCE), a loopback redirect whose port
    the IdP lets vary (RFC 8252), the portal API's scopes and the API as its one resource
    (RFC 8707, ADR 0028), no logout addresses."""
    path = tmp_path / "oidc-clients.json"
    lines: list[str] = []
    first = ensure_registered([*sites(PORTS), native_app(PORTS)], idp_cli, path, lines.append)
    mobile = first["mobile"]
    assert mobile.client_secret is None and mobile.auth_method == "none"
    registered = idp_cli.listed()[mobile.client_id]
    assert registered["name"] == "Sésame Mobile (démo)"
    assert registered["public"] is True and registered["first_party"] is False
    assert registered["redirect_uris"] == ["http://127.0.0.1/callback"]
    assert registered["post_logout_redirect_uris"] == []
    assert registered["backchannel_logout_uri"] is None
    assert registered["grant_types"] == ["authorization_code", "refresh_token"]
    assert registered["scopes"] == [
        "openid",
        "profile",
        "email",
        "offline_access",
        "portal.deposits",
        "portal.accounting",
        "portal.archives",
        "portal.accesses",
    ]
    assert registered["resources"] == ["http://127.0.0.1:5001/api/v1"]
    assert json.loads(path.read_text())["mobile"]["client_secret"] is None

    idp_cli.calls.clear()
    again = ensure_registered([*sites(PORTS), native_app(PORTS)], idp_cli, path, print)
    assert again == first  # reused without a secret, nothing added
    assert idp_cli.calls == [["clients", "list", "--json"]]


def test_clients_native_app_registered_before_resources_is_registered_again(
    idp_cli: InProcessIdpCli, tmp_path: Path
) -> None:
    """A native app registered without the API as its resource (before ADR 0028) could no
    longer obtain the API's tokens: `make run` registers it again, with it; so does a portal
    on another port (another API address)."""
    path = tmp_path / "oidc-clients.json"
    first = ensure_registered([native_app(PORTS)], idp_cli, path, print)["mobile"]
    saved = json.loads(path.read_text())
    del saved["mobile"]["registration"]["resources"]  # as an older `make run` saved it
    path.write_text(json.dumps(saved))
    second = ensure_registered([native_app(PORTS)], idp_cli, path, print)["mobile"]
    assert second.client_id != first.client_id
    moved = Ports(idp=5000, portal=6001, mailbox=8025, smtp=1025, library=5002, journal=5003)
    third = ensure_registered([native_app(moved)], idp_cli, path, print)["mobile"]
    assert third.client_id != second.client_id
    registered = idp_cli.listed()
    assert first.client_id not in registered and second.client_id not in registered  # removed
    assert registered[third.client_id]["resources"] == ["http://127.0.0.1:6001/api/v1"]
