"""Least privilege: the AWS actions each command needs, and the IAM policy that grants just those.

Every command declares its actions here (the promotion commands in `promotion.AWS_ACTIONS`);
`promote iam-policy [COMMAND ...]` turns them into one policy document, scoped to the ami-ids
secret and the evidence bucket where the API allows resource-level permissions. EC2 and Auto
Scaling reads and writes are on `*` (most of those actions support no narrower resource); envs
with a `role_arn` add `sts:AssumeRole` on exactly those roles, and the role in the env's account
needs the `ec2:`/`autoscaling:` part of the same policy.
"""

from __future__ import annotations

from typing import Any

from promote.config import Config
from promote.errors import usage_error
from promote.promotion import AWS_ACTIONS as PROMOTION_ACTIONS

_LEDGER_READ = ("s3:ListBucket", "s3:GetObject")
_LEDGER_WRITE = (*_LEDGER_READ, "s3:PutObject")
# sts:AssumeRole is granted only on the envs' role_arn (and only when some env has one).
_FLEET_READ = ("autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances", "sts:AssumeRole")

ACTIONS: dict[str, tuple[str, ...]] = {
    # status reads results from the evidence keys' names: listing is enough.
    "status": (
        "secretsmanager:GetSecretValue",
        *_FLEET_READ,
        "ec2:DescribeImages",
        "s3:ListBucket",
    ),
    # validate only adds a record (a conditional put that never overwrites).
    "validate": ("secretsmanager:GetSecretValue", *_FLEET_READ, "s3:ListBucket", "s3:PutObject"),
    "gate": ("ec2:DescribeImages", *_LEDGER_READ),
    "rollout": (
        "secretsmanager:GetSecretValue",
        *_FLEET_READ,
        "autoscaling:UpdateAutoScalingGroup",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "autoscaling:DescribeTags",
        "autoscaling:CreateOrUpdateTags",
        "autoscaling:DeleteTags",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:CreateLaunchTemplateVersion",
        "ec2:ModifyLaunchTemplate",
        "ec2:RunInstances",
        "ec2:CreateTags",
        "iam:PassRole",
        "s3:PutObject",  # the closing validate's record
    ),
    "release": ("ec2:DescribeImages", *_LEDGER_WRITE),
    "build": (
        "ec2:DescribeImages",
        "ec2:DescribeRegions",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "ec2:DescribeSecurityGroups",
        "ec2:CreateSecurityGroup",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:DeleteSecurityGroup",
        "ec2:CreateKeyPair",
        "ec2:DeleteKeyPair",
        "ec2:RunInstances",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceStatus",
        "ec2:StopInstances",
        "ec2:TerminateInstances",
        "ec2:CreateImage",
        "ec2:ModifyImageAttribute",
        "ec2:DescribeVolumes",
        "ec2:CreateTags",
    ),
    **PROMOTION_ACTIONS,
}

_ALWAYS_STAR = ("ec2:", "autoscaling:", "iam:")


def actions_for(commands: list[str]) -> list[str]:
    """The sorted union of the actions of COMMANDS (every command when empty)."""
    unknown = sorted(set(commands) - set(ACTIONS))
    if unknown:
        raise usage_error(
            f"no IAM actions are declared for: {', '.join(unknown)}",
            f"commands that call AWS: {', '.join(sorted(ACTIONS))}",
        )
    chosen = commands or sorted(ACTIONS)
    return sorted({action for command in chosen for action in ACTIONS[command]})


def policy(config: Config, commands: list[str]) -> dict[str, Any]:
    """An IAM policy document granting exactly what COMMANDS need, scoped where AWS allows."""
    actions = actions_for(commands)
    secret_arn = f"arn:aws:secretsmanager:{config.region}:*:secret:{config.secret_id}-*"
    bucket_arn = f"arn:aws:s3:::{config.evidence_bucket}"
    roles = sorted({env.role_arn for env in config.envs.values() if env.role_arn})
    statements: list[dict[str, Any]] = []

    def add(sid: str, chosen: list[str], resources: list[str]) -> None:
        if chosen and resources:
            statements.append(
                {"Sid": sid, "Effect": "Allow", "Action": chosen, "Resource": resources}
            )

    add("AmiIdsSecret", [a for a in actions if a.startswith("secretsmanager:")], [secret_arn])
    add("EvidenceBucket", [a for a in actions if a == "s3:ListBucket"], [bucket_arn])
    add(
        "EvidenceObjects",
        [a for a in actions if a.startswith("s3:") and a != "s3:ListBucket"],
        [f"{bucket_arn}/*"],
    )
    add("Fleet", [a for a in actions if a.startswith(_ALWAYS_STAR)], ["*"])
    add("EnvRoles", [a for a in actions if a == "sts:AssumeRole"], roles)
    return {"Version": "2012-10-17", "Statement": statements}
