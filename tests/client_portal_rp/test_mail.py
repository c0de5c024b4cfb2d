"""The portal's outbox: an email is written with the change and sent after the answer; an SMTP
outage loses nothing, and concurrent deliveries send each message once (SECURITY.md 53, for the
portal)."""

from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import select

from client_portal_rp import mail
from client_portal_rp.extensions import db
from client_portal_rp.models import OutboxMessage, utcnow
from tests.helpers import Inbox


def _queue(app: Flask, to: str = "claire@client.test") -> None:
    with app.test_request_context():
        mail.queue(
            to,
            "Invitation",
            "invitation",
            invitation=type("I", (), {"name": "<b>Claire</b>"})(),
            place="Boulangerie <Martin>",
            link="http://portal.test/invitations/x",
            inviter_name="Paul",
        )
        db.session.commit()


def test_portal_mail_smtp_outage_keeps_the_message_then_sends_it(
    portal_app: Flask, portal_smtp: Inbox
) -> None:
    port = portal_app.config["MAIL_PORT"]
    portal_app.config["MAIL_PORT"] = 9  # nothing listens: SMTP is down
    try:
        _queue(portal_app)
        assert mail.deliver_pending() == 0
    finally:
        portal_app.config["MAIL_PORT"] = port
    message = db.session.scalar(select(OutboxMessage))
    assert message is not None and message.sent_at is None and message.attempts == 1
    message.next_attempt_at = utcnow()  # the backoff has passed
    db.session.commit()
    assert mail.deliver_pending() == 1
    assert len(portal_smtp.messages) == 1
    body = portal_smtp.messages[0].get_body(("html",)).get_content()
    assert "&lt;b&gt;Claire&lt;/b&gt;" in body and "<b>Claire</b>" not in body
    assert mail.deliver_pending() == 0  # sent once


def test_portal_mail_concurrent_deliveries_send_each_message_once(
    committed_portal: Flask, smtp_server: Inbox
) -> None:
    smtp_server.clear()
    committed_portal.config["MAIL_PORT"] = smtp_server.port
    with committed_portal.app_context():
        for n in range(5):
            _queue(committed_portal, f"person{n}@client.test")
    barrier = threading.Barrier(4)

    def deliver() -> None:
        with committed_portal.app_context():
            barrier.wait()
            mail.deliver_pending()
            db.session.remove()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recipients = sorted(m["To"] for m in smtp_server.messages)
    assert recipients == sorted(f"person{n}@client.test" for n in range(5))
