"""No credential or secret value survives `redact`: the shapes botocore's and urllib3's debug
logs print them in, and every value promote was told to remember."""

from __future__ import annotations

import pytest

from promote import redact

SECRET = '{"concourse_ami_mgmt_dev": "ami-0123456789abcdef0"}'


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (
            '{"Credentials": {"AccessKeyId": "ASIAQWERTY123", "SecretAccessKey": "wJalrXUtn/K7",'
            ' "SessionToken": "FwoGZXIvYXdzEJr//////"}}',
            ("ASIAQWERTY123", "wJalrXUtn/K7", "FwoGZXIvYXdzEJr"),
        ),
        (
            "b'<Credentials><AccessKeyId>ASIAQWERTY123</AccessKeyId><SecretAccessKey>"
            "wJalrXUtn</SecretAccessKey><SessionToken>AQoDYXdz</SessionToken></Credentials>'",
            ("ASIAQWERTY123", "wJalrXUtn", "AQoDYXdz"),
        ),
        (
            "{'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIAQWERTY/20261203/eu-west-2/sts/"
            "aws4_request, SignedHeaders=host, Signature=00ff', 'X-Amz-Security-Token': b'IQoJb3'}",
            ("AKIAQWERTY", "IQoJb3"),
        ),
        (
            'b\'{"Name":"/concourse/dataworks/ami-ids","SecretString":"{\\\\"concourse_ami\\\\":'
            ' \\\\"ami-0123\\\\"}","VersionId":"v1"}\'',
            ("concourse_ami", "ami-0123"),
        ),
        ("{'SecretBinary': b'{\"k\": \"ami-0aa\"}', 'VersionId': 'v'}", ("ami-0aa",)),
        ("GET https://alice:hunter2pw@ci.example.com/api/v1/workers", ("hunter2pw",)),
        ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig\r\n", ("eyJhbGciOiJSUzI1NiJ9",)),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123 used", ("ghp_abcdefghijklmnopqrstuvwxyz0123",)),
    ],
)
def test_credential_shapes_are_masked(line: str, secret: tuple[str, ...]) -> None:
    masked = redact.redact(line)

    assert redact.MASK in masked
    for value in secret:
        assert value not in masked, masked


def test_a_remembered_value_is_masked_wherever_it_appears() -> None:
    redact.remember(SECRET, b"SENTINELbinary-secret", "short")

    masked = redact.redact(f"read {SECRET}; got SENTINELbinary-secret; short stays")

    assert SECRET not in masked and "SENTINELbinary-secret" not in masked
    assert "short stays" in masked  # too short to mask safely


def test_the_environment_secrets_are_remembered() -> None:
    redact.remember_environment({"CONCOURSE_PASSWORD": "SENTINELpassword", "HOME": "/root"})

    assert redact.redact("login with SENTINELpassword at /root") == (
        f"login with {redact.MASK} at /root"
    )
