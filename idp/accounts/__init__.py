"""Accounts: users, passwords, server-side sessions, activation and password reset."""
