"""Usernames: canonical form, syntax and reserved names (docs/security.md 5).

The canonical form is NFKC(casefold(NFKC(raw))): `Jean.Dupont`, `jean.dupont` and the
full-width `ｊｅａｎ.ｄｕｐｏｎｔ` are the same username. Only the canonical form is stored, and
a unique index on it makes the uniqueness race-safe.
"""

from __future__ import annotations

import re
import unicodedata

from flask_babel import lazy_gettext as _l

from idp.accounts.errors import InvalidUsername

MIN_LENGTH = 3
MAX_LENGTH = 30
_ALLOWED = re.compile(r"^[a-z0-9._-]+$")
_ALNUM_START_END = re.compile(r"^[a-z0-9](?:.*[a-z0-9])?$")


# Names of authority: refused also as a part ("sesame.support"), without separators
# ("no.reply") and with digits added ("postmaster1"), since they would let an account pass for
# the service, the Order or its staff in an email or on a partner site.
AUTHORITY_WORDS = frozenset(
    {
        "admin",
        "administrateur",
        "administrator",
        "root",
        "support",
        "ordre",
        "cnoec",
        "croec",
        "sesame",
        "comptexpert",
        "system",
        "systeme",
        "security",
        "securite",
        "postmaster",
        "hostmaster",
        "webmaster",
        "abuse",
        "noreply",
        "mailerdaemon",
        "staff",
        "moderator",
        "moderateur",
        "helpdesk",
        "official",
        "officiel",
    }
)
# Names of the service, its paths and generic words: refused as the whole username.
RESERVED_USERNAMES = AUTHORITY_WORDS | frozenset(
    {
        "oec",
        "cro",
        "no-reply",
        "mailer-daemon",
        "contact",
        "help",
        "aide",
        "info",
        "null",
        "none",
        "anonymous",
        "anonyme",
        "test",
        "api",
        "www",
        "mail",
        "login",
        "logout",
        "signup",
        "account",
        "compte",
        "oauth",
        "oidc",
        "openid",
        "well-known",
        "static",
        "assets",
        "me",
        "self",
        "user",
        "users",
        "utilisateur",
    }
)
_SEPARATORS = re.compile(r"[._-]+")
_TRAILING_DIGITS = re.compile(r"\d+$")


def is_reserved(name: str) -> bool:
    """Exact reserved names, and names built from a name of authority."""
    if name in RESERVED_USERNAMES:
        return True
    collapsed = _TRAILING_DIGITS.sub("", _SEPARATORS.sub("", name))
    if collapsed in RESERVED_USERNAMES or collapsed in AUTHORITY_WORDS:
        return True
    parts = (_TRAILING_DIGITS.sub("", part) for part in _SEPARATORS.split(name))
    return any(part in AUTHORITY_WORDS for part in parts)


def canonical_username(raw: str) -> str:
    """The stored, compared form of a username."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw).casefold()).strip()


def validate_username(raw: str) -> str:
    """Return the canonical username, or raise InvalidUsername with a precise French message."""
    name = canonical_username(raw)
    if not MIN_LENGTH <= len(name) <= MAX_LENGTH:
        raise InvalidUsername(
            _l(
                "L'identifiant doit compter entre %(min)d et %(max)d caractères.",
                min=MIN_LENGTH,
                max=MAX_LENGTH,
            )
        )
    if not _ALLOWED.match(name):
        raise InvalidUsername(
            _l(
                "L'identifiant ne peut contenir que des lettres sans accent, des chiffres, "
                "le point, le tiret et le tiret bas."
            )
        )
    if not _ALNUM_START_END.match(name) or ".." in name:
        raise InvalidUsername(
            _l("L'identifiant doit commencer et finir par une lettre ou un chiffre.")
        )
    if is_reserved(name):
        raise InvalidUsername(_l("Cet identifiant est réservé. Choisissez-en un autre."))
    return name
