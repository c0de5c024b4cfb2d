"""The OpenID Connect provider (Authlib): clients, keys, claims, consent, logout."""
