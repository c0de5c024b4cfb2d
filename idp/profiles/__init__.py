"""Signup profiles and their matching against the Order's registry (matching: next issue)."""
