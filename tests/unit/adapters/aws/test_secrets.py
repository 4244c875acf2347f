"""The Secrets Manager adapter (compare-and-swap writes) on botocore's Stubber: no network."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from promote.adapters.aws.secrets import AwsSecrets
from promote.domain.ami_ids import PENDING_STAGE
from promote.errors import PromoteError
from tests.support.stubs import StubbedAws

SECRET = "/concourse/dataworks/ami-ids"


@pytest.fixture
def secrets(stubbed: StubbedAws) -> tuple[AwsSecrets, Stubber]:
    return AwsSecrets(stubbed.aws), stubbed.stub("secretsmanager")


def test_put_pending_writes_a_custom_stage_so_awscurrent_does_not_move(
    secrets: tuple[AwsSecrets, Stubber],
) -> None:
    writer, stub = secrets
    stub.add_response(
        "put_secret_value",
        {"VersionId": "t" * 32},
        {
            "SecretId": SECRET,
            "ClientRequestToken": "t" * 32,
            "VersionStages": [PENDING_STAGE],
            "SecretString": "{}",
        },
    )

    assert writer.put_pending(SECRET, "t" * 32, "{}") == "t" * 32


def test_put_pending_writes_bytes_as_secret_binary(
    secrets: tuple[AwsSecrets, Stubber],
) -> None:
    writer, stub = secrets
    stub.add_response(
        "put_secret_value",
        {"VersionId": "t" * 32},
        {
            "SecretId": SECRET,
            "ClientRequestToken": "t" * 32,
            "VersionStages": [PENDING_STAGE],
            "SecretBinary": b"{}",
        },
    )

    writer.put_pending(SECRET, "t" * 32, b"{}")


def test_make_current_moves_awscurrent_only_from_the_version_read(
    secrets: tuple[AwsSecrets, Stubber],
) -> None:
    writer, stub = secrets
    stub.add_response(
        "update_secret_version_stage",
        {},
        {
            "SecretId": SECRET,
            "VersionStage": "AWSCURRENT",
            "MoveToVersionId": "new" * 11,
            "RemoveFromVersionId": "old" * 11,
        },
    )

    assert writer.make_current(SECRET, "new" * 11, "old" * 11) is True


def test_make_current_is_false_when_another_writer_moved_awscurrent(
    secrets: tuple[AwsSecrets, Stubber],
) -> None:
    writer, stub = secrets
    stub.add_client_error(
        "update_secret_version_stage",
        service_error_code="InvalidParameterException",
        service_message="Version stage AWSCURRENT not found in version old",
        http_status_code=400,
    )

    assert writer.make_current(SECRET, "new" * 11, "old" * 11) is False


def test_make_current_reports_access_denied_as_exit_5(
    secrets: tuple[AwsSecrets, Stubber],
) -> None:
    writer, stub = secrets
    stub.add_client_error("update_secret_version_stage", service_error_code="AccessDeniedException")

    with pytest.raises(PromoteError) as raised:
        writer.make_current(SECRET, "new" * 11, "old" * 11)

    assert raised.value.exit_code == 5
    assert "iam-policy" in raised.value.hint


def test_clear_pending_never_fails(secrets: tuple[AwsSecrets, Stubber]) -> None:
    writer, stub = secrets
    stub.add_client_error("update_secret_version_stage", service_error_code="InternalFailure")

    writer.clear_pending(SECRET, "new" * 11)


def test_a_missing_awsprevious_version_is_none(
    secrets: tuple[AwsSecrets, Stubber],
) -> None:
    reader, stub = secrets
    stub.add_client_error("get_secret_value", service_error_code="ResourceNotFoundException")

    assert reader.version(SECRET, "AWSPREVIOUS") is None
