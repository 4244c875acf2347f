"""`promote rollout` on the local AWS: capacity kept, interruptions recovered, refusals clean."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import Result

from promote.adapters.aws.autoscaling import AwsFleetControl
from promote.domain.locks import lock_key
from promote.domain.rollout import RolloutOptions, execute, plan
from promote.domain.rollout_engine import MARKER_TAG
from tests.support.estate import Estate

WEB, WORKER = "concourse-web-management-dev", "concourse-worker-management-dev"
NO_IMDS = {"AWS_EC2_METADATA_DISABLED": "true"}
FAST = ("--interval", "0.2s", "--timeout", "60s")


@pytest.fixture(autouse=True)
def pointed(seeded: Estate) -> None:
    """A rollout goes where the secret says: management-dev's entry names the tested image."""
    seeded.point("management-dev", seeded.tested)


def roll(seeded: Estate, *args: str, env: dict[str, str] | None = None) -> Result:
    """`promote rollout --env management-dev ARGS` with IMDS off (plus ENV), through the CLI."""
    return seeded.cli("rollout", "--env", "management-dev", *args, env={**NO_IMDS, **(env or {})})


@contextmanager
def capacity_sampler(seeded: Estate, groups: list[str]) -> Iterator[list[dict[str, int]]]:
    """Sample InService counts of GROUPS from another thread for as long as the block runs."""
    samples: list[dict[str, int]] = []
    stop = threading.Event()
    client = seeded.aws.client("autoscaling")

    def sample() -> None:
        while not stop.is_set():
            described = client.describe_auto_scaling_groups(AutoScalingGroupNames=groups)
            samples.append(
                {
                    g["AutoScalingGroupName"]: sum(
                        1 for i in g["Instances"] if i["LifecycleState"] == "InService"
                    )
                    for g in described["AutoScalingGroups"]
                }
            )
            stop.wait(0.02)

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def images_of(seeded: Estate, group: str) -> set[str]:
    ids = [i["InstanceId"] for i in seeded.group(group)["Instances"]]
    reservations = seeded.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
    return {i["ImageId"] for r in reservations for i in r["Instances"]}


def test_rollout_replaces_every_old_instance_without_dropping_capacity(seeded: Estate) -> None:
    with capacity_sampler(seeded, [WEB, WORKER]) as samples:
        result = roll(seeded, "--ami", seeded.tested, *FAST)

    assert result.exit_code == 0, result.output
    assert "validate: SUCCESS" in result.stdout
    assert images_of(seeded, WEB) == images_of(seeded, WORKER) == {seeded.tested}
    assert seeded.group(WEB)["DesiredCapacity"] == seeded.group(WORKER)["DesiredCapacity"] == 2
    assert len(samples) > 5
    assert min(s[WEB] for s in samples) >= 2
    assert min(s[WORKER] for s in samples) >= 2
    template = seeded.client("ec2").describe_launch_template_versions(
        LaunchTemplateName=WEB, Versions=["$Latest"]
    )["LaunchTemplateVersions"][0]
    assert template["LaunchTemplateData"]["ImageId"] == seeded.tested
    assert template["LaunchTemplateData"]["InstanceType"] == "t3.medium"  # only ImageId changed


def test_a_dry_run_prints_the_plan_and_changes_nothing(seeded: Estate) -> None:
    before = {g: seeded.group(g) for g in (WEB, WORKER)}

    result = seeded.cli(
        "rollout", "--env", "management-dev", "--ami", seeded.tested, "--dry-run", env=NO_IMDS
    )

    assert result.exit_code == 0
    assert "replace 4" in result.stdout and "dry run: nothing changed" in result.stdout
    assert {g: seeded.group(g) for g in (WEB, WORKER)} == before


def test_rerunning_a_finished_rollout_replaces_nothing(seeded: Estate) -> None:
    seeded.point("management-dev", seeded.untested)  # what every instance runs already

    result = roll(seeded, *FAST)

    assert result.exit_code == 0, result.output
    assert "rolled management-dev" in result.stdout and "0 replaced" in result.stdout


def test_replace_all_refreshes_instances_already_on_the_ami(seeded: Estate) -> None:
    before = {i["InstanceId"] for i in seeded.group(WORKER)["Instances"]}

    result = roll(seeded, "--replace-all", *FAST)

    assert result.exit_code == 0, result.output
    after = {i["InstanceId"] for i in seeded.group(WORKER)["Instances"]}
    assert len(after) == 2 and not (before & after)


def test_the_instance_running_the_rollout_is_never_terminated(seeded: Estate) -> None:
    me = seeded.group(WORKER)["Instances"][0]["InstanceId"]

    result = roll(
        seeded, "--ami", seeded.tested, *FAST, "--no-validate", env={"PROMOTE_THIS_INSTANCE_ID": me}
    )

    assert result.exit_code == 0, result.output
    assert f"warning: {me} runs this command: it is kept, never terminated" in result.stderr
    assert me in {i["InstanceId"] for i in seeded.group(WORKER)["Instances"]}


@contextmanager
def sampling(sample: Callable[[], None], every: float = 0.05) -> Iterator[None]:
    """Call SAMPLE in a background thread every EVERY seconds while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            sample()
            stop.wait(every)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def interrupt_on_terminate(seeded: Estate, after: int) -> Any:
    calls = {"n": 0}

    def handler(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] > after:
            raise KeyboardInterrupt

    seeded.aws.on("before-call.autoscaling.TerminateInstanceInAutoScalingGroup", handler)
    return calls


def test_an_interrupted_rollout_restores_capacity_and_a_rerun_finishes(seeded: Estate) -> None:
    env = seeded.config.environment("management-dev")
    interrupt_on_terminate(seeded, after=1)
    services = seeded.services()
    rollout = plan(services, env.name, seeded.tested, RolloutOptions(interval=0.2))

    with pytest.raises(KeyboardInterrupt):
        execute(rollout, services)

    web = seeded.group(WEB)
    assert web["DesiredCapacity"] == 2 and web["MaxSize"] == 4
    assert json.loads(seeded.ledger_object(lock_key(WEB)))["state"] == "released"
    assert not [t for t in web["Tags"] if t["Key"] == MARKER_TAG]
    result = roll(seeded, "--ami", seeded.tested, *FAST)
    assert result.exit_code == 0, result.output
    assert images_of(seeded, WEB) == images_of(seeded, WORKER) == {seeded.tested}


def crashed_lease(seeded: Estate, group: str, **recorded: Any) -> None:
    """What kill -9 after scale-out leaves behind: a held lease (and the surge capacity)."""
    lease = {
        "schema": "promote/rollout-lease/v1",
        "group": group,
        "env": "management-dev",
        "run": "crashed",
        "by": "bob",
        "ami": seeded.tested,
        "state": "held",
        "started_at": "2026-11-23T12:00:00+00:00",
        "expires_at": "2999-01-01T00:00:00+00:00",
        "desired": 2,
        "min_size": 0,
        "max_size": 4,
        "surge": 2,
        "suspended": [],
        **recorded,
    }
    seeded.client("s3").put_object(
        Bucket=seeded.config.evidence_bucket, Key=lock_key(group), Body=json.dumps(lease)
    )


def test_a_crashed_rollout_blocks_a_second_one_until_resumed(seeded: Estate) -> None:
    env = seeded.config.environment("management-dev")
    crashed_lease(seeded, WEB)
    AwsFleetControl(seeded.aws).set_capacity(env, WEB, 4, 4)
    before = seeded.snapshot()

    refused = roll(seeded, "--ami", seeded.tested, *FAST)

    assert refused.exit_code == 6
    assert f"error: another rollout of {WEB} is running" in refused.stderr
    assert "by bob" in refused.stderr and "--resume" in refused.stderr
    assert seeded.snapshot() == before
    resumed = roll(seeded, "--ami", seeded.tested, *FAST, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "capacity will be restored to desired 2, max 4" in resumed.stderr
    assert seeded.group(WEB)["DesiredCapacity"] == 2
    assert json.loads(seeded.ledger_object(lock_key(WEB)))["state"] == "released"


@pytest.mark.parametrize(
    ("recorded", "why"),
    [
        ({"desired": 0}, "records a desired capacity of 0"),
        ({"desired": 1, "min_size": 0, "surge": 0}, "below today's desired 2 minus the surge of 0"),
    ],
)
def test_resume_refuses_a_lease_that_would_shrink_the_group(
    seeded: Estate, recorded: dict[str, int], why: str
) -> None:
    crashed_lease(seeded, WEB, **recorded)
    before = seeded.snapshot(), seeded.group(WEB)["DesiredCapacity"]

    refused = roll(seeded, "--ami", seeded.tested, *FAST, "--resume")

    assert refused.exit_code == 3, refused.output
    assert why in refused.stderr and "would shrink the group" in refused.stderr
    assert (seeded.snapshot(), seeded.group(WEB)["DesiredCapacity"]) == before


def test_a_forged_marker_tag_is_never_read(seeded: Estate) -> None:
    """Anyone with CreateOrUpdateTags can write the tag; the lease in S3 is what counts."""
    seeded.client("autoscaling").create_or_update_tags(
        Tags=[
            {
                "ResourceId": WEB,
                "ResourceType": "auto-scaling-group",
                "Key": MARKER_TAG,
                "Value": json.dumps({"desired": 0, "max_size": 0, "run": "x"}),
                "PropagateAtLaunch": False,
            }
        ]
    )

    result = roll(seeded, "--ami", seeded.tested, *FAST, "--resume")

    assert result.exit_code == 0, result.output
    assert seeded.group(WEB)["DesiredCapacity"] == 2
    assert not [t for t in seeded.group(WEB)["Tags"] if t["Key"] == MARKER_TAG]


def test_a_rollout_suspends_asg_automation_and_resumes_exactly_what_it_suspended(
    seeded: Estate,
) -> None:
    autoscaling = seeded.client("autoscaling")
    autoscaling.suspend_processes(AutoScalingGroupName=WEB, ScalingProcesses=["AZRebalance"])
    during: list[set[str]] = []

    def sample(params: dict[str, Any], **_: Any) -> None:
        """The suspended processes of the group an instance is terminated from."""
        member = autoscaling.describe_auto_scaling_instances(InstanceIds=[params["InstanceId"]])
        name = member["AutoScalingInstances"][0]["AutoScalingGroupName"]
        during.append({p["ProcessName"] for p in seeded.group(name)["SuspendedProcesses"]})

    event = "before-parameter-build.autoscaling.TerminateInstanceInAutoScalingGroup"
    seeded.aws.on(event, sample)
    services = seeded.services()
    rollout = plan(services, "management-dev", seeded.tested, RolloutOptions(interval=0.2))
    result = execute(rollout, services)

    assert result.validation is not None and result.validation.succeeded
    assert during and all(
        {"ScheduledActions", "AlarmNotification", "AZRebalance"} <= seen for seen in during
    )
    suspended = {p["ProcessName"] for p in seeded.group(WEB)["SuspendedProcesses"]}
    assert suspended == {"AZRebalance"}  # someone else's suspension stays; ours are resumed
    assert not seeded.group(WORKER)["SuspendedProcesses"]


def test_capacity_someone_changes_during_a_rollout_is_kept(seeded: Estate) -> None:
    autoscaling = seeded.client("autoscaling")
    changed: list[int] = []

    def scale_by_hand(**_: Any) -> None:
        if not changed:  # a person adds one instance while the rollout runs
            group = seeded.group(WEB)
            changed.append(group["DesiredCapacity"] + 1)
            autoscaling.set_desired_capacity(AutoScalingGroupName=WEB, DesiredCapacity=changed[0])

    seeded.aws.on("before-call.autoscaling.TerminateInstanceInAutoScalingGroup", scale_by_hand)
    services = seeded.services()
    options = RolloutOptions(interval=0.2, validate=False, only=(WEB,))
    result = execute(plan(services, "management-dev", seeded.tested, options), services)

    assert seeded.group(WEB)["DesiredCapacity"] == 3
    assert any("kept a change of +1 made meanwhile" in step for step in result.steps)


def test_a_group_without_a_launch_template_is_refused_before_any_change(seeded: Estate) -> None:
    autoscaling = seeded.client("autoscaling")
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="legacy", ImageId=seeded.untested, InstanceType="t3.micro"
    )
    subnets = seeded.group(WEB)["VPCZoneIdentifier"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="legacy-web",
        LaunchConfigurationName="legacy",
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=2,
        VPCZoneIdentifier=subnets,
    )
    config = seeded.tmp / "promote.toml"
    config.write_text(
        'test_env = "legacy"\n[env.legacy]\nsecret_key = "legacy_ami"\n'
        'autoscaling_groups = ["legacy-web"]\naccepts = "untested"\n'
    )
    before = seeded.group("legacy-web")

    result = seeded.cli(
        *("--config", str(config), "rollout", "--env", "legacy", "--ami", seeded.tested),
        *("--override-secret", "--reason", "the legacy group has no entry yet"),
        env=NO_IMDS,
    )

    assert result.exit_code == 2
    assert "error: legacy-web launches from a launch configuration" in result.stderr
    assert "--no-launch-template" in result.stderr
    assert seeded.group("legacy-web") == before


def test_workers_are_retired_only_once_their_replacements_run(seeded: Estate) -> None:
    """Replacements register 0.5 s after they are InService; no old worker is retired before
    they run, and running workers (sampled) never drop below the original count."""
    from tests.fakes.concourse_server import FakeConcourse
    from tests.support.workers import describe_members, following_workers, worker_name

    old = {worker_name(m) for m in describe_members(seeded, [WORKER])[WORKER]}
    samples: list[int] = []
    with (
        FakeConcourse(token="concourse-bearer-sentinel") as concourse,
        following_workers(seeded, concourse, [WORKER]),
    ):
        concourse.add_worker("some-other-worker")
        with sampling(lambda: samples.append(concourse.running())):
            result = roll(
                seeded,
                "--ami",
                seeded.tested,
                *("--interval", "0.1s", "--timeout", "90s"),
                *("--concourse-url", concourse.url),
                env={"CONCOURSE_TOKEN": "concourse-bearer-sentinel"},
            )

    assert result.exit_code == 0, result.output
    assert sorted(concourse.landed) == sorted(old)
    assert concourse.workers["some-other-worker"].state == "running"
    assert "concourse-bearer-sentinel" not in result.output
    assert "waiting for replacement workers running in Concourse: 2/2" in result.stderr
    assert min(samples) >= len(old) + 1, samples
    for name in old:
        assert f"worker {name} is gone" in result.stderr


def test_an_old_worker_concourse_does_not_know_stops_the_rollout_before_any_change(
    seeded: Estate,
) -> None:
    from tests.fakes.concourse_server import FakeConcourse
    from tests.support.workers import describe_members, worker_name

    members = describe_members(seeded, [WORKER])[WORKER]
    before = {g: seeded.group(g) for g in (WEB, WORKER)}
    with FakeConcourse(token="t") as concourse:
        concourse.add_worker(worker_name(members[0]))  # the other one registered otherwise
        result = roll(
            seeded,
            "--ami",
            seeded.tested,
            *("--concourse-url", concourse.url),
            env={"CONCOURSE_TOKEN": "t"},
        )

    assert result.exit_code == 3, result.output
    assert f"{WORKER}: no Concourse worker matches {members[1]['InstanceId']}" in result.stderr
    assert {g: seeded.group(g) for g in (WEB, WORKER)} == before
    assert concourse.landed == []


def test_credentials_never_go_to_a_remote_concourse_over_plain_http(seeded: Estate) -> None:
    before = seeded.group(WORKER)

    result = roll(
        seeded,
        "--ami",
        seeded.tested,
        *("--concourse-url", "http://ci.example.com"),
        env={"CONCOURSE_TOKEN": "t"},
    )

    assert result.exit_code == 2
    assert "would send credentials unencrypted" in result.stderr
    assert seeded.group(WORKER) == before


def test_landing_without_a_token_is_refused_before_any_change(seeded: Estate) -> None:
    before = seeded.group(WORKER)

    result = roll(
        seeded,
        "--ami",
        seeded.tested,
        "--concourse-url",
        "http://127.0.0.1:9",
        env={"CONCOURSE_TOKEN": ""},
    )

    assert result.exit_code == 2
    assert "error: --concourse-url needs CONCOURSE_TOKEN" in result.stderr
    assert seeded.group(WORKER) == before


def test_asg_limits_a_refresh_to_the_workers(seeded: Estate) -> None:
    web_before = {i["InstanceId"] for i in seeded.group(WEB)["Instances"]}
    workers_before = {i["InstanceId"] for i in seeded.group(WORKER)["Instances"]}

    result = roll(seeded, "--asg", WORKER, "--replace-all", *FAST, "--no-validate")

    assert result.exit_code == 0, result.output
    assert {i["InstanceId"] for i in seeded.group(WEB)["Instances"]} == web_before
    assert not workers_before & {i["InstanceId"] for i in seeded.group(WORKER)["Instances"]}


def test_an_asg_of_another_env_is_refused(seeded: Estate) -> None:
    result = roll(seeded, "--asg", "concourse-worker-management", "--dry-run")

    assert result.exit_code == 2
    assert "error: concourse-worker-management is not an ASG of management-dev" in result.stderr


def test_a_wrong_concourse_token_is_refused_before_any_change(seeded: Estate) -> None:
    from tests.fakes.concourse_server import FakeConcourse

    before = {g: seeded.group(g) for g in (WEB, WORKER)}
    with FakeConcourse(token="right") as concourse:
        result = roll(
            seeded,
            "--ami",
            seeded.tested,
            "--concourse-url",
            concourse.url,
            env={"CONCOURSE_TOKEN": "wrong"},
        )

    assert result.exit_code == 5
    assert "error: Concourse refused GET /api/v1/workers (401)" in result.stderr
    assert {g: seeded.group(g) for g in (WEB, WORKER)} == before
