"""API operations: deposits (filled in by issue 17)."""
