"""Queueing emails. Rendering happens now (in the request's language); sending happens later."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, render_template

from idp.database import DbSession
from idp.mail.models import OutboxMessage


def enqueue(
    session: DbSession,
    *,
    template: str,
    recipient: str,
    context: dict[str, Any],
    user_id: int | None = None,
) -> OutboxMessage:
    """Render `mail/<template>.{subject.txt,txt,html}` and add the message to the outbox.

    The caller commits: the message exists if and only if the change it announces exists.
    The Message-ID is fixed here, so every retry of this message carries the same one.
    """
    if not recipient or any(c in recipient for c in "\r\n,;"):
        raise ValueError("an outbox recipient is one address without line breaks")
    subject = render_template(f"mail/{template}.subject.txt", **context).strip()
    body_text = render_template(f"mail/{template}.txt", **context)
    body_html = render_template(f"mail/{template}.html", **context)
    domain = urlsplit(current_app.config["IDP_ISSUER"]).hostname or "sesame.localhost"
    message = OutboxMessage(
        message_id=f"<{secrets.token_hex(16)}@{domain}>",
        template=template,
        recipient=recipient,
        subject=" ".join(subject.split())[:300],  # one header line, the column's size
        body_text=body_text,
        body_html=body_html,
        user_id=user_id,
    )
    session.add(message)
    return message
