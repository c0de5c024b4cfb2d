"""The API's errors: RFC 9457 problem details (`application/problem+json`) with a French `title`
(English when the request's Accept-Language prefers it) and, for a form that was refused, the
fields and their messages in `errors`."""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"


class Problem(HTTPException):
    """Raise one anywhere in an API view: the error handler answers it as problem+json."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description=detail or title)
        self.code = status
        self.title = title
        self.detail = detail
        self.problem_code = code
        self.errors = errors
        self.extra_headers = headers or {}
        self.extra = extra or {}

    def get_response(self, environ: Any = None, scope: Any = None) -> Response:
        return problem_response(
            int(self.code or 500),
            self.title,
            self.detail,
            code=self.problem_code,
            errors=self.errors,
            headers=self.extra_headers,
            extra=self.extra,
        )


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    code: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail and detail != title:
        body["detail"] = detail
    if code:
        body["code"] = code
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def default_title(status: int) -> str:
    """A French title for an HTTP status the views did not describe themselves."""
    titles = {
        400: _("Requête invalide"),
        401: _("Authentification requise"),
        403: _("Accès refusé"),
        404: _("Ressource introuvable"),
        405: _("Méthode non permise"),
        406: _("Format de réponse non disponible"),
        409: _("Conflit"),
        413: _("Fichier trop volumineux"),
        415: _("Type de contenu non pris en charge"),
        422: _("Données refusées"),
        429: _("Trop de requêtes"),
        500: _("Erreur interne"),
        503: _("Service momentanément indisponible"),
    }
    return str(titles.get(status, _("Erreur")))


def from_http_exception(error: HTTPException) -> Response:
    """Werkzeug's HTTP errors (404 of an unknown route, 405...) as problem+json."""
    if isinstance(error, Problem):
        return error.get_response()
    status = int(error.code or 500)
    headers = {
        name: value
        for name, value in error.get_headers()
        if name.lower() in ("allow", "retry-after")
    }
    return problem_response(status, default_title(status), headers=headers)


def invalid_parameters(errors: dict[str, list[str]]) -> Problem:
    """Query-string parameters refused (400), whichever check found them: the views' own
    (deposits' filters, cursors) or APIFlask's query schemas. A refused body is 422."""
    return Problem(
        400,
        _("Paramètre invalide"),
        _("Certains paramètres sont invalides : voir « errors »."),
        code="invalid_parameter",
        errors=errors,
    )
