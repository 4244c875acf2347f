"""KMS: RAW signatures only, at most 4096 bytes, the public key asked for once and checked."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from promote.adapters.aws.kms import KmsKey
from promote.errors import ExitCode, PromoteError
from tests.support.keys import key
from tests.support.stubs import StubbedAws

ALIAS = "alias/promote-evidence"


def _der() -> bytes:
    return (
        key("kms-test")
        .private.public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _public_key_answer(
    spec: str = "ECC_NIST_P256", usage: str = "SIGN_VERIFY"
) -> dict[str, object]:
    return {"KeyId": "k-1", "PublicKey": _der(), "KeySpec": spec, "KeyUsage": usage}


def test_the_public_key_is_asked_for_once_and_given_as_pem(stubbed: StubbedAws) -> None:
    stubbed.stub("kms").add_response("get_public_key", _public_key_answer(), {"KeyId": ALIAS})
    kms = KmsKey(stubbed.aws, ALIAS)

    first, second = kms.public_pem(), kms.public_pem()

    assert first == second == key("kms-test").public_pem()


def test_signing_is_raw_ecdsa_sha_256_over_the_message_itself(stubbed: StubbedAws) -> None:
    message = b"DSSEv1 28 application/vnd.in-toto+json 2 {}"
    stubbed.stub("kms").add_response(
        "sign",
        {"KeyId": "k-1", "Signature": b"sig", "SigningAlgorithm": "ECDSA_SHA_256"},
        {
            "KeyId": ALIAS,
            "Message": message,
            "MessageType": "RAW",
            "SigningAlgorithm": "ECDSA_SHA_256",
        },
    )

    assert KmsKey(stubbed.aws, ALIAS).sign_raw(message) == b"sig"


def test_a_message_over_4096_bytes_is_refused_before_kms_is_asked(stubbed: StubbedAws) -> None:
    with pytest.raises(PromoteError, match="KMS signs at most 4096"):
        KmsKey(stubbed.aws, ALIAS).sign_raw(b"x" * 4097)


def test_a_missing_key_is_not_found(stubbed: StubbedAws) -> None:
    stubbed.stub("kms").add_client_error("get_public_key", "NotFoundException", "no such alias")

    with pytest.raises(PromoteError) as raised:
        KmsKey(stubbed.aws, "alias/nope").public_pem()

    assert raised.value.exit_code == ExitCode.NOT_FOUND
    assert "signing key alias/nope does not exist" in raised.value.message


def test_a_key_that_cannot_sign_is_refused(stubbed: StubbedAws) -> None:
    stubbed.stub("kms").add_response(
        "get_public_key", _public_key_answer("RSA_2048", "ENCRYPT_DECRYPT"), {"KeyId": ALIAS}
    )

    with pytest.raises(PromoteError) as raised:
        KmsKey(stubbed.aws, ALIAS).public_pem()

    assert raised.value.exit_code == ExitCode.REMOTE
    assert "not an ECC_NIST_P256 SIGN_VERIFY key" in raised.value.message
