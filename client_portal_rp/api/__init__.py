"""`/api/v1`: the portal's features as JSON, for the installable app, a native app or a firm's own
tools (docs/adr/0026-portal-api-and-app.md).

- Generated OpenAPI 3.1 document at `/api/v1/openapi.json` (APIFlask: the portal's app class),
  reference page at `/api/v1/docs` (assets vendored under static/vendor/).
- Bearer access tokens of Sésame only (auth.py): no cookies, so no CSRF; scopes per module; the
  same tenancy decision as the pages.
- Errors are RFC 9457 problem details with a French title (problems.py), lists are paginated by
  cursor (pagination.py), every answer carries the token's RateLimit headers (ratelimit.py).

The operations live in one module per domain (companies, deposits, archives, accesses), each
calling the same services as the pages.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, APIFlask
from apiflask.exceptions import HTTPError
from flask import Flask, Response, g, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from client_portal_rp.api.problems import (
    default_title,
    from_http_exception,
    invalid_parameters,
    problem_response,
)
from client_portal_rp.api.ratelimit import init_rate_limiter

PREFIX = "/api/v1"
SECURITY_SCHEME = "sesame"

bp = APIBlueprint("api", __name__, url_prefix=PREFIX, enable_openapi=True)

# APIFlask's own arguments for the portal's app (client_portal_rp.create_app).
APP_OPTIONS: dict[str, Any] = {
    "title": "API du portail client",
    "version": "1",
    "spec_path": f"{PREFIX}/openapi.json",
    "docs_path": None,  # our own page, vendored assets (views in docs.py)
    "json_errors": False,  # the pages keep their HTML errors; the API's are problem+json
}
APP_CONFIG: dict[str, Any] = {
    "AUTO_200_RESPONSE": False,  # the pages are not part of the API document
    "AUTO_VALIDATION_ERROR_RESPONSE": True,
    "AUTO_404_RESPONSE": False,  # document_spec describes the 404s, in French
    "VALIDATION_ERROR_STATUS_CODE": 422,
    # The document's sections, in the portal's order (without it APIFlask adds an empty one
    # named after the blueprint, "Api").
    "TAGS": [
        {"name": "Entreprises", "description": "La personne du jeton et ses entreprises"},
        {"name": "Dépôts", "description": "Déposez vos documents"},
        {"name": "Archives", "description": "Accédez à vos archives"},
        {"name": "Compta", "description": "Consultez votre compta en ligne"},
        {"name": "Accès", "description": "Administrez vos accès (administrateurs et cabinet)"},
    ],
    "INFO": {
        "description": (
            "Le portail client en JSON : entreprises, dépôts de documents, archives, "
            "utilisateurs et droits. Authentification : jeton d'accès Sésame (OpenID Connect, "
            "code + PKCE) demandé pour la ressource de cette API (RFC 8707), avec les scopes "
            "des modules. Erreurs : RFC 9457 (application/problem+json)."
        ),
    },
}


def is_api_request() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def _field_errors(messages: dict[Any, Any], prefix: str, into: dict[str, list[str]]) -> None:
    """marshmallow's errors as field -> messages; a nested object's fields get dotted names
    (`modules.depot`), a list item's its index."""
    for name, value in messages.items():
        key = f"{prefix}{name}" if prefix and name != "_schema" else str(name)
        if prefix and name == "_schema":
            key = prefix.rstrip(".")
        if isinstance(value, dict):
            _field_errors(value, f"{key}.", into)
        else:
            texts = value if isinstance(value, list) else [value]
            into.setdefault(key, []).extend(str(text) for text in texts)


def _validation_problem(error: HTTPError) -> Response:
    """APIFlask's input validation and its `abort` as problem+json: a refused query string is
    400 `invalid_parameter` (as the views' own checks answer), a refused body 422."""
    errors: dict[str, list[str]] = {}
    detail = error.detail if isinstance(error.detail, dict) else {}
    for location in detail.values():
        if isinstance(location, dict):
            _field_errors(location, "", errors)
    status = int(error.status_code)
    if status == 422 and set(detail) == {"query"}:
        return invalid_parameters(errors).get_response()
    if status == 422:
        return problem_response(
            422,
            _("Données refusées"),
            _("Certains champs sont invalides : voir « errors »."),
            code="validation_error",
            errors=errors or None,
        )
    headers = {str(name): str(value) for name, value in dict(error.headers or {}).items()}
    return problem_response(status, str(error.message), headers=headers)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 : détail d'un problème (titre en français).",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Code stable, pour les programmes"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Champ → messages, pour des données refusées",
        },
        "request_id": {"type": "string"},
    },
}
# Every operation may answer these (token missing or refused, scope or right missing, rate
# limit); those with a path parameter also 404.
COMMON_ERRORS = {
    "401": "Jeton absent ou refusé, ou sécurité avancée requise (insufficient_user_authentication)",
    "403": "Autorisation (scope) ou droit manquant",
    "429": "Trop de requêtes pour ce jeton",
}
RATE_LIMIT_HEADERS = {
    "RateLimit-Policy": {
        "description": "Politique de limitation (draft-ietf-httpapi-ratelimit-headers)",
        "schema": {"type": "string"},
    },
    "RateLimit": {"description": "Requêtes restantes et délai", "schema": {"type": "string"}},
}


def document_spec(spec: dict[str, Any] | str) -> dict[str, Any] | str:
    """What APIFlask does not write itself: the bearer scheme, errors as problem+json (APIFlask
    documents them as application/json with its own schema), the errors every operation may
    answer, and the RateLimit headers."""
    if isinstance(spec, str):  # APIFlask passes the YAML text when asked for YAML: not ours
        return spec
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Jeton d'accès Sésame (RFC 9068) dont `aud` nomme cette API.",
    }
    spec["security"] = [{SECURITY_SCHEME: []}]
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            wanted = dict(COMMON_ERRORS)
            if "{" in path:
                wanted["404"] = "Introuvable, ou d'une autre entreprise"
            if operation.get("parameters") and any(
                p.get("in") == "query" for p in operation["parameters"]
            ):
                wanted["400"] = "Paramètre invalide"
            if "requestBody" in operation:
                wanted["400"] = "Requête invalide (corps illisible, ou paramètre invalide)"
            for code, description in wanted.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    response["content"] = problem
                    if response.get("description") in (
                        HTTP_STATUS_CODES.get(int(code)),
                        "Validation error",
                    ):
                        # APIFlask's English reason phrase: ours, in French
                        response["description"] = wanted.get(code) or default_title(int(code))
                else:
                    response.setdefault("headers", {}).update(RATE_LIMIT_HEADERS)
    return spec


def init_api(app: Flask) -> None:
    from client_portal_rp.api import views  # noqa: F401 - the operations, on `bp`
    from relying_party.views import csrf

    app.config.update(APP_CONFIG)
    init_rate_limiter(app)
    csrf.exempt(bp)
    app.register_blueprint(bp)
    if isinstance(app, APIFlask):
        app.error_processor(_validation_problem)

        app.spec_processor(document_spec)

    @app.after_request
    def api_headers(response: Response) -> Response:
        if not is_api_request():
            return response
        verdict = g.get("api_rate_limit")
        if verdict is not None:
            for name, value in verdict.headers().items():
                response.headers[name] = value
        response.headers.setdefault("Cache-Control", "no-store")
        response.vary.add("Authorization")
        return response


def api_error(error: HTTPException) -> Response:
    """The portal's error handlers call this for a request under /api/v1."""
    return from_http_exception(error)
