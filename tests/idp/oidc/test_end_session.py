"""RP-initiated logout at /end-session (docs/security.md 36 and 32; OIDC_NOTES pitfall 12 and
the conformance checklist: bad or modified id_token_hint, bad post_logout_redirect_uri, no
parameters, no state, only state, a query on the registered redirect URI)."""

from __future__ import annotations

import html
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.accounts.models import User, UserSession
from idp.extensions import db
from idp.oidc import keys
from idp.oidc.models import BackchannelLogout, Grant, OAuthClient
from tests.factories import create_user
from tests.helpers import csrf_in, login
from tests.idp.oidc.logout_rows import (
    b64,
    create_grant,
    create_oauth_client,
    hmac_token,
    sign_id_token,
    token_parts,
    unsigned_token,
    use_session_for,
)

LOGOUT_URI = "https://rp.example/logged-out"
QUERY_URI = "https://rp.example/bye?lang=fr&x=1"
CONFIRMATION = "Voulez-vous vous déconnecter de Sésame"


@pytest.fixture
def rp(app: Flask) -> OAuthClient:
    return create_oauth_client(
        "Bibliothèque de l'Ordre",
        post_logout_redirect_uris=[LOGOUT_URI, QUERY_URI],
        backchannel_logout_uri="https://rp.example/backchannel",
    )


def _logged_in(client: FlaskClient, username: str = "camille.martin") -> tuple[User, str]:
    user = create_user(username)
    assert login(client, username).status_code == 302
    user_session = db.session.scalar(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.id.desc())
    )
    assert user_session is not None
    return user, user_session.public_id


def _session_ended(sid: str) -> bool:
    db.session.expire_all()
    row = db.session.scalar(select(UserSession).where(UserSession.public_id == sid))
    assert row is not None
    return row.revoked_at is not None


def _still_logged_in(client: FlaskClient) -> bool:
    return client.get("/account").status_code == 200


def _hint(rp: OAuthClient, user: User, sid: str | None, **claims: Any) -> str:
    return sign_id_token(rp.client_id, sub=user.subject, sid=sid, **claims)


def _query(response: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(response.headers["Location"]).query)


def _refused(response: Any, text: str | None = None) -> None:
    """An error page at the IdP, never a redirect (RP-Initiated Logout §4)."""
    assert response.status_code == 400, response.status_code
    assert "Location" not in response.headers
    page = html.unescape(response.get_data(as_text=True))
    assert "Déconnexion impossible" in page
    if text:
        assert text in page


# --- a valid hint: log out at once, follow only a registered URI ------------------------------


def test_end_session_valid_hint_logs_out_and_redirects_with_state(
    client: FlaskClient, rp: OAuthClient
) -> None:
    user, sid = _logged_in(client)
    user_session = db.session.scalar(select(UserSession).where(UserSession.public_id == sid))
    assert user_session is not None
    grant = create_grant(user, rp, user_session)
    use_session_for(user_session, rp)

    response = client.get(
        "/end-session",
        query_string={
            "id_token_hint": _hint(rp, user, sid),
            "post_logout_redirect_uri": LOGOUT_URI,
            "state": "xyz 123",
        },
    )

    assert response.status_code == 302
    assert response.headers["Location"] == LOGOUT_URI + "?state=xyz+123"
    assert _session_ended(sid) and not _still_logged_in(client)
    refreshed = db.session.get(Grant, grant.id)
    assert refreshed is not None and refreshed.revoke_reason == "session_ended"
    (queued,) = db.session.scalars(select(BackchannelLogout))
    assert (queued.client_id, queued.session_public_id) == (rp.id, sid)


def test_end_session_no_state_redirects_without_state(client: FlaskClient, rp: OAuthClient) -> None:
    user, sid = _logged_in(client)
    response = client.get(
        "/end-session",
        query_string={
            "id_token_hint": _hint(rp, user, sid),
            "post_logout_redirect_uri": LOGOUT_URI,
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == LOGOUT_URI
    assert _session_ended(sid)


def test_end_session_keeps_the_registered_query_and_appends_state(
    client: FlaskClient, rp: OAuthClient
) -> None:
    user, sid = _logged_in(client)
    response = client.get(
        "/end-session",
        query_string={
            "id_token_hint": _hint(rp, user, sid),
            "post_logout_redirect_uri": QUERY_URI,
            "state": "abc",
        },
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://rp.example/bye"
    assert _query(response) == {"lang": ["fr"], "x": ["1"], "state": ["abc"]}


def test_end_session_only_state_shows_a_page_and_ignores_state(
    client: FlaskClient, rp: OAuthClient
) -> None:
    user, sid = _logged_in(client)
    response = client.get(
        "/end-session", query_string={"id_token_hint": _hint(rp, user, sid), "state": "abc"}
    )
    assert response.status_code == 200 and "Location" not in response.headers
    assert "Vous êtes déconnecté" in response.get_data(as_text=True)
    assert _session_ended(sid)


def test_end_session_expired_hint_is_accepted(client: FlaskClient, rp: OAuthClient) -> None:
    """RP-Initiated Logout §2: an ID token past its exp still identifies the session."""
    user, sid = _logged_in(client)
    now = int(time.time())
    hint = _hint(rp, user, sid, iat=now - 7200, exp=now - 3600, auth_time=now - 7200)
    response = client.get(
        "/end-session", query_string={"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_URI}
    )
    assert response.status_code == 302 and response.headers["Location"] == LOGOUT_URI
    assert _session_ended(sid)


def test_end_session_es256_hint_with_client_id(client: FlaskClient, rp: OAuthClient) -> None:
    user, sid = _logged_in(client)
    hint = sign_id_token(rp.client_id, sub=user.subject, sid=sid, alg="ES256")
    response = client.get(
        "/end-session",
        query_string={
            "id_token_hint": hint,
            "client_id": rp.client_id,
            "post_logout_redirect_uri": LOGOUT_URI,
        },
    )
    assert response.status_code == 302 and _session_ended(sid)


def test_end_session_rp_may_post_the_request_without_a_form_token(
    client: FlaskClient, rp: OAuthClient
) -> None:
    """RP-Initiated Logout §2: the OP supports POST too; the RP's form has no CSRF token of
    ours, and none is needed for a request carrying a valid hint."""
    user, sid = _logged_in(client)
    response = client.post(
        "/end-session",
        data={
            "id_token_hint": _hint(rp, user, sid),
            "post_logout_redirect_uri": LOGOUT_URI,
            "state": "s",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == LOGOUT_URI + "?state=s"
    assert _session_ended(sid)


def test_end_session_hint_without_session_redirects_and_ends_nothing(
    client: FlaskClient, rp: OAuthClient
) -> None:
    user = create_user("camille.martin")
    response = client.get(
        "/end-session",
        query_string={
            "id_token_hint": _hint(rp, user, "an-old-sid"),
            "post_logout_redirect_uri": LOGOUT_URI,
            "state": "s",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == LOGOUT_URI + "?state=s"


# --- post_logout_redirect_uri: exact match or an error page (pitfall 12) -----------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/logged-out",
        "https://rp.example/logged-out/",
        "https://rp.example/logged-out?x=1",
        "https://rp.example/logged-out#frag",
        "https://RP.example/logged-out",
        "http://rp.example/logged-out",
        "https://rp.example/logged-outx",
        "https://rp.example@evil.example/logged-out",
        "https://rp.example/bye?x=1&lang=fr",
        "https://rp.example/bye",
        "//evil.example",
        "javascript:alert(1)",
    ],
)
def test_end_session_unregistered_redirect_uri_is_an_error_page(
    client: FlaskClient, rp: OAuthClient, uri: str
) -> None:
    user, sid = _logged_in(client)
    response = client.get(
        "/end-session",
        query_string={
            "id_token_hint": _hint(rp, user, sid),
            "post_logout_redirect_uri": uri,
            "state": "s",
        },
    )
    _refused(response, "n'est pas enregistrée pour ce site")
    assert not _session_ended(sid) and _still_logged_in(client)


def test_end_session_another_clients_redirect_uri_is_refused(
    client: FlaskClient, rp: OAuthClient
) -> None:
    other = create_oauth_client(post_logout_redirect_uris=["https://other.example/bye"])
    user, sid = _logged_in(client)
    response = client.get(
        "/end-session",
        query_string={
            "id_token_hint": _hint(rp, user, sid),
            "post_logout_redirect_uri": other.post_logout_redirect_uris[0],
        },
    )
    _refused(response)
    # Naming the other client does not help: it is not the hint's audience.
    response = client.get(
        "/end-session",
        query_string={
            "id_token_hint": _hint(rp, user, sid),
            "client_id": other.client_id,
            "post_logout_redirect_uri": other.post_logout_redirect_uris[0],
        },
    )
    _refused(response, "mélange deux sites")
    assert not _session_ended(sid)


def test_end_session_redirect_uri_without_any_client_is_refused(client: FlaskClient) -> None:
    _, sid = _logged_in(client)
    response = client.get("/end-session", query_string={"post_logout_redirect_uri": LOGOUT_URI})
    _refused(response)
    assert not _session_ended(sid)


def test_end_session_unknown_or_disabled_client_is_refused(
    client: FlaskClient, rp: OAuthClient
) -> None:
    _logged_in(client)
    _refused(client.get("/end-session", query_string={"client_id": "nobody"}), "pas connu")
    disabled = create_oauth_client(post_logout_redirect_uris=[LOGOUT_URI], disabled=True)
    response = client.get(
        "/end-session",
        query_string={"client_id": disabled.client_id, "post_logout_redirect_uri": LOGOUT_URI},
    )
    _refused(response)


def test_end_session_repeated_parameter_is_refused(client: FlaskClient, rp: OAuthClient) -> None:
    user, sid = _logged_in(client)
    response = client.get(
        "/end-session",
        query_string=[
            ("id_token_hint", _hint(rp, user, sid)),
            ("post_logout_redirect_uri", LOGOUT_URI),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
    )
    _refused(response, "répète un paramètre")
    assert not _session_ended(sid)


# --- bad or modified id_token_hint (and security 32) --------------------------------------------


def _bad_hints(rp: OAuthClient, user: User, sid: str) -> dict[str, str]:
    good = _hint(rp, user, sid)
    header, claims, signature = token_parts(good)
    head, body, _ = good.split(".")
    other_user_claims = json.dumps({**claims, "sub": "someone-else"}).encode()
    rsa_public_pem = keys.current_signing_key("RS256").as_pem(private=False)
    return {
        "modified payload": f"{head}.{b64(other_user_claims)}.{signature}",
        "modified signature": f"{head}.{body}.{('A' if signature[0] != 'A' else 'B')}"
        f"{signature[1:]}",
        "alg none": unsigned_token(claims, {"alg": "none", "typ": "JWT"}),
        "alg none with our kid": unsigned_token(claims, {"alg": "none", "kid": header["kid"]}),
        "HS256 with the public key": hmac_token(claims, rsa_public_pem, header["kid"]),
        "unknown kid": _hint(rp, user, sid, header={"kid": "unknown"}),
        "foreign issuer": _hint(rp, user, sid, iss="https://evil.example"),
        "no sub": _hint(rp, user, sid, without=("sub",)),
        "not a JWT": "not-a-token",
        "five parts (JWE shape)": "a.b.c.d.e",
        "empty parts": "..",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "modified payload",
        "modified signature",
        "alg none",
        "alg none with our kid",
        "HS256 with the public key",
        "unknown kid",
        "foreign issuer",
        "no sub",
        "not a JWT",
        "five parts (JWE shape)",
        "empty parts",
    ],
)
def test_end_session_bad_or_modified_hint_is_an_error_page(
    client: FlaskClient, rp: OAuthClient, kind: str
) -> None:
    user, sid = _logged_in(client)
    hint = _bad_hints(rp, user, sid)[kind]
    for params in (
        {"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_URI, "state": "s"},
        {"id_token_hint": hint},
    ):
        response = client.get("/end-session", query_string=params)
        _refused(response, "ne reconnaît pas")
    assert not _session_ended(sid) and _still_logged_in(client)


def test_end_session_hint_signed_by_a_foreign_key_is_refused(
    client: FlaskClient, rp: OAuthClient
) -> None:
    """Same kid, same claims, signed with a key that is not ours."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    user, sid = _logged_in(client)
    header, claims, _ = token_parts(_hint(rp, user, sid))
    foreign = RSAKey.generate_key(2048)
    forged = jwt.encode({"alg": "RS256", "kid": header["kid"]}, claims, foreign)
    _refused(
        client.get(
            "/end-session",
            query_string={"id_token_hint": forged, "post_logout_redirect_uri": LOGOUT_URI},
        )
    )
    assert not _session_ended(sid)


# --- without a valid hint (or for another session): confirm first ------------------------------


def test_end_session_no_parameters_asks_for_confirmation(client: FlaskClient) -> None:
    _, sid = _logged_in(client)
    response = client.get("/end-session")
    assert response.status_code == 200
    assert CONFIRMATION in response.get_data(as_text=True)
    assert not _session_ended(sid) and _still_logged_in(client)


def test_end_session_no_parameters_without_session_says_logged_out(client: FlaskClient) -> None:
    response = client.get("/end-session")
    assert response.status_code == 200 and "Location" not in response.headers
    assert "Vous êtes déconnecté" in response.get_data(as_text=True)


def test_end_session_confirmation_post_logs_out(client: FlaskClient) -> None:
    _, sid = _logged_in(client)
    page = client.get("/end-session").get_data(as_text=True)
    response = client.post("/end-session", data={"csrf_token": csrf_in(page), "confirm": "1"})
    assert response.status_code == 200
    assert "Vous êtes déconnecté" in response.get_data(as_text=True)
    assert _session_ended(sid) and not _still_logged_in(client)


def test_end_session_confirmation_without_form_token_is_refused(client: FlaskClient) -> None:
    """A cross-site form cannot log anyone out without a hint: the confirmation is CSRF
    protected."""
    _, sid = _logged_in(client)
    for data in ({"confirm": "1"}, {"confirm": "1", "csrf_token": "forged"}):
        response = client.post("/end-session", data=data)
        assert response.status_code == 400 and "Location" not in response.headers
    assert not _session_ended(sid) and _still_logged_in(client)


def test_end_session_client_id_without_hint_confirms_then_redirects(
    client: FlaskClient, rp: OAuthClient
) -> None:
    _, sid = _logged_in(client)
    params = {"client_id": rp.client_id, "post_logout_redirect_uri": LOGOUT_URI, "state": "s1"}
    page = client.get("/end-session", query_string=params)
    page_html = page.get_data(as_text=True)
    assert page.status_code == 200 and CONFIRMATION in page_html
    assert "Bibliothèque de l&#39;Ordre" in page_html
    assert not _session_ended(sid)

    response = client.post(
        "/end-session", data={**params, "confirm": "1", "csrf_token": csrf_in(page_html)}
    )

    assert response.status_code == 302 and response.headers["Location"] == LOGOUT_URI + "?state=s1"
    assert _session_ended(sid)


def test_end_session_confirmation_revalidates_the_redirect_uri(
    client: FlaskClient, rp: OAuthClient
) -> None:
    """The hidden fields of the confirmation page are the request again: tampering with the
    URI there gets the error page too."""
    _, sid = _logged_in(client)
    params = {"client_id": rp.client_id, "post_logout_redirect_uri": LOGOUT_URI}
    page_html = client.get("/end-session", query_string=params).get_data(as_text=True)
    response = client.post(
        "/end-session",
        data={
            **params,
            "post_logout_redirect_uri": "https://evil.example/",
            "confirm": "1",
            "csrf_token": csrf_in(page_html),
        },
    )
    _refused(response)
    assert not _session_ended(sid)


def test_end_session_hint_for_another_session_asks_for_confirmation(
    client: FlaskClient, rp: OAuthClient
) -> None:
    user, sid = _logged_in(client)
    response = client.get(
        "/end-session",
        query_string={
            "id_token_hint": _hint(rp, user, "another-session"),
            "post_logout_redirect_uri": LOGOUT_URI,
        },
    )
    assert response.status_code == 200 and CONFIRMATION in response.get_data(as_text=True)
    assert not _session_ended(sid)


def test_end_session_hint_of_another_user_asks_for_confirmation(
    client: FlaskClient, rp: OAuthClient
) -> None:
    other = create_user("marie.curie")
    _, sid = _logged_in(client)
    response = client.get(
        "/end-session",
        query_string={
            "id_token_hint": _hint(rp, other, None),
            "post_logout_redirect_uri": LOGOUT_URI,
        },
    )
    assert response.status_code == 200 and CONFIRMATION in response.get_data(as_text=True)
    assert not _session_ended(sid)


def test_end_session_hint_without_sid_names_the_user(client: FlaskClient, rp: OAuthClient) -> None:
    user, sid = _logged_in(client)
    response = client.get(
        "/end-session",
        query_string={
            "id_token_hint": _hint(rp, user, None),
            "post_logout_redirect_uri": LOGOUT_URI,
        },
    )
    assert response.status_code == 302 and _session_ended(sid)


def test_end_session_ui_locales_chooses_the_page_language(client: FlaskClient) -> None:
    _logged_in(client)
    english = client.get("/end-session", query_string={"ui_locales": "en-GB fr"})
    assert '<html lang="en">' in english.get_data(as_text=True)
    french = client.get("/end-session", query_string={"ui_locales": "de fr"})
    assert '<html lang="fr">' in french.get_data(as_text=True)


def test_end_session_hostile_client_name_is_escaped(client: FlaskClient) -> None:
    hostile = create_oauth_client(
        '<script>alert(1)</script>"><img src=x onerror=alert(2)>',
        post_logout_redirect_uris=[LOGOUT_URI],
    )
    _logged_in(client)
    page_html = client.get("/end-session", query_string={"client_id": hostile.client_id}).get_data(
        as_text=True
    )
    assert "<script>alert(1)" not in page_html and "<img src=x" not in page_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_html


# --- with the real code flow ------------------------------------------------------------------


def test_end_session_after_a_real_code_flow_notifies_every_client_of_the_session(
    client: FlaskClient,
) -> None:
    """Security 36 end to end: two sites log in through /authorize in one IdP session; the
    first one's RP-initiated logout (its real ID token as hint) redirects to its registered
    URI with state, and each site receives a logout token naming the session (sid, sub), with
    its own aud and no nonce."""
    from idp.oidc.backchannel import LOGOUT_EVENT, deliver_pending_logouts
    from tests.idp.oidc.helpers import code_flow, decode_id_token, register_client, sign_in
    from tests.idp.oidc.logout_rows import logout_receiver

    with logout_receiver() as (site_a, uri_a), logout_receiver() as (site_b, uri_b):
        rp_a = register_client(
            name="Site A", post_logout_redirect_uris=[LOGOUT_URI], backchannel_logout_uri=uri_a
        )
        rp_b = register_client(
            name="Site B",
            redirect_uris=["https://b.example/callback"],
            backchannel_logout_uri=uri_b,
        )
        sign_in(client)
        flow_a = code_flow(client, rp_a)
        flow_b = code_flow(client, rp_b)
        id_claims = decode_id_token(flow_a.id_token)
        assert decode_id_token(flow_b.id_token)["sid"] == id_claims["sid"]

        response = client.get(
            "/end-session",
            query_string={
                "id_token_hint": flow_a.id_token,
                "post_logout_redirect_uri": LOGOUT_URI,
                "state": "bye",
            },
        )

        assert response.status_code == 302
        assert response.headers["Location"] == LOGOUT_URI + "?state=bye"
        assert _session_ended(id_claims["sid"]) and not _still_logged_in(client)
        report = deliver_pending_logouts(db.session)
        assert report.delivered == 2
        for site, rp in ((site_a, rp_a), (site_b, rp_b)):
            (token,) = site.tokens()
            header, _, _ = token_parts(token)
            assert header["typ"] == "logout+jwt"
            logout_claims = decode_id_token(token)  # our signature, RS256/ES256
            assert logout_claims["iss"] == id_claims["iss"] and logout_claims["aud"] == rp.client_id
            assert logout_claims["sid"] == id_claims["sid"]
            assert logout_claims["sub"] == id_claims["sub"]
            assert logout_claims["events"] == {LOGOUT_EVENT: {}}
            assert {"iat", "exp", "jti"} <= set(logout_claims) and "nonce" not in logout_claims
        grants = list(db.session.scalars(select(Grant)))
        assert len(grants) == 2 and {g.revoke_reason for g in grants} == {"session_ended"}


def test_end_session_cross_site_post_without_cookie_becomes_a_get(
    app: Flask, rp: OAuthClient
) -> None:
    """A relying party's form POST is cross-site: the browser sends no SameSite=Lax cookie
    with it. The IdP answers 303 to the same request as a GET (a top-level navigation, which
    carries the cookie) instead of redirecting away with the session still open."""
    browser = app.test_client()
    user, sid = _logged_in(browser)
    params = {
        "id_token_hint": _hint(rp, user, sid),
        "post_logout_redirect_uri": LOGOUT_URI,
        "state": "s",
    }
    without_cookie = app.test_client()

    response = without_cookie.post("/end-session", data=params)

    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/end-session" and not location.netloc
    assert {k: v[0] for k, v in parse_qs(location.query).items()} == params
    assert not _session_ended(sid)
    followed = browser.get(response.headers["Location"])
    assert followed.status_code == 302 and followed.headers["Location"] == LOGOUT_URI + "?state=s"
    assert _session_ended(sid)
    # A bad request is refused on the POST itself, never bounced.
    _refused(
        without_cookie.post(
            "/end-session", data={**params, "post_logout_redirect_uri": "https://evil.example/"}
        )
    )
