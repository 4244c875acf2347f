"""Terraform owns the launch templates (`deploy = "terraform"`): rollout deploys through it.

Terraform itself cannot be installed here: `tests/fakes/terraform.py` is a stand-in that reads
the ami-ids secret and writes the launch template the way the AWS provider does, and answers
`plan -detailed-exitcode` with Terraform's exit codes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.estate import Estate

WEB, WORKER = "concourse-web-management-dev", "concourse-worker-management-dev"
STAND_IN = Path(__file__).resolve().parents[1] / "fakes" / "terraform.py"
FAST = ("--interval", "0.2s", "--timeout", "3m")


@pytest.fixture
def terraform_env(seeded: Estate) -> dict[str, str]:
    """A promote.toml whose management-dev is deployed by (stand-in) Terraform, on PATH."""
    bin_dir = seeded.tmp / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "terraform"
    run = f"runpy.run_path({str(STAND_IN)!r}, run_name='__main__')"
    shim.write_text(f"#!{sys.executable}\nimport runpy\n{run}\n")
    shim.chmod(0o755)
    tf = seeded.tmp / "terraform"
    tf.mkdir()
    secret = "data.aws_secretsmanager_secret_version.ami_ids.secret_string"
    templates = {
        role: {
            "name": name,
            "image_id": f'${{jsondecode({secret})["concourse_ami_mgmt_dev"]}}',
            "update_default_version": True,
        }
        for role, name in (("web", WEB), ("worker", WORKER))
    }
    (tf / "main.tf.json").write_text(
        json.dumps(
            {
                "data": {
                    "aws_secretsmanager_secret_version": {
                        "ami_ids": {"secret_id": seeded.config.secret_id}
                    }
                },
                "resource": {"aws_launch_template": templates},
            }
        )
    )
    config = seeded.tmp / "promote.toml"
    config.write_text(
        'test_env = "management-dev"\n'
        "[env.management-dev]\n"
        'secret_key = "concourse_ami_mgmt_dev"\n'
        f'autoscaling_groups = ["{WEB}", "{WORKER}"]\n'
        'accepts = "untested"\n'
        'deploy = "terraform"\n'
        'deploy_dir = "terraform"\n'
        'deploy_command = ["terraform", "apply", "-auto-approve", "-input=false"]\n'
        'drift_command = ["terraform", "plan", "-detailed-exitcode", "-input=false"]\n'
        "[env.management]\n"
        'secret_key = "concourse_ami"\n'
        'autoscaling_groups = ["concourse-web-management", "concourse-worker-management"]\n'
        'accepts = "tested"\n'
    )
    path = f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin"
    return {"PROMOTE_CONFIG": str(config), "PATH": path, "AWS_EC2_METADATA_DISABLED": "true"}


def template_versions(seeded: Estate, name: str) -> list[dict[str, Any]]:
    """Every version of a launch template, oldest first."""
    versions = seeded.client("ec2").describe_launch_template_versions(LaunchTemplateName=name)
    return sorted(versions["LaunchTemplateVersions"], key=lambda v: v["VersionNumber"])


def images_of(seeded: Estate, group: str) -> set[str]:
    """The AMIs the group's members run."""
    ids = [m["InstanceId"] for m in seeded.group(group)["Instances"]]
    found = seeded.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
    return {i["ImageId"] for r in found for i in r["Instances"]}


def test_rollout_deploys_through_terraform_and_never_writes_a_template_itself(
    seeded: Estate, terraform_env: dict[str, str]
) -> None:
    assert seeded.cli("set-ids", "--ami", seeded.tested, "--env", "management-dev").exit_code == 0

    result = seeded.run("rollout", "--env", "management-dev", *FAST, env=terraform_env)

    assert result.returncode == 0, result.stderr
    assert "terraform: Apply complete! Resources: 0 added, 2 changed" in result.stderr
    assert "no drift; every launch template launches" in result.stderr
    for group in (WEB, WORKER):
        versions = template_versions(seeded, group)
        assert [v.get("VersionDescription") for v in versions[1:]] == ["terraform"]
        assert versions[-1]["LaunchTemplateData"]["ImageId"] == seeded.tested
        assert images_of(seeded, group) == {seeded.tested}
    assert "validate: SUCCESS" in result.stdout


def test_a_dry_run_shows_the_deploy_step_and_runs_nothing(
    seeded: Estate, terraform_env: dict[str, str]
) -> None:
    seeded.cli("set-ids", "--ami", seeded.tested, "--env", "management-dev")

    result = seeded.run("rollout", "--env", "management-dev", "--dry-run", env=terraform_env)

    assert result.returncode == 0, result.stderr
    assert "first: run `terraform apply -auto-approve -input=false` in" in result.stdout
    assert "must report no changes" in result.stdout
    assert all(len(template_versions(seeded, g)) == 1 for g in (WEB, WORKER))


@pytest.mark.parametrize(
    ("knob", "code", "message"),
    [
        (
            {"TF_STAND_IN_DRIFT": "1"},
            3,
            "`terraform plan -detailed-exitcode -input=false` still plans changes after the "
            "deploy (drift)",
        ),
        ({"TF_STAND_IN_FAIL": "apply"}, 5, "`terraform apply -auto-approve -input=false` failed"),
    ],
)
def test_a_failed_deploy_or_drift_replaces_nothing(
    seeded: Estate, terraform_env: dict[str, str], knob: dict[str, str], code: int, message: str
) -> None:
    seeded.cli("set-ids", "--ami", seeded.tested, "--env", "management-dev")
    before = {g: (seeded.group(g)["DesiredCapacity"], images_of(seeded, g)) for g in (WEB, WORKER)}

    result = seeded.run("rollout", "--env", "management-dev", *FAST, env={**terraform_env, **knob})

    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "scaled out" not in result.stderr
    after = {g: (seeded.group(g)["DesiredCapacity"], images_of(seeded, g)) for g in (WEB, WORKER)}
    assert after == before


def test_terraform_that_reads_another_key_is_caught_before_anything_is_replaced(
    seeded: Estate, terraform_env: dict[str, str]
) -> None:
    """Its configuration reads production's entry: the templates end up on the wrong AMI."""
    main = seeded.tmp / "terraform" / "main.tf.json"
    main.write_text(main.read_text().replace("concourse_ami_mgmt_dev", "concourse_ami"))
    before = {g: (seeded.group(g)["DesiredCapacity"], images_of(seeded, g)) for g in (WEB, WORKER)}

    result = seeded.run(
        "rollout", "--env", "management-dev", "--ami", seeded.untested, *FAST, env=terraform_env
    )

    assert result.returncode == 3, result.stderr
    assert f"after the deploy, {WEB} launches {seeded.tested}, not {seeded.untested}" in (
        result.stderr
    )
    after = {g: (seeded.group(g)["DesiredCapacity"], images_of(seeded, g)) for g in (WEB, WORKER)}
    assert after == before
