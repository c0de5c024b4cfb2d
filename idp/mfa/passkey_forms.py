"""WTForms of the passkey pages (field checks only; the name's rules live in idp.mfa.passkeys)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from idp.accounts.forms import REQUIRED, SesameForm
from idp.mfa.passkeys import NAME_MAX


class PasskeyNameForm(SesameForm):
    """Rename a passkey (its list on « Sécurité avancée », or its own page after an error)."""

    name = StringField(
        _l("Nom de la clé d'accès"),
        description=_l(
            "Un nom qui vous aide à la reconnaître, par exemple « Téléphone » ou « Ordinateur du "
            "cabinet » (60 caractères au plus)."
        ),
        validators=[
            DataRequired(REQUIRED),
            Length(max=NAME_MAX, message=_l("60 caractères au plus.")),
        ],
        render_kw={"maxlength": NAME_MAX, "autocomplete": "off"},
    )
