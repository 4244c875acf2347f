"""A realistic Concourse estate in the local AWS, for `promote sandbox seed`, the demo and tests.

What it creates (each piece only when missing, so seeding twice converges):

- the base image (Amazon Linux 2023, loaded into the local AWS at start), and two Concourse
  images made from it: an older *tested* one (`<tested_name>-...`, Concourse 7.11.2, copied from
  an untested build) and a newer *untested* one (`<untested_name>-...`, Concourse 7.12.0);
- a VPC with three subnets;
- per environment and role, a launch template and an ASG named as in the config (2 instances
  each by default): the test environment runs the untested image, the others the tested one;
- the `ami-ids` secret, pointing each environment at what it runs, with production pinned;
- the evidence bucket, versioned with Object Lock (COMPLIANCE, a one-day default retention);
- the two signing keys (ECC_NIST_P256, SIGN_VERIFY) under their aliases: evidence_signing_key
  (`alias/promote-evidence`) and event_signing_key (`alias/promote-events`).

It talks to AWS through `Aws.client` only (raw clients: this is plumbing, not domain logic).
Only a local endpoint is ever seeded (the CLI refuses anything else).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from promote.adapters.aws.session import Aws, error_code, tag_list
from promote.clock import Clock
from promote.config import PINS_KEY, Config, Environment
from promote.domain.images import TAG_CONCOURSE_VERSION, TAG_GIT_SHA, TAG_SOURCE, TAG_STAGE
from promote.domain.results import renamed
from promote.errors import PromoteError

BASE_IMAGE_OWNER = "137112412989"
BASE_IMAGE_NAME = "al2023-ami-2023.*-x86_64"
SEED_TAG = "promote:seed"
PIN_OWNER = "release-manager@example.com"
PIN_REASON = "production moves only when a release manager unpins it"
RETENTION_DAYS = 1


@dataclass
class SeedReport:
    """What seeding found and made."""

    endpoint: str | None
    region: str
    base_image: str = ""
    images: dict[str, str] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(
        default_factory=dict, metadata=renamed("autoscaling_groups")
    )
    secret: str = ""
    bucket: str = field(default="", metadata=renamed("evidence_bucket"))
    keys: dict[str, str] = field(default_factory=dict, metadata=renamed("signing_keys"))
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def seed(aws: Aws, config: Config, clock: Clock, instances_per_group: int = 2) -> SeedReport:
    """Create whatever of the estate is missing; report what is there."""
    report = SeedReport(endpoint=config.endpoint_url, region=config.region)
    with aws.calling("seeding the local AWS"):
        ec2 = aws.client("ec2")
        report.base_image = _base_image(ec2)
        subnets = _network(ec2, report)
        old_untested = _image(
            ec2,
            report,
            "untested-previous",
            f"{config.untested_name}-20261001T090000Z",
            report.base_image,
            {TAG_STAGE: "untested", TAG_CONCOURSE_VERSION: "7.11.2", TAG_GIT_SHA: "3f2a9c1"},
        )
        tested = _image(
            ec2,
            report,
            "tested-previous",
            f"{config.tested_name}-20261002T100000Z",
            report.base_image,
            {
                TAG_STAGE: "tested",
                TAG_CONCOURSE_VERSION: "7.11.2",
                TAG_GIT_SHA: "3f2a9c1",
                TAG_SOURCE: old_untested,
            },
        )
        untested = _image(
            ec2,
            report,
            "untested-current",
            f"{config.untested_name}-20261120T090000Z",
            report.base_image,
            {TAG_STAGE: "untested", TAG_CONCOURSE_VERSION: "7.12.0", TAG_GIT_SHA: "8d41e07"},
        )
        runs = {name: (untested if name == config.test_env else tested) for name in config.envs}
        for env in config.envs.values():
            for group in env.autoscaling_groups:
                _group(aws, env, group, runs[env.name], subnets, instances_per_group, report)
        _secret(aws.client("secretsmanager"), config, runs, clock, report)
        _bucket(aws.client("s3"), config, report)
        for alias in dict.fromkeys((config.evidence_signing_key, config.event_signing_key)):
            _signing_key(aws.client("kms"), alias, report)
    return report


def _base_image(ec2: Any) -> str:
    images = ec2.describe_images(
        Owners=[BASE_IMAGE_OWNER], Filters=[{"Name": "name", "Values": [BASE_IMAGE_NAME]}]
    )["Images"]
    if not images:
        raise PromoteError(
            "the local AWS has no Amazon Linux 2023 base image",
            "restart it with `promote sandbox down && promote sandbox up` (it loads the image)",
        )
    newest: str = max(images, key=lambda i: i.get("CreationDate", ""))["ImageId"]
    return newest


def _network(ec2: Any, report: SeedReport) -> list[str]:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": f"tag:{SEED_TAG}", "Values": ["vpc"]}])["Vpcs"]
    if vpcs:
        vpc_id = vpcs[0]["VpcId"]
        report.kept.append(f"vpc {vpc_id}")
    else:
        vpc_id = ec2.create_vpc(
            CidrBlock="10.42.0.0/16",
            TagSpecifications=[
                {"ResourceType": "vpc", "Tags": tag_list({SEED_TAG: "vpc", "Name": "concourse"})}
            ],
        )["Vpc"]["VpcId"]
        report.created.append(f"vpc {vpc_id}")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    if subnets:
        return sorted(s["SubnetId"] for s in subnets)
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:3]
    made = []
    for index, zone in enumerate(zones):
        subnet = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=f"10.42.{index * 16}.0/20",
            AvailabilityZone=zone,
            TagSpecifications=[
                {
                    "ResourceType": "subnet",
                    "Tags": tag_list({SEED_TAG: "subnet", "Name": f"concourse-{zone}"}),
                }
            ],
        )["Subnet"]["SubnetId"]
        made.append(subnet)
    report.created.append(f"{len(made)} subnets")
    return made


def _image(
    ec2: Any, report: SeedReport, role: str, name: str, base: str, tags: dict[str, str]
) -> str:
    found = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": f"tag:{SEED_TAG}", "Values": [role]}]
    )["Images"]
    if found:
        image_id: str = found[0]["ImageId"]
        report.kept.append(f"image {image_id}")
    else:
        # The local AWS makes an image from an instance; the instance is not needed afterwards.
        instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1, InstanceType="t3.micro")
        instance_id = instance["Instances"][0]["InstanceId"]
        image_id = ec2.create_image(
            InstanceId=instance_id,
            Name=name,
            Description=f"Concourse {tags[TAG_CONCOURSE_VERSION]}",
            TagSpecifications=[
                {"ResourceType": "image", "Tags": tag_list({**tags, SEED_TAG: role})}
            ],
        )["ImageId"]
        ec2.terminate_instances(InstanceIds=[instance_id])
        report.created.append(f"image {image_id}")
    report.images[name] = image_id
    return image_id


def _group(
    aws: Aws,
    env: Environment,
    name: str,
    image_id: str,
    subnets: list[str],
    count: int,
    report: SeedReport,
) -> None:
    ec2 = aws.client("ec2", env)
    autoscaling = aws.client("autoscaling", env)
    try:
        ec2.describe_launch_templates(LaunchTemplateNames=[name])
        report.kept.append(f"launch template {name}")
    except Exception as exc:
        if error_code(exc) != "InvalidLaunchTemplateName.NotFoundException":
            raise
        role = "worker" if "worker" in name else "web"
        ec2.create_launch_template(
            LaunchTemplateName=name,
            LaunchTemplateData={
                "ImageId": image_id,
                "InstanceType": "m5.large" if role == "worker" else "t3.medium",
                "UserData": _user_data(role),
            },
            TagSpecifications=[
                {
                    "ResourceType": "launch-template",
                    "Tags": tag_list({SEED_TAG: "launch-template", "concourse:role": role}),
                }
            ],
        )
        report.created.append(f"launch template {name}")
    existing = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    if existing["AutoScalingGroups"]:
        report.kept.append(f"autoscaling group {name}")
    else:
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": name, "Version": "$Latest"},
            MinSize=0,
            MaxSize=max(4, count * 2),
            DesiredCapacity=count,
            VPCZoneIdentifier=",".join(subnets),
            Tags=[
                {
                    "Key": "concourse:env",
                    "Value": env.name,
                    "PropagateAtLaunch": True,
                    "ResourceId": name,
                    "ResourceType": "auto-scaling-group",
                }
            ],
        )
        report.created.append(f"autoscaling group {name}")
    report.groups[name] = {"env": env.name, "image_id": image_id, "desired": count}


def _user_data(role: str) -> str:
    import base64

    script = f"#!/bin/sh\necho {role} > /etc/concourse/role\n"
    return base64.b64encode(script.encode()).decode()


def _secret(
    client: Any, config: Config, runs: dict[str, str], clock: Clock, report: SeedReport
) -> None:
    report.secret = config.secret_id
    try:
        client.describe_secret(SecretId=config.secret_id)
        report.kept.append(f"secret {config.secret_id}")
        return
    except Exception as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    document: dict[str, Any] = {env.secret_key: runs[name] for name, env in config.envs.items()}
    pins = {
        name: {
            "ami": runs[name],
            "owner": PIN_OWNER,
            "reason": PIN_REASON,
            "since": clock.now().replace(microsecond=0).isoformat(),
            "expires": None,
        }
        for name, env in config.envs.items()
        if env.accepts == "tested"
    }
    if pins:
        document[PINS_KEY] = pins
    client.create_secret(
        Name=config.secret_id,
        SecretString=json.dumps(document, indent=2, sort_keys=True),
        Description="Concourse AMI ids per environment (read by Terraform)",
    )
    report.created.append(f"secret {config.secret_id}")


def _bucket(client: Any, config: Config, report: SeedReport) -> None:
    report.bucket = config.evidence_bucket
    try:
        client.head_bucket(Bucket=config.evidence_bucket)
        report.kept.append(f"bucket {config.evidence_bucket}")
        return
    except Exception as exc:
        if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs: dict[str, Any] = {"Bucket": config.evidence_bucket}
    if config.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": config.region}
    # Object Lock turns versioning on; COMPLIANCE keeps every version for the retention period
    # (the local AWS's default retention is one day; on AWS, choose one your audits need).
    client.create_bucket(**kwargs, ObjectLockEnabledForBucket=True)
    client.put_object_lock_configuration(
        Bucket=config.evidence_bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": RETENTION_DAYS}},
        },
    )
    report.created.append(f"bucket {config.evidence_bucket}")


def _signing_key(client: Any, alias: str, report: SeedReport) -> None:
    """An ECC_NIST_P256 signing key under ALIAS (a key id or ARN is only checked for)."""
    try:
        report.keys[alias] = client.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
        report.kept.append(f"key {alias}")
        return
    except Exception as exc:
        if error_code(exc) != "NotFoundException" or not alias.startswith("alias/"):
            raise
    key_id = client.create_key(
        KeySpec="ECC_NIST_P256",
        KeyUsage="SIGN_VERIFY",
        Description=f"promote: signs the ledger ({alias})",
    )["KeyMetadata"]["KeyId"]
    client.create_alias(AliasName=alias, TargetKeyId=key_id)
    report.keys[alias] = key_id
    report.created.append(f"key {alias}")
