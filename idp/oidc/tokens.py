"""(issue 13, being built: see docs/adr/0021-oidc-provider.md, "Modules and their contracts")"""


def register(server: object) -> None:
    """Add the grants and token generator of this module to the authorization server."""
