"""The relying parties of `make run` (the portal and the three sample partner sites, and the
native app's public client), registered in the IdP through its own CLI
(`idp clients add ... --json`), as an operator would.

Idempotent: the client ids and secrets are kept in instance/oidc-clients.json (gitignored, mode
0600) with what was registered; a restart reuses a client that `idp clients list --json` still
lists as registered the same way, and registers again a site whose ports changed (removing the
old client) or that the database no longer knows (a new database).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SCOPES = ("openid", "profile", "email", "ordre")
PUBLIC_AUTH_METHOD = "none"


@dataclass(frozen=True)
class Site:
    """A relying party `make run` starts: what the IdP registers for it. A public client
    (`auth_method` "none": a native app, RFC 8252) has no secret and no site: only its
    redirect URI, `base_url`/callback, and no logout addresses."""

    key: str  # portal, bibliotheque, revue, experts, mobile
    name: str
    base_url: str
    auth_method: str  # client_secret_basic, client_secret_post, or none (public)
    first_party: bool  # no consent screen
    scopes: tuple[str, ...] = SCOPES
    # Who may log in (empty: everyone), and the delegation settings (ADR 0025).
    allowed_profiles: tuple[str, ...] = ()
    accepts_delegations: bool = False
    admits_delegates: bool = False
    grant_types: tuple[str, ...] = ()  # empty: the IdP's default (code and refresh)
    # RFC 8707 resources it may ask for at /token (ADR 0028): the native app, the portal API.
    resources: tuple[str, ...] = ()

    @property
    def public(self) -> bool:
        return self.auth_method == PUBLIC_AUTH_METHOD

    @property
    def port(self) -> int:
        return urlsplit(self.base_url).port or 80

    def registration(self) -> dict[str, Any]:
        if self.public:
            return {
                "name": self.name,
                "redirect_uri": f"{self.base_url}/callback",
                "auth_method": self.auth_method,
                "first_party": self.first_party,
                "scopes": list(self.scopes),
                "grant_types": list(self.grant_types),
                # An app registered before it had its resource is registered again.
                **({"resources": list(self.resources)} if self.resources else {}),
            }
        return {
            "name": self.name,
            "redirect_uri": f"{self.base_url}/callback",
            "post_logout_uri": f"{self.base_url}/logged-out",
            "backchannel_logout_uri": f"{self.base_url}/backchannel-logout",
            "auth_method": self.auth_method,
            "first_party": self.first_party,
            "scopes": list(self.scopes),
            # Only when set, so that a site registered before these settings is reused.
            **({"allowed_profiles": list(self.allowed_profiles)} if self.allowed_profiles else {}),
            **({"accepts_delegations": True} if self.accepts_delegations else {}),
            **({"admits_delegates": True} if self.admits_delegates else {}),
            **({"resources": list(self.resources)} if self.resources else {}),
        }

    def add_arguments(self) -> list[str]:
        """`idp clients add ...` for this site (after `flask --app idp:create_app`)."""
        args = [
            "clients", "add",
            "--name", self.name,
            "--redirect-uri", f"{self.base_url}/callback",
            "--auth-method", self.auth_method,
            "--json",
        ]  # fmt: skip
        if not self.public:  # a native app has no page to come back to, no back channel
            args += [
                "--post-logout-uri", f"{self.base_url}/logged-out",
                "--backchannel-logout-uri", f"{self.base_url}/backchannel-logout",
            ]  # fmt: skip
        for grant_type in self.grant_types:
            args += ["--grant-type", grant_type]
        for scope in self.scopes:
            args += ["--scope", scope]
        for resource in self.resources:
            args += ["--resource", resource]
        if self.first_party:
            args.append("--first-party")
        if self.allowed_profiles:
            args += ["--allowed-profiles", ",".join(self.allowed_profiles)]
        if self.accepts_delegations:
            args.append("--accepts-delegations")
        if self.admits_delegates:
            args.append("--admits-delegates")
        return args


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str | None  # None: a public client
    auth_method: str


class RegistrationError(RuntimeError):
    """The IdP's CLI refused or failed; the message carries its output."""


# Runs `flask --app idp:create_app <args>`: returns (exit status, stdout, stderr).
IdpCommand = Callable[[Sequence[str]], tuple[int, str, str]]


def _load(path: Path) -> dict[str, Any]:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _save(path: Path, saved: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(saved, file, indent=2, ensure_ascii=False)
    temporary.replace(path)


def _run(idp: IdpCommand, args: Sequence[str]) -> str:
    status, stdout, stderr = idp(args)
    if status != 0:
        raise RegistrationError(f"idp {' '.join(args[:2])} : {(stderr or stdout).strip()}")
    return stdout


def registered_client_ids(idp: IdpCommand) -> set[str]:
    """The client ids the IdP lists as registered (removed ones excluded)."""
    listed = json.loads(_run(idp, ["clients", "list", "--json"]))
    return {entry["client_id"] for entry in listed if not entry.get("removed_at")}


def ensure_registered(
    sites: Sequence[Site],
    idp: IdpCommand,
    path: Path,
    out: Callable[[str], None] = print,
) -> dict[str, Credentials]:
    """Each site's credentials: reused when still registered as wanted, else registered."""
    saved = _load(path)
    known = registered_client_ids(idp)
    result: dict[str, Credentials] = {}
    for site in sites:
        entry = saved.get(site.key) or {}
        client_id = entry.get("client_id")
        if (
            client_id in known
            and entry.get("registration") == site.registration()
            and (entry.get("client_secret") or site.public)
        ):
            out(f"[clients] {site.name} : client {client_id} (déjà enregistré / reused)")
        else:
            if client_id in known:  # registered otherwise (ports changed): replace it
                _run(idp, ["clients", "remove", client_id, "--yes"])
            answer = json.loads(_run(idp, site.add_arguments()).strip().splitlines()[-1])
            entry = {
                "client_id": answer["client_id"],
                "client_secret": answer["client_secret"],
                "registration": site.registration(),
            }
            saved[site.key] = entry
            _save(path, saved)
            out(f"[clients] {site.name} : client {entry['client_id']} (enregistré / registered)")
        result[site.key] = Credentials(
            entry["client_id"], entry.get("client_secret"), site.auth_method
        )
    return result
