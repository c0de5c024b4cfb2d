"""Local development: `make run` starts the IdP, the portal, the outbox worker and a mailbox."""
