"""`promote sandbox seed --estate realistic` and the whole lifecycle on it: envs in two accounts
(the local AWS maps an assumed role's calls to the role's account), each env's own SecretBinary
ami-ids secret reached through a role in its account, the night schedule and a CPU alarm policy
on the worker groups, per-instance Name tags; then validate, publish, pin/unpin, set-ids,
release-local, rollout (also while a scheduled action comes due), all through the CLI."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import git
import pytest

from promote.adapters.aws.session import Aws
from promote.config import Overrides, load
from promote.sandbox import estate
from promote.sandbox.server import Sandbox
from tests.fakes.scheduler import ScheduleStandIn, when_scaled
from tests.support.estate import Estate, git_checkout, reset

DEV, PROD = estate.DEV_ACCOUNT, estate.PROD_ACCOUNT
DEV_WORKER, PROD_WORKER = "concourse-worker-management-dev", "concourse-worker-management"
GROUPS = {
    "management-dev": ("concourse-web-management-dev", DEV_WORKER),
    "management": ("concourse-web-management", PROD_WORKER),
}
ACCOUNTS = {"management-dev": DEV, "management": PROD}
SECRETS = {
    "management-dev": "/concourse/management-dev/ami-ids",
    "management": "/concourse/management/ami-ids",
}
KEYS = {"management-dev": "concourse_ami_mgmt_dev", "management": "concourse_ami"}
FAST = ("--interval", "0.2s", "--timeout", "60s")


class Realistic:
    """The realistic estate and clients in its accounts."""

    def __init__(self, estate_: Estate, report: dict[str, Any], seed_output: str) -> None:
        self.estate = estate_
        self.report = report
        self.seed_output = seed_output
        self.config_path = estate_.tmp / "promote.toml"

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return self.estate.cli(*args, env={"PROMOTE_CONFIG": str(self.config_path), **(env or {})})

    def client(self, service: str, env: str | None = None, role: str = "promoter") -> Any:
        if env is None:
            return self.estate.client(service)
        account = ACCOUNTS[env]
        name = "concourse-ami-promoter" if role == "promoter" else "concourse-ami-ids-writer"
        credentials = self.estate.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{name}", RoleSessionName="test"
        )["Credentials"]
        return boto3.client(
            service,
            region_name=self.estate.config.region,
            endpoint_url=self.estate.server.endpoint,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def document(self, env: str) -> tuple[Any, dict[str, Any]]:
        raw = self.client("secretsmanager", env, "secret").get_secret_value(
            SecretId=SECRETS[env], VersionStage="AWSCURRENT"
        )
        return raw.get("SecretBinary"), json.loads(raw["SecretBinary"])

    def group(self, name: str) -> dict[str, Any]:
        env = next(e for e, groups in GROUPS.items() if name in groups)
        found: dict[str, Any] = self.client("autoscaling", env).describe_auto_scaling_groups(
            AutoScalingGroupNames=[name]
        )["AutoScalingGroups"][0]
        return found

    def images_of(self, name: str) -> set[str]:
        env = next(e for e, groups in GROUPS.items() if name in groups)
        ids = [i["InstanceId"] for i in self.group(name)["Instances"]]
        found = self.client("ec2", env).describe_instances(InstanceIds=ids)["Reservations"]
        return {i["ImageId"] for r in found for i in r["Instances"]}

    @property
    def untested(self) -> str:
        image: str = self.report["autoscaling_groups"][DEV_WORKER]["image_id"]
        return image

    @property
    def tested(self) -> str:
        image: str = self.report["autoscaling_groups"][PROD_WORKER]["image_id"]
        return image


@pytest.fixture
def realistic(moto_server: Sandbox, aws_env: dict[str, str], tmp_path: Path) -> Realistic:
    reset(moto_server)
    config = load(Overrides(endpoint_url=moto_server.endpoint), {}, tmp_path)
    aws = Aws(config, credentials=("testing", "testing"))
    base = Estate(moto_server, config, aws_env, tmp_path, estate.SeedReport(None, ""), aws)
    out = tmp_path / "promote.toml"
    result = base.cli(
        "-o", "json", "sandbox", "seed", "--estate", "realistic", "--write-config", str(out)
    )
    assert result.exit_code == 0, result.output
    return Realistic(base, json.loads(result.stdout), result.output)


def test_the_realistic_estate_has_two_accounts_binary_secrets_schedules_alarms_and_names(
    realistic: Realistic,
) -> None:
    text = realistic.config_path.read_text()
    assert text == estate.REALISTIC_CONFIG
    tooling = realistic.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert tooling == []  # no group lives in the tooling account
    for env, groups in GROUPS.items():
        described = realistic.client("autoscaling", env).describe_auto_scaling_groups()
        assert sorted(g["AutoScalingGroupName"] for g in described["AutoScalingGroups"]) == sorted(
            groups
        )
        raw, document = realistic.document(env)
        assert isinstance(raw, bytes)
        assert document[KEYS[env]] == (
            realistic.untested if env == "management-dev" else realistic.tested
        )
        assert set(document) - {"_pins"} == {KEYS[env]}
        for group in groups:
            ids = [i["InstanceId"] for i in realistic.group(group)["Instances"]]
            assert len(ids) == 2
            reservations = realistic.client("ec2", env).describe_instances(InstanceIds=ids)
            for instance in (i for r in reservations["Reservations"] for i in r["Instances"]):
                tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
                zone = instance["Placement"]["AvailabilityZone"]
                role = "worker" if "worker" in group else "web"
                expected = f"ci-concourse-{role}-{zone}-{instance['InstanceId'].removeprefix('i-')}"
                assert tags["Name"] == expected
    assert "management" in realistic.document("management")[1]["_pins"]
    schedule = realistic.client("autoscaling", "management-dev").describe_scheduled_actions(
        AutoScalingGroupName=DEV_WORKER
    )["ScheduledUpdateGroupActions"]
    assert {
        (a["ScheduledActionName"], a["Recurrence"], a["DesiredCapacity"]) for a in schedule
    } == {
        ("night", "0 19 * * 1-5", 0),
        ("morning", "0 7 * * 1-5", 2),
    }
    for env, worker in (("management-dev", DEV_WORKER), ("management", PROD_WORKER)):
        policies = realistic.client("autoscaling", env).describe_policies(
            AutoScalingGroupName=worker
        )["ScalingPolicies"]
        assert [(p["PolicyName"], p["ScalingAdjustment"]) for p in policies] == [
            ("cpu-scale-out", 1)
        ]
        alarms = realistic.client("cloudwatch", env).describe_alarms()["MetricAlarms"]
        assert [(a["AlarmName"], a["AlarmActions"]) for a in alarms] == [
            (f"{worker}-cpu-high", [policies[0]["PolicyARN"]])
        ]
    shared = realistic.client("ec2").describe_image_attribute(
        ImageId=realistic.tested, Attribute="launchPermission"
    )["LaunchPermissions"]
    assert {"UserId": DEV} in shared and {"UserId": PROD} in shared


def test_seeding_the_realistic_estate_again_creates_nothing(realistic: Realistic) -> None:
    again = realistic.cli(
        "-o",
        "json",
        "sandbox",
        "seed",
        "--estate",
        "realistic",
        "--write-config",
        str(realistic.config_path),
    )

    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["created"] == []


def test_a_different_promote_toml_is_never_overwritten(realistic: Realistic) -> None:
    other = realistic.estate.tmp / "other.toml"
    other.write_text('test_env = "x"\n')

    result = realistic.cli("sandbox", "seed", "--estate", "realistic", "--write-config", str(other))

    assert result.exit_code == 2
    assert "exists and is not the realistic estate's configuration" in result.stderr
    assert other.read_text() == 'test_env = "x"\n'


def test_the_lifecycle_on_the_realistic_estate(realistic: Realistic, tmp_path: Path) -> None:
    status = realistic.cli("-o", "json", "status")
    assert status.exit_code == 0, status.output
    rows = {r["env"]: r for r in json.loads(status.stdout)["envs"]}
    assert rows["management-dev"]["secret_ami"] == realistic.untested
    assert rows["management"]["secret_ami"] == realistic.tested

    validated = realistic.cli("-o", "json", "validate", "--env", "management-dev", "--timeout", "0")
    assert validated.exit_code == 0, validated.output
    assert json.loads(validated.stdout)["result"] == "SUCCESS"

    published = realistic.cli("publish", "--ami", realistic.untested)
    assert published.exit_code == 0, published.output
    tested = published.stdout.strip().splitlines()[-1]
    permissions = realistic.client("ec2").describe_image_attribute(
        ImageId=tested, Attribute="launchPermission"
    )["LaunchPermissions"]
    assert {"UserId": PROD} in permissions

    refused = realistic.cli("set-ids", "--ami", tested, "--env", "management")
    assert refused.exit_code != 0  # production is pinned
    assert realistic.document("management")[1]["concourse_ami"] == realistic.tested

    unpinned = realistic.cli(
        "unpin", "--env", "management", "--reason", "release 7.12.0", "--apply"
    )
    assert unpinned.exit_code == 0, unpinned.output
    raw, document = realistic.document("management")
    assert isinstance(raw, bytes) and document["concourse_ami"] == tested
    assert "management" not in document.get("_pins", {})
    again = realistic.cli("set-ids", "--ami", tested, "--env", "management")
    assert again.exit_code == 0, again.output
    assert "nothing to write" in again.stdout

    moved = realistic.cli("set-ids", "--ami", tested, "--env", "management-dev")
    assert moved.exit_code == 0, moved.output
    raw, document = realistic.document("management-dev")
    assert isinstance(raw, bytes) and document == {"concourse_ami_mgmt_dev": tested}
    assert realistic.document("management")[1]["concourse_ami"] == tested

    rolled = realistic.cli("rollout", "--env", "management", *FAST)
    assert rolled.exit_code == 0, rolled.output
    assert realistic.images_of(PROD_WORKER) == {tested}
    assert realistic.group(PROD_WORKER)["SuspendedProcesses"] == []

    pinned = realistic.cli("pin", "--env", "management", "--reason", "soak", "--owner", "rm")
    assert pinned.exit_code == 0, pinned.output
    assert realistic.document("management")[1]["_pins"]["management"]["ami"] == tested

    repo = git_checkout(tmp_path / "checkout")
    released = realistic.cli(
        "-o", "json", "release", "--git-repo", str(repo.working_tree_dir), "--ami", tested
    )
    assert released.exit_code == 0, released.output
    assert git.Repo(repo.working_tree_dir).tags

    history = realistic.cli("-o", "json", "history", "--env", "management")
    kinds = [e["kind"] for e in json.loads(history.stdout)["entries"]]
    assert {"pin", "unpin", "evidence"} <= set(kinds)
    dev = realistic.cli("-o", "json", "history", "--env", "management-dev")
    assert "set-ids" in [e["kind"] for e in json.loads(dev.stdout)["entries"]]


def test_a_rollout_skips_a_scheduled_action_that_comes_due_and_resumes_exactly_what_it_suspended(
    realistic: Realistic,
) -> None:
    autoscaling = realistic.client("autoscaling", "management-dev")
    # Terraform's suspended_processes: AZRebalance stays suspended after the rollout.
    autoscaling.suspend_processes(AutoScalingGroupName=DEV_WORKER, ScalingProcesses=["AZRebalance"])
    scheduler = ScheduleStandIn(autoscaling, DEV_WORKER)
    due: list[datetime] = []

    def night_falls() -> None:
        """As promote scales the worker group out for its surge, an action comes due."""
        due.append(datetime.now(UTC) + timedelta(milliseconds=1))
        autoscaling.put_scheduled_update_group_action(
            AutoScalingGroupName=DEV_WORKER,
            ScheduledActionName="early-night",
            StartTime=due[0],
            MinSize=0,
            DesiredCapacity=0,
        )
        time.sleep(0.01)
        scheduler.tick()

    pointed = realistic.cli("set-ids", "--env", "management-dev", "--ami", realistic.tested)
    assert pointed.exit_code == 0, pointed.output  # a rollout goes where the secret says
    when_scaled(DEV_WORKER, night_falls)
    rolled = realistic.cli(
        "-o",
        "json",
        "rollout",
        "--env",
        "management-dev",
        "--ami",
        realistic.tested,
        *FAST,
        env={"PROMOTE_TEST_HOOKS": "tests.fakes.scheduler:install"},
    )
    scheduler.tick()  # after the rollout: a skipped action is not fired late

    assert rolled.exit_code == 0, rolled.output
    assert due, "promote never scaled the worker group"
    assert scheduler.fired == []
    (held,) = scheduler.held
    assert held[0] == "early-night"
    assert {"ScheduledActions", "AlarmNotification", "AZRebalance"} <= held[1]
    group = realistic.group(DEV_WORKER)
    assert [p["ProcessName"] for p in group["SuspendedProcesses"]] == ["AZRebalance"]
    assert group["DesiredCapacity"] == 2
    assert realistic.images_of(DEV_WORKER) == {realistic.tested}


def test_without_a_rollout_the_stand_in_fires_the_due_action(realistic: Realistic) -> None:
    """The control: the scheduler stand-in does fire a due action on an unsuspended group."""
    autoscaling = realistic.client("autoscaling", "management-dev")
    autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName=DEV_WORKER,
        ScheduledActionName="early-night",
        StartTime=datetime.now(UTC) + timedelta(seconds=0.2),
        MinSize=0,
        DesiredCapacity=0,
    )
    scheduler = ScheduleStandIn(autoscaling, DEV_WORKER)
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while not scheduler.fired and datetime.now(UTC) < deadline:
        scheduler.tick()

    assert scheduler.fired == ["early-night"]
    assert realistic.group(DEV_WORKER)["DesiredCapacity"] == 0
