"""access (see docs/adr/0024-client-portal.md)."""
