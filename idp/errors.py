"""The base of every domain error: a French message a page can show, and the HTTP status the
page answers with. Views catch `DomainError`, show `message` and answer `status` (one place
decides that a throttled action is a 429: the error itself)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l


class DomainError(Exception):
    """`message` is safe to show to the user; `status` is the page's HTTP status."""

    default_message = _l("Une erreur est survenue.")
    status = 200  # the form is shown again, with the message

    def __init__(self, message: str | None = None) -> None:
        self.message = str(message if message is not None else self.default_message)
        super().__init__(self.message)
