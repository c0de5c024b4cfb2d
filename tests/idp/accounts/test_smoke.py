from tests.factories import create_user
from tests.helpers import login


def test_login_then_account_page_shows_username(client):
    create_user("jean.dupont")
    response = login(client, "Jean.Dupont")
    assert response.status_code == 302
    page = client.get("/account").get_data(as_text=True)
    assert "jean.dupont" in page


def test_signup_sends_activation_mail_over_smtp(client, smtp):
    from idp.extensions import db
    from idp.mail.delivery import deliver_pending
    from tests.helpers import signup

    response = signup(client)
    assert response.status_code == 302
    assert deliver_pending(db.session).sent == 1
    assert smtp.links("marie@cabinet.example")[0].startswith("http://idp.test/activate/")
