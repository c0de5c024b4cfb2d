"""Login through Sésame for our relying parties: the client portal and the sample partner sites.

One small library, so the portal and the partner sites take the same code path (a bug fixed
once is fixed everywhere). It is a relying party like any other: it meets the IdP over HTTP only
and never imports `idp` (tests/client_portal_rp/test_boundaries.py checks it).

- `settings`: the client registration and site settings, read from `<PREFIX>_*` variables.
- `logins`: the relying party's own login records (a small SQL table): the browser's cookie
  names a record, a back-channel logout ends the records of an IdP session (`sid`).
- `logout_token`: verifying a back-channel logout token (OpenID Back-Channel Logout 1.0, 2.6).
- `views`: the `sso` blueprint (login, callback, logout, back-channel logout) on Authlib's
  Flask client (code flow, PKCE S256, discovery) and `current_login()`.
- `web`: the security headers both kinds of site send.
"""

from __future__ import annotations

from relying_party.logins import Login
from relying_party.settings import RelyingPartyConfigError, rp_config_from_env
from relying_party.views import current_login, init_relying_party

__all__ = [
    "Login",
    "RelyingPartyConfigError",
    "current_login",
    "init_relying_party",
    "rp_config_from_env",
]
