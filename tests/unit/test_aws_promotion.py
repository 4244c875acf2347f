"""The AWS side of promotion (promote.aws), on botocore's Stubber: no network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from promote.aws import (
    PENDING_STAGE,
    Aws,
    AwsImageCatalog,
    AwsImageUsage,
    AwsSecretVersions,
)
from promote.config import Overrides, load
from promote.errors import PromoteError
from tests.unit.promotion_fakes import image

SECRET = "/concourse/dataworks/ami-ids"
AMI = "ami-0123456789abcdef0"


@pytest.fixture
def aws() -> Aws:
    config = load(Overrides(region="eu-west-2"), {}, Path("/nonexistent"))
    return Aws(config, credentials=("x", "y"))


@pytest.fixture
def secrets(aws: Aws) -> Iterator[tuple[AwsSecretVersions, Stubber]]:
    with Stubber(aws.client("secretsmanager")) as stub:
        yield AwsSecretVersions(aws), stub
        stub.assert_no_pending_responses()


@pytest.fixture
def ec2(aws: Aws) -> Iterator[tuple[AwsImageCatalog, Stubber]]:
    with Stubber(aws.client("ec2")) as stub:
        yield AwsImageCatalog(aws), stub
        stub.assert_no_pending_responses()


def test_put_pending_writes_a_custom_stage_so_awscurrent_does_not_move(
    secrets: tuple[AwsSecretVersions, Stubber],
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
    secrets: tuple[AwsSecretVersions, Stubber],
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
    secrets: tuple[AwsSecretVersions, Stubber],
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
    secrets: tuple[AwsSecretVersions, Stubber],
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
    secrets: tuple[AwsSecretVersions, Stubber],
) -> None:
    writer, stub = secrets
    stub.add_client_error("update_secret_version_stage", service_error_code="AccessDeniedException")

    with pytest.raises(PromoteError) as raised:
        writer.make_current(SECRET, "new" * 11, "old" * 11)

    assert raised.value.exit_code == 5
    assert "iam-policy" in raised.value.hint


def test_clear_pending_never_fails(secrets: tuple[AwsSecretVersions, Stubber]) -> None:
    writer, stub = secrets
    stub.add_client_error("update_secret_version_stage", service_error_code="InternalFailure")

    writer.clear_pending(SECRET, "new" * 11)


def test_a_missing_awsprevious_version_is_none(
    secrets: tuple[AwsSecretVersions, Stubber],
) -> None:
    reader, stub = secrets
    stub.add_client_error("get_secret_value", service_error_code="ResourceNotFoundException")

    assert reader.version(SECRET, "AWSPREVIOUS") is None


def _raw_image(ami: str, tags: dict[str, str], state: str = "available") -> dict[str, Any]:
    return {
        "ImageId": ami,
        "Name": "dw-al2-concourse-ami-20261123T120000Z",
        "State": state,
        "CreationDate": "2026-11-23T12:00:00.000Z",
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1"}}],
    }


def test_copies_of_finds_tested_copies_by_source_tag(
    ec2: tuple[AwsImageCatalog, Stubber],
) -> None:
    catalog, stub = ec2
    stub.add_response(
        "describe_images",
        {
            "Images": [
                _raw_image(AMI, {"promote:stage": "tested", "promote:source-image": "ami-1"}),
                _raw_image("ami-0000000000000000a", {"promote:source-image": "ami-1"}),
            ]
        },
        {
            "Owners": ["self"],
            "Filters": [{"Name": "tag:promote:source-image", "Values": ["ami-1"]}],
        },
    )

    [copy] = catalog.copies_of("ami-1")

    assert copy.image_id == AMI
    assert copy.snapshot_ids == ("snap-1",)


def test_grant_launch_shares_the_image_and_its_snapshots(
    ec2: tuple[AwsImageCatalog, Stubber],
) -> None:
    catalog, stub = ec2
    stub.add_response("describe_images", {"Images": [_raw_image(AMI, {})]}, {"ImageIds": [AMI]})
    stub.add_response(
        "modify_image_attribute",
        {},
        {"ImageId": AMI, "LaunchPermission": {"Add": [{"UserId": "222222222222"}]}},
    )
    stub.add_response(
        "modify_snapshot_attribute",
        {},
        {
            "SnapshotId": "snap-1",
            "Attribute": "createVolumePermission",
            "OperationType": "add",
            "UserIds": ["222222222222"],
        },
    )

    catalog.grant_launch(AMI, ["222222222222"])


def test_deprecation_the_server_fails_at_is_reported_not_raised(
    ec2: tuple[AwsImageCatalog, Stubber],
) -> None:
    catalog, stub = ec2
    stub.add_client_error(
        "enable_image_deprecation", service_error_code="InternalError", http_status_code=500
    )

    failure = catalog.deprecate(AMI, "2026-11-23T12:01:00Z")

    assert failure is not None and "InternalError (HTTP 500)" in failure


def test_deprecation_refused_by_aws_is_a_promote_error(
    ec2: tuple[AwsImageCatalog, Stubber],
) -> None:
    catalog, stub = ec2
    stub.add_client_error(
        "enable_image_deprecation", service_error_code="UnauthorizedOperation", http_status_code=403
    )

    with pytest.raises(PromoteError) as raised:
        catalog.deprecate(AMI, "2026-11-23T12:01:00Z")

    assert raised.value.exit_code == 5
    assert "ec2:EnableImageDeprecation" in raised.value.message


def test_deregister_deletes_every_snapshot_even_one_already_gone(
    ec2: tuple[AwsImageCatalog, Stubber],
) -> None:
    catalog, stub = ec2
    doomed = image(AMI)
    stub.add_response("deregister_image", {}, {"ImageId": AMI})
    stub.add_client_error("delete_snapshot", service_error_code="InvalidSnapshot.NotFound")

    assert catalog.deregister(doomed) == list(doomed.snapshot_ids)


def test_launch_template_images_reads_default_and_latest_versions(aws: Aws) -> None:
    usage = AwsImageUsage(aws)
    with Stubber(aws.client("ec2")) as stub:
        stub.add_response(
            "describe_launch_templates",
            {"LaunchTemplates": [{"LaunchTemplateId": "lt-1", "LaunchTemplateName": "web"}]},
        )
        stub.add_response(
            "describe_launch_template_versions",
            {
                "LaunchTemplateVersions": [
                    {"VersionNumber": 1, "LaunchTemplateData": {"ImageId": "ami-1"}},
                    {"VersionNumber": 2, "LaunchTemplateData": {"ImageId": "ami-2"}},
                ]
            },
            {"LaunchTemplateId": "lt-1", "Versions": ["$Default", "$Latest"]},
        )

        used = usage.launch_template_images([])

    assert used == {"ami-1": ["launch template web v1"], "ami-2": ["launch template web v2"]}
