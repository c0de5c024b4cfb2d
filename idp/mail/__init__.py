"""Email: a transactional outbox and its delivery over SMTP (SECURITY.md 53)."""
