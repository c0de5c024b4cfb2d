"""deposits (see docs/adr/0024-client-portal.md).

The firm's routes (inbox, missing-piece requests: `firm_views`) are added to the deposits
blueprint `views.bp` here, at import, so that they are on it before any app registers it (a
blueprint refuses new routes once registered). Whoever imports `deposits.views` gets them.
"""

from client_portal_rp.deposits import firm_views as firm_views
