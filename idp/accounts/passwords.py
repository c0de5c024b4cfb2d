"""Password hashing (argon2id) and the password policy (docs/security.md 3 and 4).

Policy (NIST SP 800-63B, CNIL 2022-100): 12 to 256 characters after NFKC normalisation, any
characters, no composition rule, no expiry; refused when it is a common password, when it is
built from the username, names or email, or when zxcvbn estimates it guessable in fewer than
10^10 attempts (CNIL's 50-bit floor for throttled logins is ~10^15; the length floor adds the rest).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from idp.accounts.errors import WeakPassword
from idp.config import Argon2Parameters

MIN_LENGTH = 12
MAX_LENGTH = 256
MIN_GUESSES_LOG10 = 10.0
ZXCVBN_MAX_LENGTH = 72
_IDENTITY_FRAGMENT_MIN = 4


def normalize_password(password: str) -> str:
    """Passwords are compared in NFKC form so that the same keystrokes always match."""
    return unicodedata.normalize("NFKC", password)


class PasswordHasher:
    """argon2id with configured parameters; one instance per app (`current_hasher()`)."""

    def __init__(self, params: Argon2Parameters) -> None:
        self.params = params
        self._hasher = Argon2Hasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost_kib,
            parallelism=params.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )

    def hash(self, password: str) -> str:
        return self._hasher.hash(normalize_password(password))

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when the password matches. A missing hash still costs one verification."""
        try:
            return self._hasher.verify(
                password_hash or self.dummy_hash, normalize_password(password)
            ) and (password_hash is not None)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    @functools.cached_property
    def dummy_hash(self) -> str:
        """A hash with the current parameters, verified for unknown users (equal timing)."""
        return self._hasher.hash("sesame-dummy-password-for-timing")


@functools.cache
def _common_passwords() -> frozenset[str]:
    french = resources.files("idp.accounts").joinpath("data/common_passwords_fr.txt")
    words = {w.strip().casefold() for w in french.read_text("utf-8").splitlines() if w.strip()}
    words.update(FREQUENCY_LISTS["passwords"])
    return frozenset(words)


@dataclass(frozen=True)
class PasswordContext:
    """What the person told us about themself, which their password must not be built from."""

    username: str = ""
    email: str = ""
    names: tuple[str, ...] = ()

    def fragments(self) -> Iterable[str]:
        local = self.email.split("@", 1)[0]
        for value in (self.username, local, *self.names):
            value = value.casefold().strip()
            if len(value) >= _IDENTITY_FRAGMENT_MIN:
                yield value
            for part in value.replace("-", ".").replace("_", ".").replace(" ", ".").split("."):
                if len(part) >= _IDENTITY_FRAGMENT_MIN:
                    yield part


def check_password_policy(password: str, context: PasswordContext | None = None) -> None:
    """Raise WeakPassword with a precise French reason, or return."""
    context = context or PasswordContext()
    normalized = normalize_password(password)
    # Length counts what was typed, and what is hashed: NFKC turns one U+FDFA into 18
    # characters, which must not make a one-keystroke password "long".
    if min(len(password), len(normalized)) < MIN_LENGTH:
        raise WeakPassword(
            _l("Le mot de passe doit compter au moins %(min)d caractères.", min=MIN_LENGTH)
        )
    if max(len(password), len(normalized)) > MAX_LENGTH:
        raise WeakPassword(
            _l("Le mot de passe doit compter au plus %(max)d caractères.", max=MAX_LENGTH)
        )
    folded = normalized.casefold()
    if folded in _common_passwords() or folded.strip() in _common_passwords():
        raise WeakPassword(
            _l(
                "Ce mot de passe fait partie des mots de passe les plus courants. "
                "Choisissez-en un autre."
            )
        )
    for fragment in context.fragments():
        if fragment in folded:
            raise WeakPassword(
                _l(
                    "Le mot de passe ne doit pas reprendre votre identifiant, votre nom "
                    "ou votre adresse email."
                )
            )
    # zxcvbn refuses over 72 characters (its cost grows fast): the first 72 must be strong.
    result = zxcvbn(normalized[:ZXCVBN_MAX_LENGTH], user_inputs=list(context.fragments()))
    if float(result["guesses_log10"]) < MIN_GUESSES_LOG10:
        raise WeakPassword(
            _l(
                "Ce mot de passe est trop facile à deviner (mots courants, suites de touches, "
                "répétitions). Allongez-le, par exemple avec une phrase de plusieurs mots."
            )
        )
