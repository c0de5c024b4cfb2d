"""WTForms of the council import pages. The file's type is decided by its content (an XLSX is a
ZIP archive; a CSV is text), not by its name or the browser's Content-Type alone."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField
from wtforms.validators import DataRequired, ValidationError

from idp.accounts.forms import REQUIRED, SesameForm

UPLOAD_MAX_BYTES = 20 * 1024 * 1024
UPLOAD_MAX_LABEL = _l("%(megabytes)d Mo", megabytes=UPLOAD_MAX_BYTES // (1024 * 1024))
# The request may carry the form's other fields besides the file.
UPLOAD_REQUEST_MAX_BYTES = UPLOAD_MAX_BYTES + 256 * 1024

TOO_BIG = _l("Le fichier dépasse la taille maximale (%(max)s).", max=UPLOAD_MAX_LABEL)
EMPTY = _l("Le fichier est vide.")
NO_FILE = _l("Choisissez le fichier du tableau à importer.")
WRONG_TYPE = _l("Format non pris en charge : envoyez un fichier CSV ou XLSX (Excel).")
OLD_EXCEL = _l(
    "Les fichiers .xls (Excel 97-2003) ne sont pas pris en charge : enregistrez le fichier "
    "au format .xlsx ou CSV."
)

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls and other Office 97-2003 files
_CSV_SUFFIXES = (".csv", ".txt", ".tsv")


class ImportUploadForm(SesameForm):
    council = SelectField(_l("Conseil régional"), validators=[DataRequired(REQUIRED)])
    file = FileField(
        _l("Fichier du tableau"),
        render_kw={"accept": ".csv,.xlsx"},
    )
    full = BooleanField(_l("Import complet (les absents sont radiés)"))
    allow_partial = BooleanField(_l("Appliquer les lignes valides même s'il y a des erreurs"))

    content: bytes = b""

    def validate_file(self, field: Any) -> None:
        """Read the file (at most one byte over the limit) and check what it is."""
        storage = field.data
        if storage is None or not getattr(storage, "filename", None):
            raise ValidationError(NO_FILE)
        content = storage.stream.read(UPLOAD_MAX_BYTES + 1)
        if len(content) > UPLOAD_MAX_BYTES:
            raise ValidationError(TOO_BIG)
        if not content.strip():
            raise ValidationError(EMPTY)
        check_type(storage.filename, content)
        self.content = content


def check_type(file_name: str, content: bytes) -> None:
    """XLSX: a .xlsx name and a ZIP archive; CSV: a text name and no binary content."""
    name = file_name.lower()
    if content.startswith(_OLE):
        raise ValidationError(OLD_EXCEL)
    if name.endswith(".xlsx"):
        if not content.startswith(_ZIP):
            raise ValidationError(WRONG_TYPE)
        return
    if not name.endswith(_CSV_SUFFIXES) or content.startswith(_ZIP) or _looks_binary(content):
        raise ValidationError(WRONG_TYPE)


def _looks_binary(content: bytes) -> bool:
    """NUL bytes or many control characters in the first 8 KiB: not a text file."""
    head = content[:8192]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return controls > len(head) // 100
