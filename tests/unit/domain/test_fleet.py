"""validate's decision, polling and API use, with AWS stubbed by botocore's Stubber."""

from __future__ import annotations

from typing import Any

import pytest

from promote.adapters.aws.autoscaling import AwsFleet
from promote.config import Environment
from promote.domain.fleet import validate
from promote.errors import PromoteError
from tests.support.fakes import FakeClock
from tests.support.stubs import StubbedAws

NEW, OLD = "ami-0new0000000000000", "ami-0old0000000000000"
WEB, WORKER = "concourse-web-management-dev", "concourse-worker-management-dev"


@pytest.fixture
def env(stubbed: StubbedAws) -> Environment:
    return stubbed.config.environment("management-dev")


class Stubs:
    """Stubbers for the two clients validate uses, fed one poll at a time."""

    def __init__(self, stubbed: StubbedAws, env: Environment) -> None:
        self.fleet = AwsFleet(stubbed.aws)
        self.asg = stubbed.stub("autoscaling", env)
        self.ec2 = stubbed.stub("ec2", env)

    def poll(self, groups: list[dict[str, Any]], instances: list[tuple[str, str, str]]) -> None:
        """One round of DescribeAutoScalingGroups + DescribeInstances."""
        self.asg.add_response(
            "describe_auto_scaling_groups",
            {"AutoScalingGroups": groups},
            {"AutoScalingGroupNames": [WEB, WORKER]},
        )
        if any(g["Instances"] for g in groups):
            self.ec2.add_response(
                "describe_instances",
                {
                    "Reservations": [
                        {
                            "Instances": [
                                {
                                    "InstanceId": i,
                                    "ImageId": ami,
                                    "State": {"Name": state, "Code": 16},
                                }
                                for i, ami, state in instances
                            ]
                        }
                    ]
                },
                {
                    "Filters": [{"Name": "tag:aws:autoscaling:groupName", "Values": [WEB, WORKER]}],
                    "MaxResults": 1000,
                },
            )


def group(name: str, desired: int, *members: tuple[str, str]) -> dict[str, Any]:
    return {
        "AutoScalingGroupName": name,
        "DesiredCapacity": desired,
        "MinSize": 0,
        "MaxSize": 10,
        "DefaultCooldown": 300,
        "AvailabilityZones": ["eu-west-2a"],
        "HealthCheckType": "EC2",
        "CreatedTime": "2026-11-01T00:00:00Z",
        "Instances": [
            {
                "InstanceId": instance,
                "LifecycleState": state,
                "HealthStatus": "Healthy",
                "AvailabilityZone": "eu-west-2a",
                "ProtectedFromScaleIn": False,
            }
            for instance, state in members
        ],
    }


@pytest.fixture
def stubs(stubbed: StubbedAws, env: Environment) -> Stubs:
    return Stubs(stubbed, env)


def run(stubs: Stubs, env: Environment, clock: FakeClock, timeout: float = 0) -> Any:
    lines: list[str] = []
    result = validate(env, NEW, stubs.fleet, clock, timeout, 15, lines.append)
    return result, lines


ALL_NEW = [("i-1", NEW, "running"), ("i-2", NEW, "running"), ("i-3", NEW, "running")]


def test_every_instance_on_the_expected_ami_is_a_success(stubs: Stubs, env: Environment) -> None:
    stubs.poll(
        [
            group(WEB, 1, ("i-1", "InService")),
            group(WORKER, 2, ("i-2", "InService"), ("i-3", "InService")),
        ],
        ALL_NEW,
    )

    result, lines = run(stubs, env, FakeClock())

    assert result.result == "SUCCESS"
    assert result.reasons == ()
    assert lines == [f"management-dev: 3/3 on {NEW}"]


def test_one_instance_on_the_old_ami_fails_with_its_reason(stubs: Stubs, env: Environment) -> None:
    stubs.poll(
        [
            group(WEB, 1, ("i-1", "InService")),
            group(WORKER, 2, ("i-2", "InService"), ("i-3", "InService")),
        ],
        [("i-1", NEW, "running"), ("i-2", OLD, "running"), ("i-3", NEW, "running")],
    )

    result, lines = run(stubs, env, FakeClock())

    assert result.result == "FAILED"
    assert result.reasons == (f"i-2 in {WORKER}: runs {OLD}, expected {NEW}",)
    assert lines == [f"management-dev: 2/3 on {NEW}, 1 on other AMIs"]


def test_a_pending_instance_that_comes_in_service_during_the_wait_succeeds(
    stubs: Stubs, env: Environment
) -> None:
    stubs.poll(
        [
            group(WEB, 1, ("i-1", "InService")),
            group(WORKER, 2, ("i-2", "InService"), ("i-3", "Pending")),
        ],
        [("i-1", NEW, "running"), ("i-2", NEW, "running"), ("i-3", NEW, "pending")],
    )
    stubs.poll(
        [
            group(WEB, 1, ("i-1", "InService")),
            group(WORKER, 2, ("i-2", "InService"), ("i-3", "InService")),
        ],
        ALL_NEW,
    )
    clock = FakeClock()

    result, lines = run(stubs, env, clock, timeout=300)

    assert result.result == "SUCCESS"
    assert result.polls == 2
    assert clock.slept == [15]
    assert lines == [
        f"management-dev: 2/3 on {NEW}, 1 pending, 1 not running",
        f"management-dev: 3/3 on {NEW}",
    ]


def test_an_instance_that_stays_pending_fails_at_the_timeout(
    stubs: Stubs, env: Environment
) -> None:
    pending_groups = [
        group(WEB, 1, ("i-1", "InService")),
        group(WORKER, 2, ("i-2", "InService"), ("i-3", "Pending")),
    ]
    pending = [("i-1", NEW, "running"), ("i-2", NEW, "running"), ("i-3", NEW, "pending")]
    for _ in range(3):
        stubs.poll(pending_groups, pending)
    clock = FakeClock()

    result, _ = run(stubs, env, clock, timeout=30)

    assert result.result == "FAILED"
    assert result.polls == 3
    assert sum(clock.slept) == 30
    assert f"i-3 in {WORKER}: lifecycle state Pending, not InService" in result.reasons
    assert f"i-3 in {WORKER}: EC2 state pending, not running" in result.reasons
    assert f"{WORKER}: 1 InService of desired 2" in result.reasons


def test_desired_three_with_two_in_service_fails(stubs: Stubs, env: Environment) -> None:
    stubs.poll(
        [
            group(WEB, 1, ("i-1", "InService")),
            group(WORKER, 3, ("i-2", "InService"), ("i-3", "InService")),
        ],
        ALL_NEW,
    )

    result, lines = run(stubs, env, FakeClock())

    assert result.result == "FAILED"
    assert result.reasons == (f"{WORKER}: 2 InService of desired 3",)
    assert lines == [f"management-dev: 3/4 on {NEW}"]


def test_zero_desired_is_never_a_success_and_a_schedule_that_emptied_a_group_is_named(
    stubs: Stubs, env: Environment
) -> None:
    stubs.poll([group(WEB, 0), group(WORKER, 0)], [])
    for name, actions in ((WEB, []), (WORKER, [("night", "0 19 * * 1-5", 0), ("day", None, 2)])):
        stubs.asg.add_response(
            "describe_scheduled_actions",
            {
                "ScheduledUpdateGroupActions": [
                    {
                        "AutoScalingGroupName": name,
                        "ScheduledActionName": action,
                        "DesiredCapacity": desired,
                        **({"Recurrence": recurrence} if recurrence else {}),
                    }
                    for action, recurrence, desired in actions
                ]
            },
            {"AutoScalingGroupName": name},
        )

    result, lines = run(stubs, env, FakeClock())

    assert result.result == "FAILED"
    assert result.reasons == (
        f"{WEB}: desired capacity is 0; an empty group proves nothing",
        f"{WORKER}: scaled to zero by scheduled action night (0 19 * * 1-5); an empty group "
        "proves nothing (validate inside the awake window, or with --wake)",
    )
    assert lines == [f"management-dev: 0/0 on {NEW}"]


def test_a_terminating_member_is_not_counted(stubs: Stubs, env: Environment) -> None:
    stubs.poll(
        [
            group(WEB, 1, ("i-1", "InService")),
            group(WORKER, 2, ("i-2", "InService"), ("i-3", "InService"), ("i-4", "Terminating")),
        ],
        [*ALL_NEW, ("i-4", OLD, "shutting-down")],
    )

    result, lines = run(stubs, env, FakeClock())

    assert result.result == "FAILED"
    assert f"i-4 in {WORKER}: lifecycle state Terminating, not InService" in result.reasons
    assert lines == [f"management-dev: 3/3 on {NEW}, 1 terminating, 1 on other AMIs, 1 not running"]


def test_a_missing_asg_is_not_found(stubs: Stubs, env: Environment) -> None:
    stubs.asg.add_response(
        "describe_auto_scaling_groups",
        {"AutoScalingGroups": [group(WEB, 1, ("i-1", "InService"))]},
        {"AutoScalingGroupNames": [WEB, WORKER]},
    )

    with pytest.raises(PromoteError) as caught:
        run(stubs, env, FakeClock())

    assert caught.value.exit_code == 4
    assert (
        caught.value.message
        == f"auto scaling group {WORKER} of management-dev not found in eu-west-2"
    )


def test_instances_are_read_in_pages_of_a_thousand(stubs: Stubs, env: Environment) -> None:
    members = [(f"i-{n:04d}", "InService") for n in range(1500)]
    stubs.asg.add_response(
        "describe_auto_scaling_groups",
        {
            "AutoScalingGroups": [
                group(WEB, 500, *members[:500]),
                group(WORKER, 1000, *members[500:]),
            ]
        },
        {"AutoScalingGroupNames": [WEB, WORKER]},
    )
    page = {
        "Filters": [{"Name": "tag:aws:autoscaling:groupName", "Values": [WEB, WORKER]}],
        "MaxResults": 1000,
    }

    def reservation(chunk: list[tuple[str, str]]) -> dict[str, Any]:
        return {
            "Instances": [
                {"InstanceId": i, "ImageId": NEW, "State": {"Name": "running", "Code": 16}}
                for i, _ in chunk
            ]
        }

    stubs.ec2.add_response(
        "describe_instances",
        {"Reservations": [reservation(members[:1000])], "NextToken": "t1"},
        page,
    )
    stubs.ec2.add_response(
        "describe_instances",
        {"Reservations": [reservation(members[1000:])]},
        {**page, "NextToken": "t1"},
    )

    result, _ = run(stubs, env, FakeClock())

    assert result.result == "SUCCESS"
    assert len(result.snapshot.instances) == 1500
