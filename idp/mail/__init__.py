"""Email: a transactional outbox and its delivery over SMTP (docs/security.md 53)."""
