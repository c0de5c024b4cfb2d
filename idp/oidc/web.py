"""The OpenID provider's two blueprints, and the modules that put routes on them.

- `protocol`: JSON endpoints for clients (discovery, JWKS, token, userinfo, revocation,
  introspection): a `ProtocolBlueprint` (ADR 0014: no CSRF, JSON errors).
- `pages`: what a person's browser sees (the authorization endpoint, consent, error pages,
  RP-initiated logout): HTML pages with CSRF on their forms.

Each route module imports these blueprints and decorates its views; `init_oidc` imports the
modules before registering the blueprints. See docs/adr/0021-oidc-provider.md.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from idp.web import ProtocolBlueprint

protocol = ProtocolBlueprint("oidc", __name__)
pages = Blueprint("oidc_pages", __name__)

# The modules that add routes (each owns its endpoints; see ADR 0021 for the URL paths).
ROUTE_MODULES = (
    "idp.oidc.discovery",  # /.well-known/openid-configuration, /jwks
    "idp.oidc.views",  # /authorize (pages), /token
    "idp.oidc.resource",  # /userinfo, /revoke, /introspect
    "idp.oidc.logout",  # /end-session
)


def init_oidc(app: Flask) -> None:
    import importlib

    for module in ROUTE_MODULES:
        importlib.import_module(module)
    from idp.oidc.server import init_server

    init_server(app)
    app.register_blueprint(protocol)
    app.register_blueprint(pages)
    from idp.oidc.admin import bp as admin_pages  # /admin/clients (the Order's administrators)

    app.register_blueprint(admin_pages)
