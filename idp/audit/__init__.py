"""Audit trail: every security event, written in the transaction of the change it records."""
