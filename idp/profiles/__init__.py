"""Signup profiles and their matching against the Order's registry (registry matching: next issue)."""
