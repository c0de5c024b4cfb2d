"""(issue 13, being built: see idp/oidc/web.py and docs/adr/0021-oidc-provider.md)"""
