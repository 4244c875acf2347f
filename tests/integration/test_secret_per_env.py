"""An ami-ids secret per account (the estate's Terraform reads its own env's copy): every read and
write of an env's entry, its pin and its compare-and-swap go to that env's secret, through its
role, in the form it is stored in (SecretBinary here). The local AWS maps an assumed role's
calls to the role's account, as AWS does."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.support.estate import Estate

DEV_ACCOUNT = "222222222222"
ROLE = f"arn:aws:iam::{DEV_ACCOUNT}:role/concourse-ami-ids-writer"
DEV_SECRET = "/concourse/management-dev/ami-ids"


def in_dev_account(seeded: Estate, service: str) -> Any:
    """A client acting in the dev account, through the role (as promote reaches it)."""
    credentials = seeded.client("sts").assume_role(RoleArn=ROLE, RoleSessionName="test")[
        "Credentials"
    ]
    return boto3.client(
        service,
        region_name=seeded.config.region,
        endpoint_url=seeded.server.endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def dev_document(seeded: Estate) -> tuple[bytes, dict[str, Any]]:
    raw = in_dev_account(seeded, "secretsmanager").get_secret_value(
        SecretId=DEV_SECRET, VersionStage="AWSCURRENT"
    )
    return raw["SecretBinary"], json.loads(raw["SecretBinary"])


@pytest.fixture
def per_account(seeded: Estate) -> dict[str, str]:
    """management-dev's entry lives in its own account's secret (SecretBinary), reached
    through a role; production's stays in the tooling account's."""
    in_dev_account(seeded, "secretsmanager").create_secret(
        Name=DEV_SECRET,
        SecretBinary=json.dumps({"concourse_ami_mgmt_dev": seeded.untested}).encode(),
    )
    config = seeded.tmp / "promote.toml"
    config.write_text(
        'test_env = "management-dev"\n'
        "[env.management-dev]\n"
        'secret_key = "concourse_ami_mgmt_dev"\n'
        'autoscaling_groups = ["concourse-web-management-dev", "concourse-worker-management-dev"]\n'
        'accepts = "untested"\n'
        f'secret_id = "{DEV_SECRET}"\n'
        f'secret_role_arn = "{ROLE}"\n'
        "[env.management]\n"
        'secret_key = "concourse_ami"\n'
        'autoscaling_groups = ["concourse-web-management", "concourse-worker-management"]\n'
        'accepts = "tested"\n'
    )
    return {"PROMOTE_CONFIG": str(config), "AWS_EC2_METADATA_DISABLED": "true"}


def old_untested(seeded: Estate) -> str:
    image = seeded.client("ec2").describe_images(ImageIds=[seeded.tested])["Images"][0]
    return next(t["Value"] for t in image["Tags"] if t["Key"] == "promote:source-image")


def test_set_ids_writes_the_envs_own_secret_through_its_role_and_keeps_it_binary(
    seeded: Estate, per_account: dict[str, str]
) -> None:
    tooling_before = seeded.secret()
    target = old_untested(seeded)

    result = seeded.cli("set-ids", "--ami", target, "--env", "management-dev", env=per_account)

    assert result.exit_code == 0, result.output
    raw, document = dev_document(seeded)
    assert document["concourse_ami_mgmt_dev"] == target
    assert isinstance(raw, bytes)
    assert seeded.secret() == tooling_before  # the tooling account's copy is not touched
    history = seeded.cli("-o", "json", "history", "--ami", target, env=per_account)
    (event,) = [e["event"] for e in json.loads(history.stdout)["entries"] if e["kind"] == "set-ids"]
    assert event["secret_id"] == DEV_SECRET


def test_status_validate_and_pin_read_and_write_the_envs_own_secret(
    seeded: Estate, per_account: dict[str, str]
) -> None:
    status = seeded.cli("-o", "json", "status", env=per_account)
    validated = seeded.cli("validate", "--env", "management-dev", "--timeout", "0", env=per_account)
    pinned = seeded.cli(
        "pin", "--env", "management-dev", "--reason", "soak", "--owner", "rm", env=per_account
    )

    assert status.exit_code == 0, status.output
    rows = {r["env"]: r for r in json.loads(status.stdout)["envs"]}
    assert rows["management-dev"]["secret_ami"] == seeded.untested
    assert validated.exit_code == 0, validated.output
    assert pinned.exit_code == 0, pinned.output
    _, document = dev_document(seeded)
    assert document["_pins"]["management-dev"]["reason"] == "soak"
    assert "_pins" not in seeded.secret()[1] or "management-dev" not in seeded.secret()[1]["_pins"]


def test_iam_policy_grants_the_role_and_prints_what_the_role_needs(
    seeded: Estate, per_account: dict[str, str]
) -> None:
    caller = json.loads(seeded.cli("-o", "json", "iam-policy", "set-ids", env=per_account).stdout)
    role = json.loads(
        seeded.cli("-o", "json", "iam-policy", "set-ids", "--role", ROLE, env=per_account).stdout
    )

    statements = {s["Sid"]: s for s in caller["policy"]["Statement"]}
    assert statements["SecretRoles"]["Resource"] == [ROLE]
    assert all(DEV_SECRET not in r for r in statements["AmiIdsSecret"]["Resource"])
    (needed,) = role["policy"]["Statement"]
    assert needed["Resource"] == [
        f"arn:aws:secretsmanager:{seeded.config.region}:{DEV_ACCOUNT}:secret:{DEV_SECRET}-??????"
    ]
    assert "secretsmanager:PutSecretValue" in needed["Action"]
