"""idp/mail/models.py: outbox bodies hold live links until sent, so they are sealed at rest
(issue 11, defect 10); a body sealed under another SECRET_KEY reads as empty."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from sqlalchemy import text

from idp.extensions import db
from tests.factories import create_outbox_message
from tests.helpers import outbox


def _raw_bodies(message_id: int) -> tuple[str, str]:
    row = db.session.execute(
        text("SELECT body_text, body_html FROM mail_outbox WHERE id = :id"), {"id": message_id}
    ).one()
    return str(row[0]), str(row[1])


def test_mail_bodies_are_sealed_at_rest_and_read_back_in_clear(app: Flask) -> None:
    message = create_outbox_message()
    raw = _raw_bodies(message.id)
    assert all(body.startswith("sealed:") for body in raw)
    assert not any("/activate/" in body for body in raw)
    (stored,) = outbox()
    assert "http://idp.test/activate/x" in stored.body_text
    assert "http://idp.test/activate/x" in stored.body_html


def test_mail_blanked_bodies_stay_empty_at_rest(app: Flask) -> None:
    message = create_outbox_message()
    message.body_text = message.body_html = ""  # what delivery leaves of a sent message
    db.session.commit()
    assert _raw_bodies(message.id) == ("", "")


def test_mail_body_sealed_under_another_secret_key_reads_as_empty(
    app: Flask, configure, caplog: pytest.LogCaptureFixture
) -> None:
    create_outbox_message()
    configure(secret_key="another-secret-key-abcdefghijklmnopqrstuvwxyz0123")
    with caplog.at_level(logging.WARNING, logger="idp.mail"):
        (stored,) = outbox()
    assert stored.body_text == stored.body_html == ""
    assert "another SECRET_KEY" in caplog.text
