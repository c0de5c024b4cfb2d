"""Per-client profile policy (docs/security.md 34): a user whose profile does not open the
client sees a French page at the IdP saying why, and its button sends the client
access_denied (with state and iss); no code, whatever the page's form is made to say."""

from __future__ import annotations

import html

from sqlalchemy import func, select

from idp.config import settings
from idp.extensions import db
from idp.oidc.models import AuthorizationCode, Consent
from idp.profiles.catalog import Profile
from idp.registry.catalog import RegistryStatus
from idp.registry.models import ProfileClaim
from tests.factories import create_registry_entry, create_user
from tests.helpers import csrf_in
from tests.idp.oidc.helpers import (
    authorize,
    callback_params,
    code_flow,
    pkce_pair,
    register_client,
    sign_in,
)

EXPERTS_ONLY = [Profile.EXPERT_COMPTABLE.value]


def _codes() -> int:
    return int(db.session.scalar(select(func.count()).select_from(AuthorizationCode)) or 0)


def _pkce() -> dict[str, str]:
    return {"code_challenge": pkce_pair()[1], "code_challenge_method": "S256"}


def _expert(username: str = "jf.lefevre"):
    member = create_user(username)
    member.profile = Profile.EXPERT_COMPTABLE.value
    entry = create_registry_entry()
    db.session.add(ProfileClaim(user_id=member.id, registry_entry_id=entry.id))
    db.session.commit()
    return member, entry


def _answer(client, page, **fields):
    text = page.get_data(as_text=True)
    key = text.split('name="consent_request" value="', 1)[1].split('"', 1)[0]
    data = {"csrf_token": csrf_in(text, "the policy page"), "consent_request": key}
    data.update(fields)
    return client.post("/authorize/consent", data=data)


def test_policy_refused_profile_sees_a_french_page_explaining_why(app, client):
    rp = register_client(name="Espace des experts", allowed_profiles=EXPERTS_ONLY)
    user = sign_in(client)  # profile "autre"
    page = authorize(client, rp, **_pkce())
    assert page.status_code == 403
    assert "Location" not in page.headers
    text = html.unescape(page.get_data(as_text=True))
    assert "Accès non autorisé" in text
    assert "Le site «\u00a0Espace des experts\u00a0» est réservé à certains profils" in text
    assert "Expert-comptable" in text
    assert f"Votre compte Sésame ({user.username}) n'a aucun de ces profils" in text
    assert "Retourner sur Espace des experts" in text
    assert _codes() == 0


def test_policy_page_button_sends_access_denied_with_state_and_iss(app, client):
    rp = register_client(allowed_profiles=EXPERTS_ONLY)
    sign_in(client)
    page = authorize(client, rp, state="s-34", **_pkce())
    response = _answer(client, page, decision="deny")
    assert response.headers["Location"].startswith(rp.redirect_uri + "?")
    params = callback_params(response)
    assert params["error"] == "access_denied"
    assert params["state"] == "s-34" and params["iss"] == settings().issuer
    assert _codes() == 0


def test_policy_page_answered_allow_still_sends_access_denied(app, client):
    """The policy page's request is not a consent: changing its form gets no code."""
    rp = register_client(allowed_profiles=EXPERTS_ONLY, first_party=False)
    sign_in(client)
    page = authorize(client, rp, **_pkce())
    params = callback_params(_answer(client, page, decision="allow"))
    assert params["error"] == "access_denied"
    assert _codes() == 0
    assert db.session.scalar(select(func.count()).select_from(Consent)) == 0


def test_policy_allowed_profile_gets_its_code(app, client):
    rp = register_client(allowed_profiles=EXPERTS_ONLY)
    member, _entry = _expert()
    sign_in(client, member)
    assert code_flow(client, rp).access_token


def test_policy_struck_off_member_loses_access_at_once(app, client):
    rp = register_client(allowed_profiles=EXPERTS_ONLY)
    member, entry = _expert()
    sign_in(client, member)
    code_flow(client, rp)
    entry.status = RegistryStatus.RADIE.value
    db.session.commit()
    page = authorize(client, rp, **_pkce())
    assert page.status_code == 403 and "Accès non autorisé" in page.get_data(as_text=True)


def test_policy_prompt_none_answers_access_denied_without_a_page(app, client):
    rp = register_client(allowed_profiles=EXPERTS_ONLY)
    sign_in(client)
    params = callback_params(authorize(client, rp, prompt="none", state="s", **_pkce()))
    assert params["error"] == "access_denied"
    assert params["state"] == "s" and params["iss"] == settings().issuer


def test_policy_checked_again_when_the_consent_is_given(app, client):
    """Consent page shown, then the profile lost before Autoriser: access_denied, no code."""
    rp = register_client(allowed_profiles=EXPERTS_ONLY, first_party=False)
    member, entry = _expert()
    sign_in(client, member)
    page = authorize(client, rp, **_pkce())
    assert page.status_code == 200
    entry.status = RegistryStatus.SUSPENDU.value
    db.session.commit()
    params = callback_params(_answer(client, page, decision="allow"))
    assert params["error"] == "access_denied"
    assert _codes() == 0
