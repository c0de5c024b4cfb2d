"""API operations: accesses (filled in by issue 17)."""
