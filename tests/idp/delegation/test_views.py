"""The « Délégations » pages under « Mon compte » (idp/delegation/views.py), browser-free:
login and `next`, the list with states and history, the request with its registry search and
autocomplete (who appears, what is shown, throttling), the decision, the direct grant and the
invitation link, « Mettre fin », CSRF on every form, 404 for another's delegation, and the
emails (escaped names, absolute links)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.delegation import services
from idp.delegation.models import Delegation, DelegationStatus
from idp.extensions import db
from idp.registry.catalog import RegistryStatus
from tests.factories import create_registry_entry, create_user
from tests.helpers import csrf_token, login, outbox
from tests.idp.delegation.support import (
    collaborator,
    expert,
    service,
    set_registry_status,
)

pytestmark = pytest.mark.usefixtures("app")

INDEX = "/account/delegations"
REQUEST = "/account/delegations/request"
SEARCH = "/account/delegations/search"
GRANT = "/account/delegations/grant"
CANDIDATE = re.compile(r'name="candidate" value="([^"]+)"')


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def _requested(client_ids: list[str] | None = None):  # type: ignore[no-untyped-def]
    grantor, grantee = expert(), collaborator()
    clients = [service("Comptexpert"), service("Portail des missions")]
    delegation = services.request_delegation(
        db.session, grantee, grantor, client_ids or [c.client_id for c in clients], "Merci"
    )
    db.session.commit()
    return delegation, grantor, grantee, clients


def _decide(client: FlaskClient, delegation: Delegation, **data: object):  # type: ignore[no-untyped-def]
    path = f"/account/delegations/{delegation.public_id}"
    return client.post(f"{path}/decide", data={"csrf_token": csrf_token(client, INDEX), **data})


def _reload(delegation: Delegation) -> Delegation:
    db.session.expire_all()
    fresh = db.session.get(Delegation, delegation.id)
    assert fresh is not None
    return fresh


# --- login and the email link ----------------------------------------------------------------


def test_the_pages_need_a_login(client: FlaskClient) -> None:
    for path in (INDEX, REQUEST, GRANT, "/account/delegations/abc"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=")


def test_the_email_link_brings_the_grantor_back_to_the_request_after_login(
    client: FlaskClient,
) -> None:
    from tests.helpers import TEST_PASSWORD

    delegation, grantor, _grantee, _clients = _requested()
    path = f"/account/delegations/{delegation.public_id}"
    login_page = client.get(path).headers["Location"]
    token = csrf_token(client, login_page)
    response = client.post(
        login_page,
        data={"csrf_token": token, "username": grantor.username, "password": TEST_PASSWORD},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(path)
    page = client.get(path)
    assert page.status_code == 200 and "Accorder" in _text(page) and "Refuser" in _text(page)


# --- « Mon compte » card ----------------------------------------------------------------------


def test_mon_compte_shows_the_delegations_card_with_pending_requests(client: FlaskClient) -> None:
    _delegation, grantor, _grantee, _clients = _requested()
    login(client, grantor.username)
    page = _text(client.get("/account"))
    assert "/account/delegations" in page and "1 demande en attente de votre réponse" in page


# --- the request ------------------------------------------------------------------------------


def test_a_collaborator_requests_a_delegation_without_javascript(client: FlaskClient) -> None:
    grantor, comptexpert = expert(), service()
    asker = collaborator()
    login(client, asker.username)

    listing = _text(client.get(REQUEST, query_string={"q": "lefev"}))
    (token,) = CANDIDATE.findall(listing)
    assert "LEFÈVRE Jean-François" in listing and "Cabinet Lefèvre" in listing
    assert grantor.email not in listing and "1975" not in listing

    form = client.get(REQUEST, query_string={"candidate": token})
    assert "Jean-François Lefèvre" in _text(form) and comptexpert.name in _text(form)
    sent = client.post(
        REQUEST,
        data={
            "csrf_token": csrf_token(client, INDEX),
            "candidate": token,
            "services": [comptexpert.client_id],
            "message": "Pour la saisie des bilans.",
        },
    )
    assert sent.status_code == 302
    delegation = db.session.scalar(select(Delegation))
    assert delegation is not None and delegation.grantor_id == grantor.id
    assert delegation.grantee_id == asker.id and delegation.status == "requested"
    assert outbox()[-1].recipient == grantor.email
    shown = _text(client.get(sent.headers["Location"]))
    assert "demandée, en attente de réponse" in shown and "Retirer ma demande" in shown


def test_the_search_finds_an_expert_by_registration_number(client: FlaskClient) -> None:
    expert(registration_number="AB123456")
    login(client, collaborator().username)
    assert len(CANDIDATE.findall(_text(client.get(REQUEST, query_string={"q": " ab123456 "})))) == 1
    assert client.get(SEARCH, query_string={"q": "AB123456"}).json["results"]


def test_the_autocomplete_lists_only_registered_active_experts_with_an_account(
    client: FlaskClient,
) -> None:
    expert("ok.expert", family_name="Lefort", given_names="Anne")
    expert("radie.expert", family_name="Lefort", given_names="Bruno", status=RegistryStatus.RADIE)
    expert(
        "suspendu.expert",
        family_name="Lefort",
        given_names="Claire",
        status=RegistryStatus.SUSPENDU,
    )
    disabled = expert("ferme.expert", family_name="Lefort", given_names="Denis")
    disabled.status = "disabled"
    db.session.commit()
    create_registry_entry("Lefort", "Émile", email="emile@cabinet.example")  # no account
    from idp.profiles.catalog import Profile
    from tests.idp.delegation.support import member

    member("stagiaire", Profile.STAGIAIRE, family_name="Lefort", given_names="Fanny")
    login(client, collaborator().username)

    answer = client.get(SEARCH, query_string={"q": "lefort"})
    assert answer.status_code == 200
    assert [r["name"] for r in answer.json["results"]] == ["LEFORT Anne"]
    assert set(answer.json["results"][0]) == {"token", "name", "council"}
    plain = _text(client.get(REQUEST, query_string={"q": "lefort"}))
    assert len(CANDIDATE.findall(plain)) == 1 and "Bruno" not in plain and "Émile" not in plain


def test_the_autocomplete_needs_three_letters_lists_ten_at_most_and_is_throttled(
    client: FlaskClient, configure
) -> None:  # type: ignore[no-untyped-def]
    for n in range(12):
        expert(f"expert{n}", family_name="Durand", given_names=f"Jean{chr(65 + n)}")
    login(client, collaborator().username)
    assert client.get(SEARCH, query_string={"q": "du"}).json["results"] == []
    assert len(client.get(SEARCH, query_string={"q": "dur"}).json["results"]) == 10

    configure(throttles__registry_searches_per_ip="2 per minute")
    client.get(SEARCH, query_string={"q": "dur"})
    client.get(SEARCH, query_string={"q": "dur"})
    refused = client.get(SEARCH, query_string={"q": "dur"})
    assert refused.status_code == 429 and "Trop de tentatives" in refused.json["error"]
    page = client.get(REQUEST, query_string={"q": "dur"})
    assert page.status_code == 429 and "Trop de tentatives" in _text(page)


def test_the_autocomplete_needs_a_login(client: FlaskClient) -> None:
    assert client.get(SEARCH, query_string={"q": "lef"}).status_code == 302


def test_a_request_without_service_or_with_a_forged_choice_shows_a_french_message(
    client: FlaskClient,
) -> None:
    expert()
    comptexpert = service()
    login(client, collaborator().username)
    (token,) = CANDIDATE.findall(_text(client.get(REQUEST, query_string={"q": "lefev"})))
    missing = client.post(
        REQUEST, data={"csrf_token": csrf_token(client, INDEX), "candidate": token}
    )
    assert missing.status_code == 400 and "Choisissez au moins un service." in _text(missing)
    forged = client.post(
        REQUEST,
        data={
            "csrf_token": csrf_token(client, INDEX),
            "candidate": "forged",
            "services": [comptexpert.client_id],
        },
    )
    assert forged.status_code == 400 and "cherchez à nouveau" in _text(forged)
    assert db.session.scalar(select(Delegation)) is None


# --- the decision -----------------------------------------------------------------------------


def test_the_grantor_approves_narrowing_the_services_with_an_end_date(client: FlaskClient) -> None:
    delegation, grantor, grantee, (_a, b) = _requested()
    login(client, grantor.username)
    page = _text(client.get(f"/account/delegations/{delegation.public_id}"))
    assert page.count("checked") >= 2  # pre-checked
    default_end = (date.today() + timedelta(days=365)).isoformat()[:7]
    assert f'value="{default_end}' in page

    ends_on = (date.today() + timedelta(days=200)).isoformat()
    response = _decide(
        client, delegation, decision="grant", services=[b.client_id], ends_on=ends_on
    )

    assert response.status_code == 302
    delegation = _reload(delegation)
    assert delegation.status == DelegationStatus.ACTIVE
    assert delegation.client_ids() == [b.client_id]
    assert delegation.ends_at is not None and delegation.ends_at.date().isoformat() <= ends_on
    index = _text(client.get(INDEX))
    assert "en cours" in index and "Délégation accordée à la demande" in index
    login(client, grantee.username)
    history = _text(client.get(INDEX))
    assert "Délégation demandée" in history and "par vous" in history
    assert "par Jean-François Lefèvre" in history


def test_the_decision_refuses_a_widening_and_a_bad_end_date_in_french(client: FlaskClient) -> None:
    delegation, grantor, _grantee, (a, _b) = _requested()
    other = service("Jedeclare")
    login(client, grantor.username)
    widened = _decide(
        client,
        delegation,
        decision="grant",
        services=[a.client_id, other.client_id],
        ends_on=(date.today() + timedelta(days=30)).isoformat(),
    )
    assert widened.status_code == 400 and "services demandés" in _text(widened)
    too_long = _decide(
        client,
        delegation,
        decision="grant",
        services=[a.client_id],
        ends_on=(date.today() + timedelta(days=4 * 365)).isoformat(),
    )
    assert too_long.status_code == 400 and "au plus trois ans" in _text(too_long)
    past = _decide(
        client, delegation, decision="grant", services=[a.client_id], ends_on="01/01/2020"
    )
    assert past.status_code == 400 and "dans le futur" in _text(past)
    assert _reload(delegation).status == DelegationStatus.REQUESTED


def test_the_grantor_refuses_with_a_reason(client: FlaskClient) -> None:
    delegation, grantor, grantee, _clients = _requested()
    login(client, grantor.username)
    response = _decide(client, delegation, decision="refuse", reason="Pas du cabinet")
    assert response.status_code == 302
    assert _reload(delegation).status == DelegationStatus.REFUSED
    assert "Pas du cabinet" in outbox()[-1].body_text and outbox()[-1].recipient == grantee.email


def test_a_collaborator_cannot_approve_their_own_request(client: FlaskClient) -> None:
    delegation, _grantor, grantee, (a, _b) = _requested()
    login(client, grantee.username)
    page = _text(client.get(f"/account/delegations/{delegation.public_id}"))
    assert 'value="grant"' not in page
    response = _decide(
        client,
        delegation,
        decision="grant",
        services=[a.client_id],
        ends_on=(date.today() + timedelta(days=30)).isoformat(),
    )
    assert response.status_code == 404
    assert "Cette demande ne vous est pas adressée." in _text(response)
    assert _reload(delegation).status == DelegationStatus.REQUESTED


def test_a_non_grantor_cannot_see_nor_approve_the_request(client: FlaskClient) -> None:
    delegation, _grantor, _grantee, (a, _b) = _requested()
    login(client, expert("autre.expert", family_name="Autre").username)
    assert client.get(f"/account/delegations/{delegation.public_id}").status_code == 404
    response = _decide(
        client,
        delegation,
        decision="grant",
        services=[a.client_id],
        ends_on=(date.today() + timedelta(days=30)).isoformat(),
    )
    assert response.status_code == 404
    assert _reload(delegation).status == DelegationStatus.REQUESTED


def test_a_grantor_struck_off_since_sees_why_the_approval_fails(client: FlaskClient) -> None:
    delegation, grantor, _grantee, (a, _b) = _requested()
    set_registry_status(grantor, RegistryStatus.RADIE)
    login(client, grantor.username)
    response = _decide(
        client,
        delegation,
        decision="grant",
        services=[a.client_id],
        ends_on=(date.today() + timedelta(days=30)).isoformat(),
    )
    assert response.status_code == 403 and "inscrit au tableau" in _text(response)


# --- ending, other people's delegations -------------------------------------------------------


def _granted():  # type: ignore[no-untyped-def]
    grantor, grantee, comptexpert = expert(), collaborator(), service()
    delegation = services.grant(db.session, grantor, grantee.username, [comptexpert.client_id])
    db.session.commit()
    return delegation, grantor, grantee


@pytest.mark.parametrize("side", ["grantor", "grantee"])
def test_either_side_ends_a_delegation(client: FlaskClient, side: str) -> None:
    delegation, grantor, grantee = _granted()
    login(client, (grantor if side == "grantor" else grantee).username)
    path = f"/account/delegations/{delegation.public_id}/end"
    assert client.post(path, data={"csrf_token": csrf_token(client, INDEX)}).status_code == 302
    assert _reload(delegation).status == DelegationStatus.ENDED
    label = "retirée par l'expert-comptable" if side == "grantor" else "abandonnée"
    assert label in _text(client.get(INDEX))
    again = client.post(path, data={"csrf_token": csrf_token(client, INDEX)})
    assert again.status_code == 409 and "déjà terminée" in _text(again)


def test_another_users_delegation_is_404(client: FlaskClient) -> None:
    delegation, _grantor, _grantee = _granted()
    login(client, collaborator("curieux").username)
    assert client.get(f"/account/delegations/{delegation.public_id}").status_code == 404
    ended = client.post(
        f"/account/delegations/{delegation.public_id}/end",
        data={"csrf_token": csrf_token(client, INDEX)},
    )
    assert ended.status_code == 404
    assert _reload(delegation).status == DelegationStatus.ACTIVE
    assert client.get("/account/delegations/nexistepas").status_code == 404
    assert delegation.public_id not in _text(client.get(INDEX))


def test_a_suspended_grantor_shows_the_delegation_suspended(client: FlaskClient) -> None:
    _delegation, grantor, grantee = _granted()
    set_registry_status(grantor, RegistryStatus.SUSPENDU)
    login(client, grantee.username)
    page = _text(client.get(INDEX))
    assert "suspendue" in page


# --- the direct grant and the invitation ------------------------------------------------------


def test_the_grantor_grants_directly_to_a_username(client: FlaskClient) -> None:
    grantor, grantee, comptexpert = expert(), collaborator(), service()
    login(client, grantor.username)
    page = _text(client.get(GRANT))
    assert (date.today() + timedelta(days=365)).isoformat()[:7] in page
    response = client.post(
        GRANT,
        data={
            "csrf_token": csrf_token(client, GRANT),
            "grantee": grantee.username,
            "services": [comptexpert.client_id],
            "ends_on": (date.today() + timedelta(days=90)).isoformat(),
        },
    )
    assert response.status_code == 302
    delegation = db.session.scalar(select(Delegation))
    assert delegation is not None and delegation.grantee_id == grantee.id
    assert outbox()[-1].template == "delegation/granted"


def test_a_grant_to_oneself_shows_the_reason(client: FlaskClient) -> None:
    grantor, comptexpert = expert(), service()
    login(client, grantor.username)
    response = client.post(
        GRANT,
        data={
            "csrf_token": csrf_token(client, GRANT),
            "grantee": grantor.username,
            "services": [comptexpert.client_id],
            "ends_on": (date.today() + timedelta(days=90)).isoformat(),
        },
    )
    assert response.status_code == 403 and "vous déléguer" in _text(response)


def test_a_collaborator_may_not_grant(client: FlaskClient) -> None:
    service()
    login(client, collaborator().username)
    page = client.get(GRANT)
    assert page.status_code == 403 and "Seul un expert-comptable" in _text(page)
    assert "Accorder une délégation" not in _text(client.get(INDEX))


def test_a_grant_to_an_email_invites_and_the_link_prefills_the_signup(
    client: FlaskClient,
) -> None:
    grantor, comptexpert = expert(), service()
    login(client, grantor.username)
    client.post(
        GRANT,
        data={
            "csrf_token": csrf_token(client, GRANT),
            "grantee": "nouvelle@cabinet.example",
            "services": [comptexpert.client_id],
            "ends_on": (date.today() + timedelta(days=90)).isoformat(),
        },
    )
    (invitation,) = [m for m in outbox() if m.template == "delegation/invitation"]
    link = next(w for w in invitation.body_text.split() if "/delegations/invitation/" in w)
    assert link.startswith("http://idp.test/") and "nouvelle@" not in link
    assert "en attente de la création du compte" in _text(client.get(INDEX))

    anonymous = client.application.test_client()
    followed = anonymous.get(link.removeprefix("http://idp.test"))
    assert followed.status_code == 302 and followed.headers["Location"].endswith("/signup/autre")
    signup = _text(anonymous.get("/signup/autre"))
    assert 'value="nouvelle@cabinet.example"' in signup

    forged = anonymous.get("/delegations/invitation/forged")
    assert forged.status_code == 302
    assert 'value="nouvelle@' not in _text(anonymous.get("/signup/autre"))


# --- CSRF on every form -----------------------------------------------------------------------


def test_every_form_needs_its_csrf_token(client: FlaskClient) -> None:
    delegation, grantor, grantee, (a, _b) = _requested()
    granted = services.grant(db.session, grantor, "autre@cabinet.example", [a.client_id])
    db.session.commit()
    login(client, grantor.username)
    posts = [
        (f"/account/delegations/{delegation.public_id}/decide", {"decision": "refuse"}),
        (f"/account/delegations/{granted.public_id}/end", {}),
        (GRANT, {"grantee": grantee.username, "services": [a.client_id], "ends_on": "01/01/2030"}),
    ]
    for path, data in posts:
        assert client.post(path, data=data).status_code == 400, path
    login(client, grantee.username)
    assert (
        client.post(REQUEST, data={"candidate": "x", "services": [a.client_id]}).status_code == 400
    )
    assert _reload(delegation).status == DelegationStatus.REQUESTED
    assert _reload(granted).status == DelegationStatus.ACTIVE
    assert db.session.query(Delegation).count() == 2


# --- emails -----------------------------------------------------------------------------------


def test_emails_escape_hostile_names_and_carry_absolute_links(client: FlaskClient) -> None:
    grantor, comptexpert = expert(), service()
    hostile = create_user("hostile")
    hostile.given_name = '<script>alert("x")</script>'
    hostile.family_name = "<img src=x onerror=alert(1)>"
    db.session.commit()
    delegation = services.request_delegation(
        db.session, hostile, grantor, [comptexpert.client_id], "<b>urgent</b>"
    )
    db.session.commit()
    mail = outbox()[-1]
    assert "<script>" not in mail.body_html and "<img" not in mail.body_html
    assert "&lt;script&gt;" in mail.body_html and "&lt;b&gt;urgent" in mail.body_html
    link = f"http://idp.test/account/delegations/{delegation.public_id}"
    assert link in mail.body_text and f'href="{link}"' in mail.body_html
    assert '<script>alert("x")</script>' in mail.subject  # a header: plain text, not HTML
