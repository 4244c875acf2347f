"""Signing keys for tests that need no AWS: real ECDSA P-256 keys held in memory, signing the
way KMS does with MessageType=RAW (SHA-256 of the message, then ECDSA, DER-encoded)."""

from __future__ import annotations

from functools import cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from promote.adapters.attest import EnvelopeSigner, EnvelopeVerifier

EVIDENCE_KEY = "alias/promote-evidence"
EVENT_KEY = "alias/promote-events"


class LocalKey:
    """A SigningKey in memory (what KMS is to the real run)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.signed: list[bytes] = []

    def public_pem(self) -> str:
        """The public half as PEM."""
        return (
            self.private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign_raw(self, message: bytes) -> bytes:
        """ECDSA_SHA_256 over MESSAGE, as KMS Sign with MessageType=RAW."""
        assert len(message) <= 4096, f"KMS RAW signs at most 4096 bytes, got {len(message)}"
        self.signed.append(message)
        return self.private.sign(message, ec.ECDSA(hashes.SHA256()))


@cache
def key(name: str) -> LocalKey:
    """One key per name for the whole test session (evidence, events, or an attacker's)."""
    return LocalKey(name)


def signer(name: str = EVIDENCE_KEY) -> EnvelopeSigner:
    """Signs with the session's key NAME."""
    return EnvelopeSigner(key(name))


def verifier(name: str = EVIDENCE_KEY) -> EnvelopeVerifier:
    """Verifies with the session's key NAME."""
    return EnvelopeVerifier(name, key(name).public_pem)


def signing_ports() -> dict[str, object]:
    """The four signing ports of Services, on the session's evidence and event keys."""
    return {
        "evidence_signer": signer(EVIDENCE_KEY),
        "evidence_verifier": verifier(EVIDENCE_KEY),
        "event_signer": signer(EVENT_KEY),
        "event_verifier": verifier(EVENT_KEY),
    }
