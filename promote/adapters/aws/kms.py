"""KMS: the asymmetric keys that sign evidence and events (the domain's SigningKey).

Signatures are made with `MessageType=RAW` over the message itself (the DSSE pre-auth
encoding): KMS hashes it with SHA-256 and signs, so anyone holding the public key verifies the
envelope offline. RAW takes at most 4096 bytes; a longer message is refused here, before KMS is
asked. The public key is asked for once per run (kms:GetPublicKey) and must be an
ECC_NIST_P256 SIGN_VERIFY key; a missing key is exit 4, an unusable one exit 5.
"""

from __future__ import annotations

import base64
import textwrap

from promote.adapters.aws.session import Aws
from promote.errors import not_found, remote_error, usage_error

RAW_LIMIT = 4096
KEY_SPEC = "ECC_NIST_P256"
ALGORITHM = "ECDSA_SHA_256"


class KmsKey:
    """One KMS signing key, named by key id, alias or ARN."""

    def __init__(self, aws: Aws, name: str) -> None:
        self.aws = aws
        self.name = name
        self._pem: str | None = None

    def public_pem(self) -> str:
        """The public key (PEM), checked to be an ECC_NIST_P256 signing key; asked once."""
        if self._pem is None:
            client = self.aws.client("kms")
            doing = f"reading the public key of {self.name}"
            with self.aws.calling(doing, absorb=("NotFoundException",)) as call:
                answer = client.get_public_key(KeyId=self.name)
            if call.absorbed:
                raise not_found(
                    f"signing key {self.name} does not exist",
                    "set evidence_signing_key / event_signing_key in promote.toml, or seed the "
                    "local AWS: promote sandbox seed",
                )
            spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")
            if answer.get("KeyUsage") != "SIGN_VERIFY" or spec != KEY_SPEC:
                raise remote_error(
                    f"key {self.name} is {spec} for {answer.get('KeyUsage')}, not an "
                    f"{KEY_SPEC} SIGN_VERIFY key",
                    "create the key with --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY",
                )
            der = base64.b64encode(answer["PublicKey"]).decode()
            body = "\n".join(textwrap.wrap(der, 64))
            self._pem = f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"
        return self._pem

    def sign_raw(self, message: bytes) -> bytes:
        """KMS Sign with MessageType=RAW and ECDSA_SHA_256: a DER signature over MESSAGE."""
        if len(message) > RAW_LIMIT:
            raise usage_error(
                f"the statement to sign is {len(message)} bytes; KMS signs at most {RAW_LIMIT}",
                "this is a bug in promote: bulky detail belongs in the record's detail object",
            )
        client = self.aws.client("kms")
        with self.aws.calling(f"signing with {self.name}", absorb=("NotFoundException",)) as call:
            answer = client.sign(
                KeyId=self.name,
                Message=message,
                MessageType="RAW",
                SigningAlgorithm=ALGORITHM,
            )
        if call.absorbed:
            raise not_found(f"signing key {self.name} does not exist")
        signature: bytes = answer["Signature"]
        return signature
