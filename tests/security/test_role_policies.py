"""Attacks on the role policies: what each role's printed policy (`promote iam-policy --role R
--env E`) lets an attacker holding it do, decided by the stand-in IAM (tests/fakes/iam.py) on the
resources and conditions AWS checks. The runs that prove each command still passes under its
own scoped policy are in tests/reliability/test_least_privilege.py."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from click.testing import CliRunner

from promote.cli import cli
from tests.fakes.iam import Request, decide

REGION, ACCOUNT = "eu-west-2", "123456789012"
BUCKET = "arn:aws:s3:::concourse-ami-evidence"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:/concourse/dataworks/ami-ids"
IMAGE = f"arn:aws:ec2:{REGION}::image/ami-0123456789abcdef0"
TEMPLATE = f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/lt-0123456789abcdef0"
EVIDENCE_KEY = {"kms:ResourceAliases": ["alias/promote-evidence"]}
EVENTS_KEY = {"kms:ResourceAliases": ["alias/promote-events"]}
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def group(name: str) -> str:
    return (
        f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:"
        f"6c8e2a1f-0000-4000-8000-000000000000:autoScalingGroupName/{name}"
    )


DEV_WEB, PROD_WEB = group("concourse-web-management-dev"), group("concourse-web-management")


@cache
def printed(role: str, env: str) -> dict[str, Any]:
    args = ["iam-policy", "--role", role, "--env", env]
    result = CliRunner().invoke(cli, args, env={"PROMOTE_CONFIG": ""})
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def tags(*keys: str) -> dict[str, list[str]]:
    return {"aws:TagKeys": list(keys)}


ATTACKS = [
    # the validator: a trusted witness, nothing more
    ("validator", "management-dev", Request("s3:PutObject", f"{BUCKET}/events/forged.json"), False),
    (
        "validator",
        "management-dev",
        Request("s3:PutObject", f"{BUCKET}/locks/rollout/concourse-web-management-dev.json"),
        False,
    ),
    ("validator", "management-dev", Request("kms:Sign", KEY, EVENTS_KEY), False),
    ("validator", "management-dev", Request("ec2:CreateTags", IMAGE, tags("promote:stage")), False),
    (
        "validator",
        "management-dev",
        Request(
            "ec2:CreateTags",
            IMAGE,
            {**tags("promote:source-image"), "ec2:CreateAction": "CopyImage"},
        ),
        False,
    ),
    (
        "validator",
        "management-dev",
        Request("autoscaling:CreateOrUpdateTags", DEV_WEB, tags("promote:rollout")),
        False,
    ),
    ("validator", "management-dev", Request("autoscaling:UpdateAutoScalingGroup", DEV_WEB), False),
    (
        "validator",
        "management-dev",
        Request("secretsmanager:PutSecretValue", f"{SECRET}-AbCdEf"),
        False,
    ),
    (
        "validator",
        "management-dev",
        Request("s3:PutObject", f"{BUCKET}/evidence/ami-1/management-dev/t-SUCCESS.json"),
        True,
    ),
    ("validator", "management-dev", Request("kms:Sign", KEY, EVIDENCE_KEY), True),
    # the promoter of management-dev: that env's groups, promote's own tags, no evidence
    ("promoter", "management-dev", Request("autoscaling:UpdateAutoScalingGroup", PROD_WEB), False),
    (
        "promoter",
        "management-dev",
        Request("autoscaling:TerminateInstanceInAutoScalingGroup", PROD_WEB),
        False,
    ),
    ("promoter", "management-dev", Request("autoscaling:SuspendProcesses", PROD_WEB), False),
    (
        "promoter",
        "management-dev",
        Request("autoscaling:CreateOrUpdateTags", PROD_WEB, tags("promote:rollout")),
        False,
    ),
    ("promoter", "management-dev", Request("autoscaling:PutLifecycleHook", PROD_WEB), False),
    ("promoter", "management-dev", Request("autoscaling:UpdateAutoScalingGroup", DEV_WEB), True),
    (
        "promoter",
        "management-dev",
        Request("autoscaling:CreateOrUpdateTags", DEV_WEB, tags("promote:rollout")),
        True,
    ),
    (
        "promoter",
        "management-dev",
        Request(
            "autoscaling:CreateOrUpdateTags", DEV_WEB, tags("promote:rollout", "concourse:env")
        ),
        False,
    ),
    (
        "promoter",
        "management-dev",
        Request("autoscaling:DeleteTags", DEV_WEB, tags("concourse:env")),
        False,
    ),
    (
        "promoter",
        "management-dev",
        Request(
            "ec2:CreateLaunchTemplateVersion",
            TEMPLATE,
            {"ec2:ResourceTag/concourse:env": "management"},
        ),
        False,
    ),
    ("promoter", "management-dev", Request("ec2:CreateLaunchTemplateVersion", TEMPLATE), False),
    (
        "promoter",
        "management-dev",
        Request(
            "ec2:CreateLaunchTemplateVersion",
            TEMPLATE,
            {"ec2:ResourceTag/concourse:env": "management-dev"},
        ),
        True,
    ),
    ("promoter", "management-dev", Request("ec2:CreateTags", IMAGE, tags("promote:revoked")), True),
    (
        "promoter",
        "management-dev",
        Request("ec2:CreateTags", IMAGE, tags("promote:stage", "Name")),
        False,
    ),
    (
        "promoter",
        "management-dev",
        Request(
            "ec2:CreateTags", IMAGE, {**tags("Name", "git:sha"), "ec2:CreateAction": "CopyImage"}
        ),
        True,
    ),
    (
        "promoter",
        "management-dev",
        Request(
            "ec2:CreateTags", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1", tags("promote:stage")
        ),
        False,
    ),
    (
        "promoter",
        "management-dev",
        Request("s3:PutObject", f"{BUCKET}/evidence/ami-1/management-dev/t-SUCCESS.json"),
        False,
    ),
    (
        "promoter",
        "management-dev",
        Request("s3:PutObject", f"{BUCKET}/results/concourse.test"),
        False,
    ),
    (
        "promoter",
        "management-dev",
        Request("s3:PutObject", f"{BUCKET}/locks/rollout/concourse-web-management.json"),
        False,
    ),
    ("promoter", "management-dev", Request("kms:Sign", KEY, EVIDENCE_KEY), False),
    (
        "promoter",
        "management-dev",
        Request("s3:PutObject", f"{BUCKET}/events/ami-1/publish.json"),
        True,
    ),
    # the release manager: production's pins and the release, no tags, no fleet writes
    (
        "release-manager",
        "management",
        Request("ec2:CreateTags", IMAGE, tags("promote:revoked")),
        False,
    ),
    (
        "release-manager",
        "management",
        Request("autoscaling:UpdateAutoScalingGroup", PROD_WEB),
        False,
    ),
    (
        "release-manager",
        "management",
        Request("autoscaling:CreateOrUpdateTags", PROD_WEB, tags("promote:rollout")),
        False,
    ),
    (
        "release-manager",
        "management",
        Request("s3:PutObject", f"{BUCKET}/evidence/ami-1/management-dev/t-SUCCESS.json"),
        False,
    ),
    (
        "release-manager",
        "management",
        Request("secretsmanager:PutSecretValue", f"{SECRET}-AbCdEf"),
        True,
    ),
    # the secret's ARN: its six-character suffix, not any secret whose name starts the same
    (
        "release-manager",
        "management",
        Request("secretsmanager:PutSecretValue", f"{SECRET}-extra-AbCdEf"),
        False,
    ),
    (
        "release-manager",
        "management",
        Request("secretsmanager:PutSecretValue", f"{SECRET}-AbCdEfG"),
        False,
    ),
]


@pytest.mark.parametrize(
    ("role", "env", "request_", "allowed"),
    ATTACKS,
    ids=[
        f"{r}-{e}-{q.action}-{'allow' if a else 'deny'}-{n}"
        for n, (r, e, q, a) in enumerate(ATTACKS)
    ],
)
def test_each_role_may_do_what_it_must_and_nothing_it_must_not(
    role: str, env: str, request_: Request, allowed: bool
) -> None:
    verdict = decide(request_, printed(role, env))
    assert verdict == ("Allow" if allowed else "ImplicitDeny"), f"{role} ({env}): {request_}"


def test_the_bucket_policy_denies_the_validator_events_even_under_a_wider_policy() -> None:
    result = CliRunner().invoke(
        cli, ["iam-policy", "--bucket-policy", "--account", ACCOUNT], env={"PROMOTE_CONFIG": ""}
    )
    bucket = json.loads(result.stdout)["bucket_policy"]["policy"]
    wide = {"Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}]}
    validator = {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/concourse-ami-validator"}
    promoter = {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/concourse-ami-promoter"}

    event = f"{BUCKET}/events/x.json"
    record = f"{BUCKET}/evidence/ami-1/management-dev/t-SUCCESS.json"
    assert decide(Request("s3:PutObject", event, validator), wide, bucket) == "ExplicitDeny"
    assert decide(Request("s3:PutObject", record, promoter), wide, bucket) == "ExplicitDeny"
    assert decide(Request("s3:PutObject", event, promoter), wide, bucket) == "Allow"
    assert decide(Request("s3:DeleteObject", event, promoter), wide, bucket) == "ExplicitDeny"
