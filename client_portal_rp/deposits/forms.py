"""The deposit form's text fields. The files themselves are read by uploads.receive_upload
(streamed to disk), which also checks the CSRF token before the first file byte: this form's
own CSRF check is off (it would read the token a second time, and the XHR path may send it as
the X-CSRFToken header)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from client_portal_rp.deposits.services import MAX_COMMENT, MAX_PIECE_REF


class DepositForm(FlaskForm):
    class Meta:
        csrf = False  # checked by uploads.csrf_check while the body streams

    # The firm's type codes; checked against the firm's list by the view (services).
    type = StringField(
        _l("Type de document"),
        validators=[InputRequired(message=_l("Choisissez le type de document."))],
    )
    comment = TextAreaField(
        _l("Commentaire (facultatif)"),
        validators=[
            Length(max=MAX_COMMENT, message=_l("Le commentaire fait 2000 caractères au plus."))
        ],
    )
    # The accounting piece reference (FEC PieceRef, the invoice's number) the client may give.
    piece_ref = StringField(
        _l("Référence de la pièce (facultatif)"),
        validators=[
            Length(
                max=MAX_PIECE_REF,
                message=_l("La référence de la pièce fait 100 caractères au plus."),
            )
        ],
    )
    piece_request = HiddenField()
