"""What the portal's `/login` adds to the authorization request: step-up (`level=advanced` →
`acr_values`), account creation for invitations (`signup=1` → `prompt=create`, `login_hint`),
and the local page to come back to (`next`, never another site)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from relying_party.logins import ACR_ADVANCED
from relying_party.views import NEXT_KEY, safe_next
from tests.client_portal_rp.rp_helpers import IdPKeys, seeded_portal
from tests.client_portal_rp.test_sso_site import query_of, session_of


@pytest.fixture
def portal(tmp_path: Path) -> Flask:
    return seeded_portal(tmp_path, IdPKeys())


def test_sso_login_level_advanced_asks_for_the_mfa_acr(portal: Flask) -> None:
    browser = portal.test_client()
    plain = query_of(browser.get("/login").headers["Location"])
    assert "acr_values" not in plain
    advanced = query_of(browser.get("/login?level=advanced").headers["Location"])
    assert advanced["acr_values"] == ACR_ADVANCED


def test_sso_login_signup_asks_the_idp_to_create_an_account_with_the_email(
    portal: Flask,
) -> None:
    query = query_of(
        portal.test_client()
        .get("/login?signup=1&login_hint=claire@client.test")
        .headers["Location"]
    )
    assert query["prompt"] == "create" and query["login_hint"] == "claire@client.test"
    no_email = query_of(
        portal.test_client().get("/login?login_hint=not-an-email").headers["Location"]
    )
    assert "login_hint" not in no_email and "prompt" not in no_email


def test_sso_login_keeps_a_local_next_only(portal: Flask) -> None:
    browser = portal.test_client()
    browser.get("/login?next=/entreprises/abc/archives?q=bilan")
    assert session_of(browser)[NEXT_KEY] == "/entreprises/abc/archives?q=bilan"
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/x\r\ny"):
        browser.get("/login", query_string={"next": hostile})
        assert NEXT_KEY not in session_of(browser), hostile


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/entreprises/x/", True),
        ("", False),
        ("entreprises", False),
        ("//evil.example", False),
        ("/\\evil.example", False),
        ("/" + "a" * 2100, False),
    ],
)
def test_sso_safe_next(target: str, kept: bool) -> None:
    assert (safe_next(target) == target) is kept
