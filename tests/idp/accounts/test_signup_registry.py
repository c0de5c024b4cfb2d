"""Signup by profile against the Order's registry (issue 12, the Comptexpert flow): every
outcome of idp/profiles/services.py through its pages, as a person meets it without
JavaScript. The throttles and the lock: test_signup_registry_throttling.py."""

from __future__ import annotations

import html
import json
import re
import threading
from datetime import date

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.accounts.models import User, UserStatus
from idp.audit.models import AuditEvent
from idp.extensions import db
from idp.mail.models import OutboxMessage
from idp.profiles import services
from idp.profiles.catalog import Profile
from idp.profiles.errors import EntryAlreadyClaimed
from idp.registry.catalog import RegistryStatus
from idp.registry.models import ProfileClaim
from idp.registry.services import held_profiles
from tests.factories import create_registry_entry, create_user
from tests.helpers import (
    SIGNUP_PASSWORD,
    csrf_token,
    registry_account,
    registry_birth_date,
    registry_candidates,
    registry_choose,
    registry_signup,
)


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def _count(model: type) -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


# --- the profile chooser ---------------------------------------------------------------------


def test_signup_chooser_lists_the_nine_profiles(client: FlaskClient) -> None:
    page = text_of(client.get("/signup"))
    for flow in ("expert-comptable", "salarie-agc", "stagiaire", "memorialiste", "honoraire"):
        assert f'href="/signup/{flow}/name"' in page
    assert 'href="/signup/ece/name"' in page and 'href="/signup/cafcac/name"' in page
    assert 'href="/signup/president-agc"' in page and 'href="/signup/autre"' in page
    assert "Président ou directeur d'AGC" in page and "Expert-comptable stagiaire" in page


def test_signup_registry_steps_name_the_chosen_profile(client: FlaskClient) -> None:
    """Each step says where the person is and which profile they chose."""
    page = text_of(client.get("/signup/stagiaire/name"))
    assert "Étape 1 sur 3 · Expert-comptable stagiaire</p>" in page


# --- finding oneself -------------------------------------------------------------------------


def test_signup_registry_search_lists_names_and_councils_only(client: FlaskClient) -> None:
    create_registry_entry()  # LEFÈVRE Jean-François, IDF, born 12/04/1975
    response = client.get("/signup/expert-comptable/name", query_string={"q": "Lefèvre Jean"})
    page = text_of(response)
    assert response.status_code == 200
    assert "LEFÈVRE Jean-François" in page and "Paris Île-de-France" in page
    assert "1975" not in page and "cabinet-lefevre" not in page  # never birth date nor email


@pytest.mark.parametrize("query", ["d'arcy", "darcy", "d arcy", "D’ARCY"])
def test_signup_registry_search_ignores_apostrophes_and_spaces(
    client: FlaskClient, query: str
) -> None:
    create_registry_entry("D'Arcy", "Anne", email="anne@darcy.example")
    assert len(registry_candidates(client, "expert-comptable", query)) == 1


def test_signup_registry_search_needs_three_letters(client: FlaskClient) -> None:
    create_registry_entry()
    page = text_of(client.get("/signup/expert-comptable/name", query_string={"q": "le"}))
    assert "Tapez au moins 3 lettres" in page
    assert registry_candidates(client, "expert-comptable", "le") == []
    assert client.get("/signup/registry/search?q=le").get_json() == {"results": []}


def test_signup_registry_autocomplete_json_has_no_birth_date_email_or_number(
    client: FlaskClient,
) -> None:
    create_registry_entry(registration_number="IDF-000123")
    response = client.get("/signup/registry/search", query_string={"q": "lefe"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert [set(r) for r in body["results"]] == [{"token", "name", "council"}]
    assert body["results"][0]["name"] == "LEFÈVRE Jean-François"
    raw = json.dumps(body)
    assert "1975" not in raw and "cabinet-lefevre" not in raw and "000123" not in raw


def test_signup_registry_search_returns_at_most_ten(client: FlaskClient) -> None:
    for n in range(12):
        create_registry_entry("Martin", f"Paul{n:02d}", email=None)
    assert len(registry_candidates(client, "expert-comptable", "martin")) == 10
    assert len(client.get("/signup/registry/search?q=martin").get_json()["results"]) == 10


def test_signup_registry_tampered_candidate_is_refused(client: FlaskClient) -> None:
    create_registry_entry()
    token = registry_candidates(client, "expert-comptable", "lefevre")[0]
    response = client.post(
        "/signup/expert-comptable/name",
        data={"csrf_token": csrf_token(client, "/signup"), "candidate": token[:-3] + "AAA"},
    )
    assert response.status_code == 200 and "Recommencez la recherche" in text_of(response)
    with client.session_transaction() as cookie:
        assert "registry_signup" not in cookie


def test_signup_registry_by_registration_number(client: FlaskClient) -> None:
    entry = create_registry_entry(registration_number="IDF-42")
    response = registry_choose(client, "expert-comptable", number=" idf-42 ")
    assert response.status_code == 302
    assert response.headers["Location"] == "/signup/expert-comptable/birth-date"
    assert "LEFÈVRE Jean-François" in text_of(client.get(response.headers["Location"]))
    with client.session_transaction() as cookie:
        assert cookie["registry_signup"]["entry"] == entry.id


def test_signup_registry_unknown_registration_number(client: FlaskClient) -> None:
    response = registry_choose(client, "expert-comptable", number="NOPE-1")
    assert response.status_code == 200
    assert "Aucune inscription au tableau ne porte ce numéro" in text_of(response)


def test_signup_registry_birth_date_page_needs_a_chosen_entry(client: FlaskClient) -> None:
    response = client.get("/signup/expert-comptable/birth-date")
    assert response.status_code == 302
    assert response.headers["Location"] == "/signup/expert-comptable/name"


# --- the outcomes ----------------------------------------------------------------------------


def test_signup_registry_match_creates_account_with_claim_and_registry_email(
    client: FlaskClient,
) -> None:
    entry = create_registry_entry(email="jf.lefevre@cabinet-lefevre.example")
    account_page = None
    chosen = registry_choose(client, "expert-comptable", query="lefevre jean")
    assert chosen.status_code == 302
    matched = registry_birth_date(client, "expert-comptable", "12/04/1975")
    assert matched.headers["Location"] == "/signup/expert-comptable/account"
    account_page = text_of(client.get("/signup/expert-comptable/account"))
    assert "j***@c***.example" in account_page  # masked, never in full
    assert "jf.lefevre@cabinet-lefevre.example" not in account_page
    assert "ne pourra jamais être modifié" in account_page
    done = registry_account(client, "expert-comptable", "JF.Lefevre")
    assert done.status_code == 302 and done.headers["Location"] == "/signup/done"
    assert "j***@c***.example" in text_of(client.get("/signup/done"))
    user = db.session.scalars(select(User)).one()
    assert (user.username, user.email, user.profile, user.status) == (
        "jf.lefevre",
        "jf.lefevre@cabinet-lefevre.example",
        "expert-comptable",
        UserStatus.PENDING,
    )
    assert (user.given_name, user.family_name) == ("Jean-François", "Lefèvre")
    claim = db.session.scalars(select(ProfileClaim)).one()
    assert (claim.user_id, claim.registry_entry_id) == (user.id, entry.id)
    message = db.session.scalars(select(OutboxMessage)).one()
    assert message.template == "activation" and message.recipient == entry.email
    events = [e.event_type for e in db.session.scalars(select(AuditEvent))]
    assert "registry_claim_created" in events and "signup" in events
    assert held_profiles(db.session, user) == ["expert-comptable"]


def test_signup_registry_accepts_iso_and_dotted_birth_dates(client: FlaskClient) -> None:
    create_registry_entry()
    registry_choose(client, "expert-comptable", query="lefevre")
    response = registry_birth_date(client, "expert-comptable", "1975-04-12")
    assert response.status_code == 302
    client.get("/signup")  # fresh session state for the second way of typing it
    registry_choose(client, "expert-comptable", query="lefevre")
    assert registry_birth_date(client, "expert-comptable", "12.4.1975").status_code == 302


def test_signup_registry_impossible_birth_date_is_a_form_error(client: FlaskClient) -> None:
    create_registry_entry()
    registry_choose(client, "expert-comptable", query="lefevre")
    response = registry_birth_date(client, "expert-comptable", "31/02/1975")
    assert response.status_code == 200 and "Date invalide" in text_of(response)
    assert _count(AuditEvent) == 0  # not a guess: nothing counted


def test_signup_registry_account_step_needs_the_birth_date(client: FlaskClient) -> None:
    create_registry_entry()
    registry_choose(client, "expert-comptable", query="lefevre")
    response = registry_account(client, "expert-comptable", "jf.lefevre")
    assert response.status_code == 302
    assert response.headers["Location"] == "/signup/expert-comptable/name"
    assert _count(User) == 0


def test_signup_registry_typed_email_is_ignored(client: FlaskClient) -> None:
    entry = create_registry_entry()
    registry_choose(client, "expert-comptable", query="lefevre")
    registry_birth_date(client, "expert-comptable", "12/04/1975")
    path = "/signup/expert-comptable/account"
    client.post(
        path,
        data={
            "csrf_token": csrf_token(client, path),
            "username": "jf.lefevre",
            "email": "pirate@evil.example",
            "password": SIGNUP_PASSWORD,
            "password_confirm": SIGNUP_PASSWORD,
        },
    )
    assert db.session.scalars(select(User)).one().email == entry.email
    assert [m.recipient for m in db.session.scalars(select(OutboxMessage))] == [entry.email]


def test_signup_registry_no_email_on_file_names_the_council(client: FlaskClient) -> None:
    create_registry_entry("Sansmail", "Paul", email=None, council_code="NAQ")
    response = registry_signup(client, query="sansmail")
    page = text_of(response)
    assert response.status_code == 200
    assert "Aucune adresse email n'est reliée à votre inscription" in page
    assert "Nouvelle-Aquitaine" in page and "contact@oec-nouvelleaquitaine.fr" in page
    assert "05 56 44 23 82" in page and "26 cours Clemenceau, 33000 Bordeaux" in page
    assert _count(User) == 0


def test_signup_registry_birth_date_mismatch_names_the_council(client: FlaskClient) -> None:
    create_registry_entry(council_code="ARA")
    response = registry_signup(client, birth_date="13/04/1975")
    page = text_of(response)
    assert response.status_code == 200
    assert "Il n'y a pas de lien entre votre nom et votre date de naissance" in page
    assert "Auvergne-Rhône-Alpes" in page and "contact@oec-ara.fr" in page
    assert _count(User) == 0
    failed = db.session.scalars(select(AuditEvent)).one()
    assert failed.event_type == "registry_match_failed"
    assert "1975" not in json.dumps(failed.details)  # the guess itself is not recorded


def test_signup_registry_already_claimed_points_to_login_and_reset(client: FlaskClient) -> None:
    """docs/security.md 11."""
    create_registry_entry()
    registry_signup(client)
    other = FlaskClient(client.application, use_cookies=True)
    response = registry_signup(other, username="autre.lefevre")
    page = text_of(response)
    assert "Vous avez déjà un compte" in page and "j***@c***.example" in page
    assert 'href="/login"' in page and 'href="/password/forgot"' in page
    assert "jf.lefevre@cabinet-lefevre.example" not in page
    assert _count(User) == 1 and _count(ProfileClaim) == 1


def test_signup_registry_already_claimed_is_told_after_the_birth_date_only(
    client: FlaskClient,
) -> None:
    create_registry_entry()
    registry_signup(client)
    other = FlaskClient(client.application, use_cookies=True)
    assert registry_choose(other, "expert-comptable", query="lefevre").status_code == 302
    wrong = text_of(registry_birth_date(other, "expert-comptable", "01/01/1970"))
    assert "j***@" not in wrong and "pas de lien" in wrong


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (RegistryStatus.RADIE, "Cette inscription est radiée du tableau"),
        (RegistryStatus.SUSPENDU, "Cette inscription est suspendue"),
    ],
)
def test_signup_registry_struck_off_or_suspended_cannot_sign_up(
    client: FlaskClient, status: RegistryStatus, message: str
) -> None:
    """docs/security.md 12."""
    create_registry_entry(status=status)
    response = registry_choose(client, "expert-comptable", query="lefevre")
    assert response.status_code == 200 and message in text_of(response)
    assert "Paris Île-de-France" in text_of(response)
    with client.session_transaction() as cookie:
        assert "registry_signup" not in cookie
    assert client.get("/signup/expert-comptable/birth-date").status_code == 302
    assert _count(User) == 0


def test_signup_registry_struck_off_between_birth_date_and_account(client: FlaskClient) -> None:
    """An import strikes the entry off while the person is on the last step."""
    entry = create_registry_entry()
    registry_choose(client, "expert-comptable", query="lefevre")
    registry_birth_date(client, "expert-comptable", "12/04/1975")
    entry.status = RegistryStatus.RADIE.value
    db.session.commit()
    response = registry_account(client, "expert-comptable", "jf.lefevre")
    assert "Cette inscription est radiée du tableau" in text_of(response)
    assert _count(User) == 0


def test_signup_registry_wrong_category_says_which_one(client: FlaskClient) -> None:
    create_registry_entry("Jeune", "Léa", category=Profile.STAGIAIRE, email="lea@x.example")
    response = registry_choose(client, "expert-comptable", query="jeune")
    page = text_of(response)
    assert "inscrite au tableau comme « Expert-comptable stagiaire »" in page
    assert "pas comme « Expert-comptable »" in page
    assert registry_signup(client, flow="stagiaire", query="jeune", username="lea.jeune")
    user = db.session.scalars(select(User)).one()
    assert user.profile == "stagiaire"


def test_signup_registry_username_taken_keeps_the_match(client: FlaskClient) -> None:
    create_user("jf.lefevre", email="someone@else.example")
    create_registry_entry()
    response = registry_signup(client)
    assert response.status_code == 200 and "déjà pris" in text_of(response)
    assert registry_account(client, "expert-comptable", "jf.lefevre2").status_code == 302
    claim = db.session.scalars(select(ProfileClaim)).one()
    assert db.session.get(User, claim.user_id).username == "jf.lefevre2"


def test_signup_registry_password_built_on_the_registry_name_is_refused(
    client: FlaskClient,
) -> None:
    create_registry_entry()
    response = registry_signup(client, password="jeanfrancois lefevre 1975")
    assert response.status_code == 200 and _count(User) == 0
    assert 'id="error-summary"' in response.get_data(as_text=True)


def test_signup_registry_hostile_names_are_escaped(client: FlaskClient) -> None:
    """docs/security.md 18: names come from council files; they are shown as text."""
    create_registry_entry("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
    page = client.get("/signup/expert-comptable/name", query_string={"q": "script"})
    raw = page.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in raw and "<img src=x" not in raw
    assert "&lt;SCRIPT&gt;ALERT(1)&lt;/SCRIPT&gt;" in raw


# --- SECURITY.md 7: two concurrent signups for one entry --------------------------------------


def test_signup_registry_concurrent_same_entry_creates_exactly_one_account(committed_app):
    with committed_app.app_context():
        entry_id = create_registry_entry().id
        db.session.remove()
    threads_count = 6
    barrier = threading.Barrier(threads_count)
    outcomes: list[str] = []

    def sign_up(n: int) -> None:
        with committed_app.test_request_context():
            barrier.wait()
            try:
                services.sign_up_from_registry(
                    db.session,
                    entry_id,
                    "expert-comptable",
                    username=f"lefevre{n}",
                    password=SIGNUP_PASSWORD,
                    ip=f"192.0.2.{n}",
                )
                db.session.commit()
                outcomes.append("created")
            except EntryAlreadyClaimed as error:
                outcomes.append("claimed" if "j***@c***.example" in error.message else "?")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["claimed"] * (threads_count - 1) + ["created"]
    with committed_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
        assert db.session.scalar(select(func.count()).select_from(ProfileClaim)) == 1
        user = db.session.scalars(select(User)).one()
        assert db.session.scalars(select(OutboxMessage)).one().user_id == user.id
        db.session.remove()


def test_signup_registry_claim_race_maps_the_unique_index(client: FlaskClient) -> None:
    """The claim's unique index (uq_profile_claims_registry_entry_id) is its own error, even
    when the check before it saw no claim (ADR 0007)."""
    entry = create_registry_entry()
    first = create_user("premier")
    db.session.add(ProfileClaim(user_id=first.id, registry_entry_id=entry.id))
    db.session.commit()
    with client.application.test_request_context():
        original = services._check_claimable
        services._check_claimable = lambda session, entry: None  # type: ignore[assignment]
        try:
            with pytest.raises(EntryAlreadyClaimed, match=re.escape("j***@c***.example")):
                services.sign_up_from_registry(
                    db.session,
                    entry.id,
                    "expert-comptable",
                    username="second",
                    password=SIGNUP_PASSWORD,
                    ip="192.0.2.1",
                )
        finally:
            services._check_claimable = original  # type: ignore[assignment]
    assert _count(User) == 1 and _count(ProfileClaim) == 1


def test_signup_registry_held_profiles_follow_live_claims(client: FlaskClient) -> None:
    entry = create_registry_entry()
    registry_signup(client)
    user = db.session.scalars(select(User)).one()
    assert held_profiles(db.session, user) == ["expert-comptable"]
    entry.status = RegistryStatus.SUSPENDU.value
    db.session.commit()
    assert held_profiles(db.session, user) == []  # a registry category needs a live claim
    entry.status = RegistryStatus.INSCRIT.value
    db.session.commit()
    assert held_profiles(db.session, user) == ["expert-comptable"]
    assert entry.birth_date == date(1975, 4, 12)
