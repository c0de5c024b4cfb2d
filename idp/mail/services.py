"""Queueing emails. Rendering happens now (in the request's language); sending happens later."""

from __future__ import annotations

import secrets
from typing import Any

from flask import current_app, render_template
from sqlalchemy.orm import Session

from idp.mail.models import OutboxMessage


def enqueue(
    session: Session,
    *,
    template: str,
    recipient: str,
    context: dict[str, Any],
    user_id: int | None = None,
) -> OutboxMessage:
    """Render `mail/<template>.{subject.txt,txt,html}` and add the message to the outbox.

    The caller commits: the message exists if and only if the change it announces exists.
    """
    subject = render_template(f"mail/{template}.subject.txt", **context).strip()
    body_text = render_template(f"mail/{template}.txt", **context)
    body_html = render_template(f"mail/{template}.html", **context)
    domain = current_app.config["IDP_ISSUER"].split("://", 1)[-1].split("/", 1)[0].split(":")[0]
    message = OutboxMessage(
        message_id=f"<{secrets.token_hex(16)}@{domain or 'sesame.localhost'}>",
        template=template,
        recipient=recipient,
        subject=" ".join(subject.split()),
        body_text=body_text,
        body_html=body_html,
        user_id=user_id,
    )
    session.add(message)
    return message
