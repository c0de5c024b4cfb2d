"""`make run`'s orchestrator: ports from the environment, a taken port named before any start."""

from __future__ import annotations

import socket

import pytest

from devserver.__main__ import (
    Ports,
    StartupError,
    banner,
    check_ports_free,
    child_env,
    ports_from_env,
)
from tests.helpers import free_port


def test_orchestrator_ports_come_from_the_environment() -> None:
    assert ports_from_env({}) == Ports(
        idp=5000, portal=5001, mailbox=8025, smtp=1025, library=5002, journal=5003
    )
    ports = ports_from_env({"IDP_PORT": "6000", "SMTP_PORT": "2525"})
    assert (ports.idp, ports.smtp) == (6000, 2525)
    with pytest.raises(StartupError, match="IDP_PORT"):
        ports_from_env({"IDP_PORT": "web"})
    with pytest.raises(StartupError, match="même port"):
        ports_from_env({"PORTAL_PORT": "5000"})


def test_orchestrator_names_a_taken_port_and_its_variable() -> None:
    free = [free_port() for _ in range(5)]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = Ports(free[0], busy, free[1], free[2], free[3], free[4])
        with pytest.raises(StartupError) as error:
            check_ports_free(ports)
    message = str(error.value)
    assert f"127.0.0.1:{busy} (Portail client)" in message and "PORTAL_PORT" in message
    assert str(free[0]) not in message
    check_ports_free(Ports(*free, free_port()))  # all free: no error


def test_orchestrator_children_share_issuer_and_smtp_and_banner_shows_them() -> None:
    ports = Ports(idp=6000, portal=6001, mailbox=6025, smtp=2525, library=6002, journal=6003)
    env = child_env(ports, {"FLASK_APP": "other", "DATABASE_URL": "sqlite:////tmp/x.sqlite"})
    # a host name, not an IP: passkeys refuse an IP address as relying party id (ADR 0022)
    assert env["IDP_ISSUER"] == env["PORTAL_IDP_ISSUER"] == "http://localhost:6000"
    assert (env["MAIL_SERVER"], env["MAIL_PORT"]) == ("127.0.0.1", "2525")
    assert "FLASK_APP" not in env and env["DATABASE_URL"] == "sqlite:////tmp/x.sqlite"
    text = banner(ports, env)
    assert "http://localhost:6000" in text
    for port in (6001, 6002, 6003, 6025):
        assert f"http://127.0.0.1:{port}" in text
    assert env["PARTNER_IDP_ISSUER"] == env["IDP_ISSUER"]
    assert "demo.collaborateur" in text and "lanterne boussole rivage 27" in text
    assert "client_id (public" not in text  # no native app registered: no lines about it


def test_orchestrator_banner_shows_the_native_app_client_and_the_api() -> None:
    ports = Ports(idp=6000, portal=6001, mailbox=6025, smtp=2525, library=6002, journal=6003)
    env = child_env(ports, {"DATABASE_URL": "sqlite:////tmp/x.sqlite"})
    text = banner(ports, env, "mobile-client-id")
    assert "Sésame Mobile (démo)" in text
    assert "client_id (public, PKCE)  mobile-client-id" in text
    assert "http://127.0.0.1:6001/api/v1" in text  # the API, its tokens' resource
    assert "resource=http://127.0.0.1:6001/api/v1" in text
    assert "http://localhost:6000/authorize" in text
