"""Authentication context class references (`acr`) the provider asserts and advertises.

`ACR_BASIC`: a password login. `ACR_ADVANCED`: a login with a second factor (the MFA work sets
it on the session and satisfies `acr_values` / an essential `acr` claim with it).
"""

from __future__ import annotations

ACR_BASIC = "urn:sesame:acr:pwd"
ACR_ADVANCED = "urn:sesame:acr:mfa"

# Weakest first: a request for one is satisfied by it or any stronger one.
ACR_VALUES: tuple[str, ...] = (ACR_BASIC, ACR_ADVANCED)
