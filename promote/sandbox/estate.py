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

`--estate realistic` (``seed(..., realistic=True)`` with `REALISTIC_CONFIG`, which the CLI writes as
promote.toml) seeds the harder estate a real Terraform-managed one is: management-dev in account
222222222222 and management in 333333333333 (reached through `role_arn`; the local AWS maps an
assumed role's calls to the role's account), the images, bucket and keys in the tooling account;
each env's own SecretBinary `ami-ids` secret in its account, reached through a role there; a
network per account; the images shared with the accounts that launch them; the night schedule on
the test env's worker group (0 at 19:00 on weekdays, back at 07:00), a CPU alarm scaling policy on
every worker group, and per-instance Name tags `ci-concourse-<role>-<az>-<id>`.

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

DEV_ACCOUNT = "222222222222"
PROD_ACCOUNT = "333333333333"
NIGHT = ("night", "0 19 * * 1-5", 0)
MORNING = ("morning", "0 7 * * 1-5", 2)
CPU_POLICY = "cpu-scale-out"
CPU_ALARM_SUFFIX = "-cpu-high"

# The promote.toml that fits the realistic estate (`promote sandbox seed --estate realistic`).
REALISTIC_CONFIG = f"""\
# promote.toml for the realistic sandbox estate (`promote sandbox seed --estate realistic`).
# management-dev lives in account {DEV_ACCOUNT}, management in {PROD_ACCOUNT}; the images, the
# evidence bucket and the signing keys in the tooling account (the caller's). Each env's
# Terraform reads its own ami-ids secret (SecretBinary) in its own account, through a role.
test_env = "management-dev"

[env.management-dev]
secret_key = "concourse_ami_mgmt_dev"
autoscaling_groups = ["concourse-web-management-dev", "concourse-worker-management-dev"]
accepts = "untested"
role_arn = "arn:aws:iam::{DEV_ACCOUNT}:role/concourse-ami-promoter"
secret_id = "/concourse/management-dev/ami-ids"
secret_role_arn = "arn:aws:iam::{DEV_ACCOUNT}:role/concourse-ami-ids-writer"

[env.management]
secret_key = "concourse_ami"
autoscaling_groups = ["concourse-web-management", "concourse-worker-management"]
accepts = "tested"
role_arn = "arn:aws:iam::{PROD_ACCOUNT}:role/concourse-ami-promoter"
secret_id = "/concourse/management/ami-ids"
secret_role_arn = "arn:aws:iam::{PROD_ACCOUNT}:role/concourse-ami-ids-writer"
"""


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


def seed(
    aws: Aws,
    config: Config,
    clock: Clock,
    instances_per_group: int = 2,
    realistic: bool = False,
) -> SeedReport:
    """Create whatever of the estate is missing; report what is there (REALISTIC: the harder
    estate, with CONFIG loaded from `REALISTIC_CONFIG`)."""
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
            env_subnets = subnets
            if realistic:
                _roles(aws, env, report)
                env_subnets = _network(aws.client("ec2", env), report)
                _share(ec2, aws, env, {runs[env.name], tested, untested}, report)
            for group in env.autoscaling_groups:
                _group(aws, env, group, runs[env.name], env_subnets, instances_per_group, report)
                if realistic:
                    _automation(aws, config, env, group, report)
                    _name_instances(aws, env, group)
        if realistic:
            for place in config.secret_locations()[1:]:
                client = aws.client("secretsmanager", role_arn=place.role_arn, region=place.region)
                _secret(client, config, runs, clock, report, place.secret_id, config.envs_in(place))
        else:
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
                    # concourse:env: what `iam-policy --env` scopes launch template writes by.
                    "Tags": tag_list(
                        {
                            SEED_TAG: "launch-template",
                            "concourse:role": role,
                            "concourse:env": env.name,
                        }
                    ),
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
    client: Any,
    config: Config,
    runs: dict[str, str],
    clock: Clock,
    report: SeedReport,
    secret_id: str | None = None,
    envs: list[Environment] | None = None,
) -> None:
    """The ami-ids secret (SECRET_ID holding ENVS' entries, SecretBinary as the realistic
    estate's Terraform stores it; default: the top-level one with every env, SecretString)."""
    binary = secret_id is not None
    secret_id = secret_id or config.secret_id
    chosen = {env.name: env for env in (envs if envs is not None else config.envs.values())}
    report.secret = ", ".join(filter(None, (report.secret, secret_id))) if binary else secret_id
    try:
        client.describe_secret(SecretId=secret_id)
        report.kept.append(f"secret {secret_id}")
        return
    except Exception as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    document: dict[str, Any] = {env.secret_key: runs[name] for name, env in chosen.items()}
    pins = {
        name: {
            "ami": runs[name],
            "owner": PIN_OWNER,
            "reason": PIN_REASON,
            "since": clock.now().replace(microsecond=0).isoformat(),
            "expires": None,
        }
        for name, env in chosen.items()
        if env.accepts == "tested"
    }
    if pins:
        document[PINS_KEY] = pins
    text = json.dumps(document, indent=2, sort_keys=True)
    client.create_secret(
        Name=secret_id,
        **({"SecretBinary": text.encode()} if binary else {"SecretString": text}),
        Description="Concourse AMI ids per environment (read by Terraform)",
    )
    report.created.append(f"secret {secret_id}")


def _roles(aws: Aws, env: Environment, report: SeedReport) -> None:
    """The roles the realistic estate's accounts hold for promote (the local AWS does not
    check them on AssumeRole; they are there for a person looking)."""
    for role_arn in dict.fromkeys(filter(None, (env.role_arn, env.secret_role_arn))):
        iam = aws.client("iam", role_arn=role_arn, region=aws.config.region)
        name = role_arn.rsplit("/", 1)[-1]
        try:
            iam.get_role(RoleName=name)
            report.kept.append(f"role {role_arn}")
            continue
        except Exception as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        report.created.append(f"role {role_arn}")


def _account(role_arn: str | None) -> str | None:
    return role_arn.split(":")[4] if role_arn else None


def _share(ec2: Any, aws: Aws, env: Environment, images: set[str], report: SeedReport) -> None:
    """Let ENV's account launch IMAGES (made in the tooling account), as publish does."""
    account = _account(env.role_arn)
    if account is None:
        return
    for image in sorted(images):
        permissions = ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")
        if {"UserId": account} in permissions["LaunchPermissions"]:
            continue
        ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": account}]})
        report.created.append(f"launch permission {image} for {account}")


def _automation(aws: Aws, config: Config, env: Environment, group: str, report: SeedReport) -> None:
    """The ASG automation a Terraform estate has on its worker groups: the night schedule (test
    env) and a CPU alarm that scales out by one."""
    if "worker" not in group:
        return
    autoscaling = aws.client("autoscaling", env)
    if env.name == config.test_env:
        existing = autoscaling.describe_scheduled_actions(AutoScalingGroupName=group)
        names = {a["ScheduledActionName"] for a in existing["ScheduledUpdateGroupActions"]}
        for name, recurrence, desired in (NIGHT, MORNING):
            if name in names:
                continue
            autoscaling.put_scheduled_update_group_action(
                AutoScalingGroupName=group,
                ScheduledActionName=name,
                Recurrence=recurrence,
                MinSize=0,
                DesiredCapacity=desired,
            )
            report.created.append(f"scheduled action {group}/{name} ({recurrence})")
    policies = autoscaling.describe_policies(AutoScalingGroupName=group, PolicyNames=[CPU_POLICY])
    if not policies["ScalingPolicies"]:
        autoscaling.put_scaling_policy(
            AutoScalingGroupName=group,
            PolicyName=CPU_POLICY,
            PolicyType="SimpleScaling",
            AdjustmentType="ChangeInCapacity",
            ScalingAdjustment=1,
            Cooldown=300,
        )
        report.created.append(f"scaling policy {group}/{CPU_POLICY}")
        policies = autoscaling.describe_policies(
            AutoScalingGroupName=group, PolicyNames=[CPU_POLICY]
        )
    policy_arn = policies["ScalingPolicies"][0]["PolicyARN"]
    alarm = f"{group}{CPU_ALARM_SUFFIX}"
    cloudwatch = aws.client("cloudwatch", env)
    if cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]:
        return
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "AutoScalingGroupName", "Value": group}],
        Statistic="Average",
        Period=300,
        EvaluationPeriods=2,
        Threshold=80.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[policy_arn],
    )
    report.created.append(f"alarm {alarm}")


def _name_instances(aws: Aws, env: Environment, group: str) -> None:
    """Name each instance `ci-concourse-<role>-<az>-<id>`, as the estate's user data does."""
    autoscaling = aws.client("autoscaling", env)
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    role = "worker" if "worker" in group else "web"
    for instance in found["AutoScalingGroups"][0]["Instances"]:
        instance_id = instance["InstanceId"]
        name = (
            f"ci-concourse-{role}-{instance['AvailabilityZone']}-{instance_id.removeprefix('i-')}"
        )
        aws.client("ec2", env).create_tags(
            Resources=[instance_id], Tags=[{"Key": "Name", "Value": name}]
        )


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
