"""The API's reference page, `/api/v1/docs`: served under the portal's whole CSP, every asset
from the portal itself (Swagger UI vendored, pinned), no inline script or style, absent from the
OpenAPI document. tests/browser/test_portal_api_docs.py renders it in Chromium."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

from flask.testing import FlaskClient

import client_portal_rp
from client_portal_rp.api.docs import SWAGGER_UI_VERSION

STATIC = Path(client_portal_rp.__file__).parent / "static"
VENDOR = STATIC / "vendor" / "swagger-ui"


class Assets(HTMLParser):
    """The page's scripts, stylesheets and links, and any inline script or style."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "style" in found or any(name.startswith("on") for name in found):
            self.inline.append(f"<{tag}> attribute")
        if tag == "script":
            if found.get("src"):
                self.scripts.append(str(found["src"]))
            else:
                self.inline.append("<script> without src")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "link" and found.get("rel") == "stylesheet":
            self.stylesheets.append(str(found["href"]))


def read_page(client: FlaskClient) -> tuple[Assets, str]:
    answer = client.get("/api/v1/docs")
    assert answer.status_code == 200
    assert answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assets = Assets()
    assets.feed(page)
    return assets, page


def test_the_page_is_served_under_the_portals_whole_csp(api_client: FlaskClient) -> None:
    answer = api_client.get("/api/v1/docs")
    csp = answer.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_loads_only_local_assets_and_nothing_inline(api_client: FlaskClient) -> None:
    assets, page = read_page(api_client)
    assert assets.inline == []
    assert assets.scripts == [
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/js/api-docs.js",
    ]
    assert assets.stylesheets == [
        "/static/vendor/swagger-ui/swagger-ui.css",
        "/static/css/api-docs.css",
    ]
    assert re.findall(r"(?:src|href)=\"(?:https?:)?//", page) == []
    for url in assets.scripts + assets.stylesheets:
        served = api_client.get(url)
        assert served.status_code == 200, url
        assert served.data, url


def test_the_page_is_french_and_points_at_the_document(api_client: FlaskClient) -> None:
    _assets, page = read_page(api_client)
    assert '<html lang="fr">' in page
    assert "<h1>Référence de l'API du portail client</h1>" in html.unescape(page)
    assert 'data-spec-url="/api/v1/openapi.json"' in page
    assert f"Swagger UI {SWAGGER_UI_VERSION}" in page


def test_the_page_is_not_an_operation_of_the_document(api_client: FlaskClient) -> None:
    spec = api_client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/docs" not in spec["paths"]
    assert [tag["name"] for tag in spec["tags"]] == [
        "Entreprises",
        "Dépôts",
        "Archives",
        "Compta",
        "Accès",
    ]


def test_the_vendored_swagger_ui_is_the_pinned_version_with_its_licence() -> None:
    for name in (
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "LICENSE",
        "NOTICE",
        "swagger-ui-bundle.js.LICENSE.txt",
        "README.md",
        "VERSION",
    ):
        assert (VENDOR / name).is_file(), name
    assert (VENDOR / "VERSION").read_text().strip() == SWAGGER_UI_VERSION
    assert f"**{SWAGGER_UI_VERSION}**" in (VENDOR / "README.md").read_text()
    bundle = (VENDOR / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    assert f'PACKAGE_VERSION:"{SWAGGER_UI_VERSION}"' in bundle
    assert "Apache License" in (VENDOR / "LICENSE").read_text()
    # Only what the page uses: no source maps, no other bundles.
    assert sorted(path.name for path in VENDOR.iterdir()) == [
        "LICENSE",
        "NOTICE",
        "README.md",
        "VERSION",
        "swagger-ui-bundle.js",
        "swagger-ui-bundle.js.LICENSE.txt",
        "swagger-ui.css",
    ]


def test_the_init_script_fetches_nothing_from_elsewhere() -> None:
    script = (STATIC / "js" / "api-docs.js").read_text(encoding="utf-8")
    assert "://" not in script and "fetch(" not in script
    assert "validatorUrl: null" in script  # Swagger UI's default asks validator.swagger.io
    assert "persistAuthorization: false" in script
