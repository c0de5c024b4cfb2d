"""`python -m devserver` (what `make run` starts): the whole product on one laptop.

Order matters: the database is migrated, the demo accounts loaded and the four relying parties
(the portal, three sample partner sites) and the demo native app's public client registered in
the IdP through its CLI before anything serves; the mailbox listens before the outbox worker
starts, so the demo activation email is delivered on the first poll. Every child runs in its
own process group, so Ctrl-C reaches this process only and each child is then stopped in turn
(SIGTERM, then SIGKILL after a grace period): the outbox worker finishes the message in flight
instead of dying mid-send.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from devserver import demo
from devserver.clients import (
    PUBLIC_AUTH_METHOD,
    SCOPES,
    Credentials,
    RegistrationError,
    Site,
    ensure_registered,
)
from samples.partner_site import SITES as PARTNER_SITES

HOST = "127.0.0.1"
# The IdP's public name: passkeys (WebAuthn) refuse an IP address as relying party id, and
# browsers treat http://localhost as a secure context (ADR 0022). It listens on HOST.
IDP_HOST = "localhost"
ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_GRACE_SECONDS = 8.0


class StartupError(RuntimeError):
    """The development server cannot start; the message says why, in French and English."""


@dataclass(frozen=True)
class Ports:
    idp: int
    portal: int
    mailbox: int
    smtp: int
    library: int  # the sample partner sites
    journal: int
    experts: int = PARTNER_SITES["experts"].port  # admits experts-comptables and delegates

    def named(self) -> list[tuple[str, str, int]]:
        """(role, environment variable, port) for the messages about busy ports."""
        return [
            ("Sésame (IdP)", "IDP_PORT", self.idp),
            ("Portail client", "PORTAL_PORT", self.portal),
            ("boîte mail / mailbox (HTTP)", "MAILBOX_PORT", self.mailbox),
            ("SMTP", "SMTP_PORT", self.smtp),
            (PARTNER_SITES["bibliotheque"].name, "LIBRARY_PORT", self.library),
            (PARTNER_SITES["revue"].name, "JOURNAL_PORT", self.journal),
            (PARTNER_SITES["experts"].name, "EXPERTS_PORT", self.experts),
        ]


def ports_from_env(env: dict[str, str]) -> Ports:
    def port(name: str, default: int) -> int:
        raw = env.get(name) or str(default)
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise StartupError(f"{name}={raw!r} : un numéro de port est attendu / a port number")
        return int(raw)

    ports = Ports(
        idp=port("IDP_PORT", 5000),
        portal=port("PORTAL_PORT", 5001),
        mailbox=port("MAILBOX_PORT", 8025),
        smtp=port("SMTP_PORT", 1025),
        library=port("LIBRARY_PORT", PARTNER_SITES["bibliotheque"].port),
        journal=port("JOURNAL_PORT", PARTNER_SITES["revue"].port),
        experts=port("EXPERTS_PORT", PARTNER_SITES["experts"].port),
    )
    numbers = [p for _, _, p in ports.named()]
    if len(set(numbers)) != len(numbers):
        raise StartupError(
            "Deux services sur le même port / two services on one port: " + str(ports)
        )
    return ports


def check_ports_free(ports: Ports) -> None:
    """Fail before starting anything, naming the port and how to choose another one."""
    busy = []
    for role, variable, number in ports.named():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, number))
            except OSError as exc:
                reason = "déjà utilisé / already in use" if exc.errno == errno.EADDRINUSE else exc
                busy.append(f"  {HOST}:{number} ({role}) : {reason} -> {variable}=... make run")
    if busy:
        raise StartupError(
            "Port(s) occupé(s) / port(s) taken:\n" + "\n".join(busy) + "\n"
            "Arrêtez l'autre programme ou choisissez un autre port. "
            "Stop the other program or choose another port."
        )


def child_env(ports: Ports, base: dict[str, str]) -> dict[str, str]:
    """The environment of every child: one issuer, one database, the local SMTP server."""
    env = dict(base)
    env.setdefault("SESAME_ENV", "development")
    env.setdefault("DATABASE_URL", "sqlite:///" + str(ROOT / "instance" / "idp.sqlite"))
    env.setdefault("PORTAL_DATABASE_URL", "sqlite:///" + str(ROOT / "instance" / "portal.sqlite"))
    env.update(
        {
            "IDP_ISSUER": f"http://{IDP_HOST}:{ports.idp}",
            "MAIL_SERVER": HOST,
            "MAIL_PORT": str(ports.smtp),
            "PORTAL_IDP_ISSUER": f"http://{IDP_HOST}:{ports.idp}",
            "PORTAL_BASE_URL": f"http://{HOST}:{ports.portal}",
            "PARTNER_IDP_ISSUER": f"http://{IDP_HOST}:{ports.idp}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("FLASK_APP", None)  # every command names its app
    return env


def flask_command(app: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", app, *args]


IDP_APP = "idp:create_app"
PORTAL_APP = "client_portal_rp:create_app"
PARTNER_APP = "samples.partner_site:create_app"
CLIENTS_FILE = ROOT / "instance" / "oidc-clients.json"


def sites(ports: Ports) -> list[Site]:
    """The relying parties `make run` registers and starts: the portal and the Order's library
    (first-party: no consent screen), the journal (third-party: Sésame asks for consent), and
    the experts-comptables' area (third-party, experts-comptables and their delegates only,
    ADR 0025). The library authenticates with client_secret_post, the others with
    client_secret_basic."""
    return [
        Site(
            "portal", "Portail client", f"http://{HOST}:{ports.portal}", "client_secret_basic", True
        ),
        Site(
            "bibliotheque",
            PARTNER_SITES["bibliotheque"].name,
            f"http://{HOST}:{ports.library}",
            "client_secret_post",
            True,
        ),
        Site(
            "revue",
            PARTNER_SITES["revue"].name,
            f"http://{HOST}:{ports.journal}",
            "client_secret_basic",
            False,
        ),
        Site(  # ADR 0025: experts-comptables only, and their delegates
            "experts",
            PARTNER_SITES["experts"].name,
            f"http://{HOST}:{ports.experts}",
            "client_secret_basic",
            False,
            scopes=(*SCOPES, "delegations"),
            allowed_profiles=("expert-comptable",),
            accepts_delegations=True,
            admits_delegates=True,
        ),
    ]


NATIVE_APP_SCOPES = (
    "openid",
    "profile",
    "email",
    "offline_access",
    "portal.deposits",
    "portal.accounting",
    "portal.archives",
    "portal.accesses",
)


def native_app(ports: Ports) -> Site:
    """The demo native app (ADR 0026): a public client (no secret, PKCE) whose loopback
    redirect takes any port (RFC 8252), with the portal API's scopes, and the API as the one
    RFC 8707 resource it may ask for (ADR 0028). Third-party: Sésame asks for consent, since
    any program may claim a public client's id (RFC 8252 section 8.6)."""
    return Site(
        "mobile",
        "Sésame Mobile (démo)",
        f"http://{HOST}",
        PUBLIC_AUTH_METHOD,
        False,
        scopes=NATIVE_APP_SCOPES,
        grant_types=("authorization_code", "refresh_token"),
        resources=(api_url(ports),),
    )


def api_url(ports: Ports) -> str:
    """The portal API's base URL, which is also its tokens' audience (the RFC 8707 resource)."""
    return f"http://{HOST}:{ports.portal}/api/v1"


def site_env(site: Site, credentials: Credentials, all_sites: Sequence[Site]) -> dict[str, str]:
    """A relying party's own variables (PORTAL_* or PARTNER_*, docs/configuration.md)."""
    prefix = "PORTAL_" if site.key == "portal" else "PARTNER_"
    env = {
        f"{prefix}BASE_URL": site.base_url,
        f"{prefix}CLIENT_ID": credentials.client_id,
        f"{prefix}CLIENT_SECRET": credentials.client_secret or "",
        f"{prefix}CLIENT_AUTH_METHOD": credentials.auth_method,
    }
    if prefix == "PARTNER_":
        others = [[other.name, other.base_url] for other in all_sites if other.key != site.key]
        env.update(
            PARTNER_SITE=site.key,
            PARTNER_LINKS=json.dumps(others, ensure_ascii=False),
            PARTNER_SCOPES=" ".join(site.scopes),
        )
    return env


def _pump(name: str, stream: IO[str], out: Callable[[str], None]) -> None:
    for line in stream:
        out(f"[{name}] {line.rstrip()}")


@dataclass
class Child:
    name: str
    process: subprocess.Popen[str]
    pump: threading.Thread


@dataclass
class Supervisor:
    """Starts children with prefixed output and stops them all, whatever happens."""

    env: dict[str, str]
    out: Callable[[str], None] = print
    children: list[Child] = field(default_factory=list)

    def run_once(self, name: str, args: Sequence[str]) -> None:
        """A set-up step (migration, demo data): its output is shown, its failure is fatal."""
        completed = subprocess.run(
            args, env=self.env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        for line in (completed.stdout + completed.stderr).splitlines():
            self.out(f"[{name}] {line}")
        if completed.returncode != 0:
            raise StartupError(f"« {name} » a échoué / failed (code {completed.returncode})")

    def start(
        self, name: str, args: Sequence[str], extra_env: dict[str, str] | None = None
    ) -> Child:
        process = subprocess.Popen(
            args,
            env={**self.env, **(extra_env or {})},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # Ctrl-C reaches us only; we stop each child in turn
        )
        assert process.stdout is not None
        pump = threading.Thread(target=_pump, args=(name, process.stdout, self.out), daemon=True)
        pump.start()
        child = Child(name, process, pump)
        self.children.append(child)
        return child

    def idp(self, args: Sequence[str]) -> tuple[int, str, str]:
        """`flask --app idp:create_app <args>`, its output captured (it may hold secrets)."""
        completed = subprocess.run(
            flask_command(IDP_APP, *args),
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        return completed.returncode, completed.stdout, completed.stderr

    def exited(self) -> Child | None:
        return next((c for c in self.children if c.process.poll() is not None), None)

    def stop_all(self) -> None:
        for child in reversed(self.children):
            _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.out(f"[devserver] {child.name} ne s'arrête pas : SIGKILL")
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait()
            child.pump.join(timeout=2)


def _signal_group(process: subprocess.Popen[str], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)  # the child and its own children (reloader)


def wait_until_ready(
    supervisor: Supervisor, checks: Sequence[tuple[str, Callable[[], bool]]], stop: threading.Event
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    pending = list(checks)
    while pending:
        if stop.is_set():
            raise KeyboardInterrupt
        dead = supervisor.exited()
        if dead is not None:
            raise StartupError(
                f"« {dead.name} » s'est arrêté au démarrage / exited on start-up "
                f"(code {dead.process.returncode}); voir ci-dessus / see above."
            )
        pending = [(name, check) for name, check in pending if not check()]
        if pending and time.monotonic() > deadline:
            names = ", ".join(name for name, _ in pending)
            raise StartupError(
                f"Pas prêt après / not ready after {STARTUP_TIMEOUT_SECONDS:g} s: {names}"
            )
        if pending:
            stop.wait(0.2)


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
                return bool(response.status < 500)
        except (urllib.error.URLError, OSError):
            return False

    return check


def tcp_open(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return True
        except OSError:
            return False

    return check


def banner(ports: Ports, env: dict[str, str], native_client_id: str | None = None) -> str:
    account = demo.active_demo_account()
    pending = demo.pending_demo_account()
    database = env["DATABASE_URL"].removeprefix("sqlite:///")
    lines = [
        "",
        "=" * 72,
        "  Sésame — serveur de développement / development server",
        "=" * 72,
        f"  Sésame (IdP)                  http://{IDP_HOST}:{ports.idp}",
        f"  Portail client / portal       http://{HOST}:{ports.portal}",
        f"  Bibliothèque de l'Ordre       http://{HOST}:{ports.library}   (site partenaire)",
        f"  Revue Française de Compta.    http://{HOST}:{ports.journal}   (site partenaire)",
        f"  Espace des experts-comptables http://{HOST}:{ports.experts}"
        "   (experts-comptables et délégataires)",
        f"  Boîte mail locale / mailbox   http://{HOST}:{ports.mailbox}"
        f"   (SMTP {HOST}:{ports.smtp})",
        f"  Base de données / database    {database}",
        "",
        "  Compte de démonstration / demo account (profil « Autre », actif / active):",
        f"    identifiant / username   {account.username}",
        f"    mot de passe / password  {account.password}",
    ]
    if pending is not None:
        lines += [
            f"  Compte en attente / pending account: {pending.username}",
            "    son email d'activation est dans la boîte mail / its activation email is in"
            " the mailbox",
        ]
    lines += [
        "",
        "  Inscription par profil / signup by profile (registre de démonstration IDF):",
        *(
            f"    {profile} : « {typed} », né(e) le {born}  →  {outcome}"
            for profile, typed, born, outcome in demo.signup_hints()
        ),
        f"  Conseil régional / council imports: {demo.council_demo_account()}"
        " (même mot de passe / same password)",
        "",
        "  Une connexion pour trois sites / single sign-on: connectez-vous sur l'un, ouvrez",
        "  les deux autres (pas de mot de passe) ; déconnectez-vous de l'un : les trois le sont.",
        "  Log in on one site, open the others (no password); log out of one: all three are.",
        "",
        "  Portail client (même mot de passe / same password):",
        "    demo.collaborateur  administratrice de la Boulangerie Martin / company admin",
        "    demo.salarie        utilisateur, dépôts seulement / deposits only",
        "    demo.garage         administratrice du Garage Leroy / admin of another company",
        "    demo.expert         cabinet Rousseau Audit : dépôts reçus, archives / firm staff",
        "",
        *native_app_lines(ports, native_client_id),
        "  Sécurité avancée : « Mon compte » → ajoutez une application d'authentification ou",
        "  une clé d'accès ; « Espace sécurisé » sur la Revue demande alors ce second facteur.",
        "  Advanced security: add an authenticator app or a passkey on « Mon compte »; the",
        "  Revue's « Espace sécurisé » then asks for that second factor (step-up).",
        "",
        "  Les emails (activation, mot de passe oublié) arrivent dans la boîte mail locale.",
        "  Emails (activation, password reset) land in the local mailbox.",
        "  Ctrl-C arrête tout / stops everything.",
        "=" * 72,
        "",
    ]
    return "\n".join(lines)


def native_app_lines(ports: Ports, client_id: str | None) -> list[str]:
    """The banner's lines on the native app's client and the API (none without a client)."""
    if client_id is None:
        return []
    return [
        "  API du portail / portal API (application native « Sésame Mobile (démo) »):",
        f"    client_id (public, PKCE)  {client_id}",
        f"    API (resource)            {api_url(ports)}   (OpenAPI: /api/v1/openapi.json)",
        f"    code + PKCE S256 sur http://{IDP_HOST}:{ports.idp}/authorize, redirect_uri "
        f"http://{HOST}:<port>/callback ;",
        f"    puis POST /token avec resource={api_url(ports)} ; Authorization: Bearer <jeton>.",
        "",
    ]


def run(env: dict[str, str], stop: threading.Event, out: Callable[[str], None] = print) -> int:
    """Set up, serve until `stop` is set or a child dies; return the exit status."""
    ports = ports_from_env(env)
    check_ports_free(ports)
    environment = child_env(ports, env)
    if environment["DATABASE_URL"].startswith("sqlite:///"):
        Path(environment["DATABASE_URL"].removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    supervisor = Supervisor(environment, out)
    try:
        out("[devserver] Migration de la base / migrating the database…")
        supervisor.run_once("db", flask_command(IDP_APP, "db", "upgrade"))
        out("[devserver] Données de démonstration / demo data…")
        supervisor.run_once("demo", flask_command(IDP_APP, *demo.load_command()))
        out("[devserver] Portail client : base et démonstration / portal database and demo…")
        supervisor.run_once("portal-db", flask_command(PORTAL_APP, "db", "upgrade"))
        supervisor.run_once("portal-demo", flask_command(PORTAL_APP, "demo", "load"))
        out("[devserver] Sites clients / relying parties (idp clients add)…")
        relying_parties = sites(ports)
        mobile = native_app(ports)
        try:
            credentials = ensure_registered(
                [*relying_parties, mobile], supervisor.idp, CLIENTS_FILE, out
            )
        except RegistrationError as error:
            raise StartupError(
                f"Enregistrement des sites / registering the sites: {error}"
            ) from error
        supervisor.start(
            "mailbox",
            [
                sys.executable, "-m", "devserver.mailbox",
                "--smtp-port", str(ports.smtp), "--http-port", str(ports.mailbox),
                # the portal's deposit addresses, as a mail server would pipe them
                "--pipe", environment.get("PORTAL_MAILBOX_DOMAIN", "depot.portail.localhost"),
                shlex.join(flask_command(PORTAL_APP, "mailbox", "receive")),
            ],
        )  # fmt: skip
        wait_until_ready(supervisor, [("SMTP", tcp_open(ports.smtp))], stop)
        supervisor.start(
            "idp", flask_command(IDP_APP, "run", "--host", HOST, "--port", str(ports.idp))
        )
        for site in relying_parties:
            app = PORTAL_APP if site.key == "portal" else PARTNER_APP
            supervisor.start(
                site.key,
                flask_command(app, "run", "--host", HOST, "--port", str(site.port)),
                site_env(site, credentials[site.key], relying_parties),
            )
        supervisor.start(
            "mail", flask_command(IDP_APP, "mail", "deliver", "--loop", "--interval", "1")
        )
        supervisor.start(  # back-channel logouts to the sites (the IdP's outbox)
            "logouts",
            flask_command(IDP_APP, "oidc", "deliver-logouts", "--loop", "--interval", "1"),
        )
        wait_until_ready(
            supervisor,
            [
                ("idp", http_ok(f"http://{HOST}:{ports.idp}/health")),
                *((site.key, http_ok(f"{site.base_url}/health")) for site in relying_parties),
                ("mailbox", http_ok(f"http://{HOST}:{ports.mailbox}/")),
            ],
            stop,
        )
        out(banner(ports, environment, credentials[mobile.key].client_id))
        while not stop.wait(0.5):
            dead = supervisor.exited()
            if dead is not None:
                out(
                    f"[devserver] « {dead.name} » s'est arrêté / exited "
                    f"(code {dead.process.returncode}) : arrêt de tout / stopping everything."
                )
                return 1
        out("[devserver] Arrêt / stopping…")
        return 0
    except KeyboardInterrupt:
        out("[devserver] Arrêt / stopping…")
        return 0
    finally:
        supervisor.stop_all()


def main() -> int:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    try:
        return run(dict(os.environ), stop)
    except StartupError as error:
        print(f"[devserver] {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
