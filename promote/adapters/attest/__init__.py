"""DSSE envelopes around in-toto Statements: securesystemslib signs and verifies them.

- `EnvelopeSigner` (the domain's StatementSigner) checks the Statement with
  in-toto-attestation's `Statement.validate()`, wraps its JSON in a securesystemslib
  `dsse.Envelope` (`payloadType: application/vnd.in-toto+json`) and signs the envelope's
  pre-auth encoding through `RawSigner`, a securesystemslib `Signer` over a SigningKey port
  (KMS `MessageType=RAW`; securesystemslib's own AWSSigner signs a DIGEST, which the local AWS
  hashes a second time, so its signatures never verify offline).
- `EnvelopeVerifier` (the domain's StatementVerifier) verifies with securesystemslib's
  `SSlibKey` made from the key's public PEM (from KMS once per run, or pinned in promote.toml)
  and hands back the Statement exactly as signed (the payload's own JSON, not a protobuf round
  trip, which would turn every number into a float).

A key id is securesystemslib's default for the public key, so an envelope signed by any other
key names another key id and never verifies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib import exceptions
from securesystemslib.dsse import Envelope
from securesystemslib.signer import Signature, Signer, SSlibKey

from promote.domain.ports import Opened, SigningKey
from promote.errors import usage_error

PAYLOAD_TYPE = "application/vnd.in-toto+json"
SCHEME = "ecdsa-sha2-nistp256"


def public_key(pem: str) -> SSlibKey:
    """securesystemslib's key for a PEM public key (its default key id)."""
    return SSlibKey.from_crypto(load_pem_public_key(pem.encode()), scheme=SCHEME)


def encode(statement: Mapping[str, Any]) -> bytes:
    """The Statement's JSON as it is signed: compact, keys sorted."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def check_statement(document: Any) -> str | None:
    """Why DOCUMENT is not an in-toto Statement v1 (in-toto-attestation's rules), or None."""
    if not isinstance(document, dict):
        return "the payload is not a JSON object"
    try:
        proto = json_format.ParseDict(document, statement_pb2.Statement())
        Statement.copy_from_pb(proto).validate()
    except (json_format.ParseError, ValueError, TypeError) as exc:
        return f"not an in-toto Statement v1: {str(exc).splitlines()[0]}"
    return None


class RawSigner(Signer):
    """A securesystemslib Signer whose signature is the SigningKey's raw ECDSA signature."""

    def __init__(self, key: SigningKey) -> None:
        self.key = key
        self._public: SSlibKey | None = None

    @property
    def public_key(self) -> SSlibKey:
        """The key's public half (asked for once)."""
        if self._public is None:
            self._public = public_key(self.key.public_pem())
        return self._public

    @classmethod
    def from_priv_key_uri(
        cls, priv_key_uri: str, public_key: Any, secrets_handler: Any = None
    ) -> Any:
        """Not used: promote builds its signers from config, not key URIs."""
        raise NotImplementedError

    def sign(self, payload: bytes) -> Signature:
        """Sign PAYLOAD (the DSSE pre-auth encoding) as it is."""
        keyid = self.public_key.keyid
        return Signature(keyid, self.key.sign_raw(payload).hex())


class EnvelopeSigner:
    """StatementSigner: DSSE envelopes signed by one SigningKey."""

    def __init__(self, key: SigningKey) -> None:
        self.key_name = key.name
        self._signer = RawSigner(key)

    def ready(self) -> None:
        """The key exists and is a signing key (its public half is fetched and checked)."""
        _ = self._signer.public_key

    def sign(self, statement: Mapping[str, Any]) -> bytes:
        """The signed envelope around STATEMENT, as JSON."""
        problem = check_statement(dict(statement))
        if problem:
            raise usage_error(f"refusing to sign: {problem}")
        envelope = Envelope(encode(statement), PAYLOAD_TYPE, {})
        envelope.sign(self._signer)
        return json.dumps(envelope.to_dict(), sort_keys=True).encode()


class EnvelopeVerifier:
    """StatementVerifier: opens envelopes signed by one key (its PEM asked for once)."""

    def __init__(self, key_name: str, pem: Any) -> None:
        """PEM: a callable giving the public PEM (KMS, lazily) or the PEM text itself."""
        self.key_name = key_name
        self._pem = pem
        self._key: SSlibKey | None = None

    def _public(self) -> SSlibKey:
        if self._key is None:
            self._key = public_key(self._pem() if callable(self._pem) else str(self._pem))
        return self._key

    def open(self, body: bytes) -> Opened:
        """The Statement inside BODY when it is an envelope signed by this key."""
        try:
            document = json.loads(body)
        except ValueError:
            return Opened(problem="not JSON")
        if not isinstance(document, dict):
            return Opened(problem="not a JSON object")
        if "payloadType" not in document or "signatures" not in document:
            return Opened(problem="not signed (no DSSE envelope)", plain=document)
        try:
            envelope = Envelope.from_dict(document)
        except (KeyError, TypeError, ValueError, exceptions.FormatError) as exc:
            return Opened(problem=f"not a valid DSSE envelope ({type(exc).__name__})")
        if envelope.payload_type != PAYLOAD_TYPE:
            return Opened(problem=f"payloadType {envelope.payload_type!r} is not {PAYLOAD_TYPE}")
        try:
            envelope.verify([self._public()], 1)
        except (exceptions.VerificationError, ValueError):
            return Opened(problem=f"not signed by {self.key_name}")
        try:
            statement = json.loads(envelope.payload)
        except ValueError:
            return Opened(problem="the signed payload is not JSON")
        problem = check_statement(statement)
        if problem:
            return Opened(problem=problem)
        return Opened(statement=statement)


def pinned_pem(value: str, base: Path | None) -> str:
    """A pinned public key from promote.toml: PEM text, or a path to a PEM file (relative to
    the config file); a usage error (exit 2) when it is neither."""
    if value.lstrip().startswith("-----BEGIN"):
        text = value
    else:
        path = Path(value) if base is None or Path(value).is_absolute() else base / value
        try:
            text = path.read_text()
        except OSError as exc:
            raise usage_error(
                f"pinned public key {path} cannot be read: {exc.strerror}",
                "set evidence_public_key / event_public_key to a PEM file or the PEM itself",
            ) from exc
    try:
        public_key(text)
    except (ValueError, TypeError) as exc:
        raise usage_error(
            f"pinned public key {value[:40]!r} is not an ECC P-256 public key in PEM",
            "export it with: aws kms get-public-key --key-id KEY (then wrap the DER as PEM)",
        ) from exc
    return text
