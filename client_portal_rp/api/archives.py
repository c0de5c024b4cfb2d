"""API operations: archives (filled in by issue 17)."""
