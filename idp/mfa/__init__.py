"""Second factors and step-up ("sécurité avancée"): TOTP, recovery codes, passkeys, the
second-factor page, recent authentication, and the MFA policies. See
docs/adr/0022-second-factors-and-step-up.md."""
