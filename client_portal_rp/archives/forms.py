"""The publishing form's text fields (folder, exercice). The files are read by
uploads.receive_upload (streamed to disk), which also checks the CSRF token before the first file
byte is written: this form's own CSRF check is off (it would read the token a second time)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, StringField, ValidationError
from wtforms.validators import InputRequired

from client_portal_rp.archives.services import exercice_error, parse_exercice
from client_portal_rp.models import ArchiveFolder


class PublishForm(FlaskForm):
    class Meta:
        csrf = False  # checked by uploads.csrf_check while the body streams

    # One of ArchiveFolder's values (the template lists them); checked below.
    folder = StringField(
        _l("Dossier"),
        validators=[InputRequired(message=_l("Choisissez le dossier du document."))],
    )
    # A year typed as text: IntegerField's own message is English and says nothing useful.
    exercice = StringField(
        _l("Exercice (année de clôture)"),
        validators=[InputRequired(message=_l("Indiquez l'exercice (année de clôture)."))],
    )

    def validate_folder(self, field: Field) -> None:
        if field.data not in ArchiveFolder._value2member_map_:
            raise ValidationError(
                str(_l("Ce dossier n'existe pas (documents comptables, juridiques ou fiscaux)."))
            )

    def validate_exercice(self, field: Field) -> None:
        if parse_exercice(field.data or "") is None:
            raise ValidationError(exercice_error())

    @property
    def chosen_folder(self) -> ArchiveFolder:
        return ArchiveFolder(self.folder.data)

    @property
    def chosen_exercice(self) -> int:
        year = parse_exercice(self.exercice.data or "")
        assert year is not None  # validated
        return year
