"""A software WebAuthn authenticator for the tests: an EC P-256 key per credential (cryptography),
"none" attestation (cbor2), a sign counter, and the UP/UV/BE/BS flags. It answers the options
JSON that idp.mfa.passkeys produces with the credential JSON a browser's `toJSON()` gives, so
the Flask test client can run whole ceremonies.

Knobs for hostile cases: `origin` and `rp_id` (another site), `user_handle` (someone else's),
`counter_step` (0: an authenticator without counter), `clone()` (a copy with the same counter).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes.fromhex("00112233445566778899aabbccddeeff")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftAuthenticator:
    origin: str = "http://idp.test"
    user_verified: bool = True
    user_present: bool = True
    backup_eligible: bool = False
    backed_up: bool = False
    counter_step: int = 1
    credentials: dict[bytes, SoftCredential] = field(default_factory=dict)

    # --- helpers ---------------------------------------------------------------------------

    def _flags(self, *, attested: bool = False) -> int:
        flags = 0
        if self.user_present:
            flags |= UP
        if self.user_verified:
            flags |= UV
        if self.backup_eligible or self.backed_up:
            flags |= BE
        if self.backed_up:
            flags |= BS
        if attested:
            flags |= AT
        return flags

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": False,
            },
            separators=(",", ":"),
        ).encode()

    # --- navigator.credentials.create() ----------------------------------------------------

    def create(
        self,
        options: dict[str, Any],
        *,
        rp_id: str | None = None,
        origin: str | None = None,
        credential_id: bytes | None = None,
    ) -> dict[str, Any]:
        """Answer registration options (as JSON dict) with a new credential."""
        rp = rp_id or options["rp"]["id"]
        credential = SoftCredential(
            credential_id=credential_id or secrets.token_bytes(32),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp,
            user_handle=unb64url(options["user"]["id"]),
        )
        self.credentials[credential.credential_id] = credential
        attested = (
            AAGUID + len(credential.credential_id).to_bytes(2, "big") + credential.credential_id
        ) + credential.cose_public_key()
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(attested=True)])
            + credential.sign_count.to_bytes(4, "big")
            + attested
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "hybrid"],
            },
        }

    # --- navigator.credentials.get() -------------------------------------------------------

    def get(
        self,
        options: dict[str, Any],
        *,
        credential_id: bytes | None = None,
        rp_id: str | None = None,
        origin: str | None = None,
        user_handle: bytes | None = None,
    ) -> dict[str, Any]:
        """Answer authentication options with an assertion of `credential_id` (default: the
        first allowed credential we hold, else our only one)."""
        credential = self._choose(options, credential_id)
        credential.sign_count += self.counter_step
        rp = rp_id or options.get("rpId") or credential.rp_id
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags()])
            + credential.sign_count.to_bytes(4, "big")
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        handle = credential.user_handle if user_handle is None else user_handle
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(handle),
            },
        }

    def _choose(self, options: dict[str, Any], credential_id: bytes | None) -> SoftCredential:
        if credential_id is not None:
            return self.credentials[credential_id]
        for allowed in options.get("allowCredentials") or []:
            found = self.credentials.get(unb64url(allowed["id"]))
            if found is not None:
                return found
        assert len(self.credentials) == 1, "which credential? pass credential_id"
        return next(iter(self.credentials.values()))

    def clone(self) -> SoftAuthenticator:
        """A copy holding the same keys and counters (a cloned authenticator)."""
        copy = SoftAuthenticator(
            origin=self.origin,
            user_verified=self.user_verified,
            user_present=self.user_present,
            backup_eligible=self.backup_eligible,
            backed_up=self.backed_up,
            counter_step=self.counter_step,
        )
        copy.credentials = {
            key: SoftCredential(
                c.credential_id, c.private_key, c.rp_id, c.user_handle, c.sign_count
            )
            for key, c in self.credentials.items()
        }
        return copy
