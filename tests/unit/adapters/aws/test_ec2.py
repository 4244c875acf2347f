"""The EC2 adapter (images, launch templates) on botocore's Stubber: no network."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from promote.adapters.aws.ec2 import AwsImages, AwsImageUsage
from promote.adapters.aws.session import Aws
from promote.errors import PromoteError
from tests.support.fakes import image
from tests.support.stubs import StubbedAws

AMI = "ami-0123456789abcdef0"


@pytest.fixture
def aws(stubbed: StubbedAws) -> Aws:
    return stubbed.aws


@pytest.fixture
def ec2(stubbed: StubbedAws) -> tuple[AwsImages, Stubber]:
    return AwsImages(stubbed.aws), stubbed.stub("ec2")


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
    ec2: tuple[AwsImages, Stubber],
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
    ec2: tuple[AwsImages, Stubber],
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
    ec2: tuple[AwsImages, Stubber],
) -> None:
    catalog, stub = ec2
    stub.add_client_error(
        "enable_image_deprecation", service_error_code="InternalError", http_status_code=500
    )

    failure = catalog.deprecate(AMI, "2026-11-23T12:01:00Z")

    assert failure is not None and "InternalError (HTTP 500)" in failure


def test_deprecation_refused_by_aws_is_a_promote_error(
    ec2: tuple[AwsImages, Stubber],
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
    ec2: tuple[AwsImages, Stubber],
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
