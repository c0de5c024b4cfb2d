"""Consent (docs/security.md 35): third-party clients ask on a French page listing what they
will read; Refuser answers access_denied (with state and iss); the consent is stored and
skips the page next time unless more is asked or prompt=consent; first-party clients never
ask; the answer is CSRF-protected, given once, by the session it was asked of. (Withdrawal
on « Mon compte »: tests/idp/oidc/test_connected_apps.py.)"""

from __future__ import annotations

import html

from sqlalchemy import func, select

from idp.config import settings
from idp.extensions import db
from idp.oidc.models import AuthorizationCode, Consent
from tests.factories import create_user
from tests.idp.oidc.helpers import (
    authorize,
    callback_params,
    code_flow,
    give_consent,
    pkce_pair,
    register_client,
    sign_in,
)


def _codes() -> int:
    return int(db.session.scalar(select(func.count()).select_from(AuthorizationCode)) or 0)


def _pkce() -> dict[str, str]:
    return {"code_challenge": pkce_pair()[1], "code_challenge_method": "S256"}


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _consent_page(client, rp, **params):
    page = authorize(client, rp, **_pkce(), **params)
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
    assert 'name="consent_request"' in page.get_data(as_text=True)
    return page


def test_consent_third_party_client_shows_the_claims_in_words(app, client):
    rp = register_client(name="Revue Fiduciaire", first_party=False)
    user = sign_in(client)
    page = _consent_page(client, rp, scope="openid profile email offline_access")
    text = _text(page)
    assert "Autoriser Revue Fiduciaire" in text
    assert f"({user.username})" in text
    assert "Votre nom, votre prénom, votre identifiant de connexion et votre langue" in text
    assert "Votre adresse email, et si elle a été vérifiée" in text
    assert "Un accès qui dure quand vous n'êtes plus sur le site" in text
    assert "tableau de l'Ordre" not in text  # not asked
    assert ">Autoriser</button>" in text and ">Refuser</button>" in text
    assert _codes() == 0
    assert page.headers["Cache-Control"] == "no-store"


def test_consent_lists_the_ordre_claims_when_asked(app, client):
    rp = register_client(first_party=False, scopes=["openid", "ordre"])
    sign_in(client)
    text = _text(_consent_page(client, rp, scope="openid ordre"))
    assert "Votre inscription au tableau de l'Ordre" in text


def test_consent_allow_issues_the_code_and_stores_the_consent(app, client):
    rp = register_client(first_party=False)
    user = sign_in(client)
    page = _consent_page(client, rp, state="s-35")
    response = give_consent(client, page, allow=True)
    params = callback_params(response)
    assert params["code"] and params["state"] == "s-35" and params["iss"] == settings().issuer
    consent = db.session.scalar(select(Consent))
    assert (consent.user_id, consent.client_id) == (user.id, rp.id)
    assert set(consent.scopes) == {"openid", "profile", "email"}


def test_consent_deny_answers_access_denied_with_state_and_iss(app, client):
    rp = register_client(first_party=False)
    sign_in(client)
    page = _consent_page(client, rp, state="s-deny")
    response = give_consent(client, page, allow=False)
    assert response.headers["Location"].startswith(rp.redirect_uri + "?")
    params = callback_params(response)
    assert params["error"] == "access_denied"
    assert params["state"] == "s-deny" and params["iss"] == settings().issuer
    assert "code" not in params
    assert _codes() == 0
    assert db.session.scalar(select(func.count()).select_from(Consent)) == 0


def test_consent_stored_skips_the_page_next_time(app, client):
    rp = register_client(first_party=False)
    sign_in(client)
    give_consent(client, _consent_page(client, rp), allow=True)
    params = callback_params(authorize(client, rp, **_pkce()))
    assert params["code"]
    assert callback_params(authorize(client, rp, scope="openid email", **_pkce()))["code"]


def test_consent_asked_again_for_a_wider_scope_and_widened(app, client):
    rp = register_client(first_party=False)
    sign_in(client)
    give_consent(client, _consent_page(client, rp, scope="openid"), allow=True)
    page = _consent_page(client, rp, scope="openid email")
    give_consent(client, page, allow=True)
    assert set(db.session.scalar(select(Consent.scopes))) == {"openid", "email"}


def test_consent_prompt_consent_shows_the_page_even_when_stored(app, client):
    rp = register_client(first_party=False)
    sign_in(client)
    give_consent(client, _consent_page(client, rp), allow=True)
    page = _consent_page(client, rp, prompt="consent")
    assert "code" in callback_params(give_consent(client, page, allow=True))


def test_consent_prompt_consent_for_a_first_party_client_shows_the_page(app, client):
    """The client asked for it; as first-party clients need none, nothing is stored."""
    rp = register_client(first_party=True)
    sign_in(client)
    page = _consent_page(client, rp, prompt="consent")
    assert "Autoriser" in _text(page)
    assert "code" in callback_params(give_consent(client, page, allow=True))
    assert db.session.scalar(select(func.count()).select_from(Consent)) == 0


def test_consent_prompt_none_without_consent_is_consent_required(app, client):
    """OIDC_NOTES pitfall 3: Authlib would answer a code here (issue #740)."""
    rp = register_client(first_party=False)
    sign_in(client)
    params = callback_params(authorize(client, rp, prompt="none", state="s", **_pkce()))
    assert params["error"] == "consent_required"
    assert params["state"] == "s" and params["iss"] == settings().issuer
    assert _codes() == 0
    give_consent(client, _consent_page(client, rp), allow=True)
    assert callback_params(authorize(client, rp, prompt="none", **_pkce()))["code"]


def test_consent_first_party_client_never_asks(app, client):
    rp = register_client(first_party=True)
    sign_in(client)
    flow = code_flow(client, rp, consent=False)
    assert flow.access_token
    assert db.session.scalar(select(func.count()).select_from(Consent)) == 0


def test_consent_answer_needs_the_csrf_token(app, client):
    rp = register_client(first_party=False)
    sign_in(client)
    page = _consent_page(client, rp)
    key = page.get_data(as_text=True).split('name="consent_request" value="', 1)[1].split('"')[0]
    response = client.post("/authorize/consent", data={"consent_request": key, "decision": "allow"})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert _codes() == 0 and db.session.scalar(select(func.count()).select_from(Consent)) == 0


def test_consent_answer_is_given_once(app, client):
    rp = register_client(first_party=False)
    sign_in(client)
    page = _consent_page(client, rp)
    assert "code" in callback_params(give_consent(client, page, allow=True))
    again = give_consent(client, page, allow=True)
    assert again.status_code == 400 and "Location" not in again.headers
    assert "Demande expirée" in _text(again)
    assert _codes() == 1


def test_consent_answer_from_another_session_is_refused(app, client):
    """Logged out and in again (or as someone else) in between: the page's answer no longer
    applies; nothing is consented."""
    rp = register_client(first_party=False)
    marie = create_user("marie.curie")
    sign_in(client, marie)
    page = _consent_page(client, rp)
    pierre = create_user("pierre.curie")
    sign_in(client, pierre)  # the same browser, another login: the pending request is gone
    response = give_consent(client, page, allow=True)
    assert response.status_code == 400 and "Location" not in response.headers
    assert _codes() == 0 and db.session.scalar(select(func.count()).select_from(Consent)) == 0


def test_consent_unknown_request_key_is_an_error_page(app, client):
    rp = register_client(first_party=False)
    sign_in(client)
    page = _consent_page(client, rp)
    forged = page.get_data(as_text=True).replace(
        'name="consent_request" value="', 'name="consent_request" value="x'
    )

    class Page:
        def get_data(self, as_text: bool = False) -> str:
            return forged

    response = give_consent(client, Page(), allow=True)
    assert response.status_code == 400 and "Location" not in response.headers
    assert _codes() == 0


def test_consent_hostile_client_name_is_escaped(app, client):
    """docs/security.md 18: a client's name is registered text, shown as text."""
    rp = register_client(
        name='<script>alert(1)</script>"><img src=x onerror=alert(2)>', first_party=False
    )
    sign_in(client)
    page = _consent_page(client, rp, scope="openid profile").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
