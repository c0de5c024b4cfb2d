"""API operations: docs (filled in by issue 17)."""
