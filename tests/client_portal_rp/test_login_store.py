"""The relying party's login records (relying_party/logins.py): what the cookie names, what a
back-channel logout ends, and what the table keeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from relying_party import logins
from relying_party.logins import Login, LoginStore, rp_logins

ISSUER = "https://sesame.example"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LoginStore]:
    created = LoginStore(f"sqlite:///{tmp_path}/rp.sqlite", ISSUER, "portal")
    yield created
    created.dispose()


def start(store: LoginStore, sid: str | None = "sid-1", subject: str = "sub-1") -> str:
    claims = {"sub": subject, "name": "Marie Curie", "preferred_username": "marie.curie"}
    return store.start(subject=subject, sid=sid, claims=claims, id_token="a.b.c", hours=1)


def test_login_store_keeps_only_the_digest_of_the_cookie_value(store: LoginStore) -> None:
    login_id = start(store)
    assert len(login_id) >= 43  # 256 random bits
    with store.engine.connect() as conn:
        row = conn.execute(select(rp_logins)).one()
    assert row.id_digest == logins.digest(login_id) and login_id not in row.id_digest
    found = store.find(login_id)
    assert isinstance(found, Login)
    assert (found.subject, found.sid, found.display_name) == ("sub-1", "sid-1", "Marie Curie")
    assert store.find(login_id + "x") is None and store.find("") is None


def test_login_store_end_and_expiry(store: LoginStore, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = start(store), start(store)
    assert store.end(first) is True and store.end(first) is False
    assert store.find(first) is None and store.find(second) is not None
    later = time.time() + 3601
    monkeypatch.setattr(logins.time, "time", lambda: later)
    assert store.find(second) is None  # one hour, as asked at start


def test_login_store_logout_token_ends_by_sid_by_sub_or_both(store: LoginStore) -> None:
    a1, a2, b = start(store, "sid-a"), start(store, "sid-a"), start(store, "sid-b", "sub-2")
    assert store.end_for_logout_token(sid="sid-a", subject=None) == 2
    assert store.find(a1) is None and store.find(a2) is None and store.find(b) is not None
    assert store.end_for_logout_token(sid="sid-b", subject="sub-1") == 0  # both must match
    assert store.end_for_logout_token(sid=None, subject="sub-2") == 1
    assert store.end_for_logout_token(sid=None, subject=None) == 0  # names nothing: ends nothing


def test_login_store_sites_sharing_a_database_see_only_their_logins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.sqlite"
    ours = LoginStore(url, ISSUER, "portal")
    other_idp = LoginStore(url, "https://other-idp.example", "portal")
    other_site = LoginStore(url, ISSUER, "bibliotheque")
    login_id = start(ours)
    assert other_idp.end_for_logout_token(sid="sid-1", subject="sub-1") == 0
    assert other_site.end_for_logout_token(sid="sid-1", subject="sub-1") == 0
    assert other_site.find(login_id) is None  # another site's cookie value opens nothing here
    assert ours.find(login_id) is not None
    for store in (ours, other_idp, other_site):
        store.dispose()


def test_login_store_purges_long_finished_logins(
    store: LoginStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = start(store)
    store.end(old)
    later = time.time() + 2 * 86400
    monkeypatch.setattr(logins.time, "time", lambda: later)
    start(store)
    with store.engine.connect() as conn:
        assert len(conn.execute(select(rp_logins)).all()) == 1


def test_login_store_concurrent_logins_and_logouts(store: LoginStore) -> None:
    ids: list[str] = []
    barrier = threading.Barrier(6)

    def work() -> None:
        barrier.wait()
        ids.append(start(store, "sid-c"))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 6
    assert store.end_for_logout_token(sid="sid-c", subject=None) == 6


def test_login_store_creates_no_database_until_used(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "rp.sqlite"
    lazy = LoginStore(f"sqlite:///{path}", ISSUER, "portal")
    assert not path.exists()
    start(lazy)
    assert path.exists()
    lazy.dispose()


def test_login_ordre_claims_in_words() -> None:
    login = Login(
        subject="s",
        sid=None,
        claims={"ordre_profile": "stagiaire", "ordre_council": {"code": "IDF", "name": "Paris"}},
        id_token="",
        created_at=0,
    )
    assert login.ordre_claims() == [
        ("Profil", "Expert-comptable stagiaire"),
        ("Conseil régional", "Paris"),
    ]
    assert Login("s", None, {"preferred_username": "u"}, "", 0).display_name == "u"
    assert (
        Login("s", None, {"given_name": "Ada", "family_name": "L"}, "", 0).display_name == "Ada L"
    )
