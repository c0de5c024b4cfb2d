"""The API's reference page, `/api/v1/docs`: Swagger UI reading `/api/v1/openapi.json`, every
asset served by the portal itself (client_portal_rp/static/vendor/swagger-ui/, pinned version in
its README), started by our own static/js/api-docs.js: no CDN, no inline script or style. The
portal's CSP stays whole (`script-src 'self'`, `style-src 'self'`): Swagger UI 5 sets its inline
styles through the DOM (CSSOM), which `style-src` does not govern, and its sprites and icons are
`data:` images, which `img-src 'self' data:` allows (tests/browser/test_portal_api_docs.py
checks that the page renders without a CSP violation). Public, like the document itself."""

from __future__ import annotations

from flask import render_template

from client_portal_rp.api import APP_OPTIONS, bp

SWAGGER_UI_VERSION = "5.35.0"


@bp.get("/docs")
@bp.doc(hide=True)
def reference() -> str:
    return render_template(
        "api/docs.html",
        title=APP_OPTIONS["title"],
        spec_url=APP_OPTIONS["spec_path"],
        swagger_ui_version=SWAGGER_UI_VERSION,
    )
