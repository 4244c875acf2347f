"""The instance-refresh engine, on botocore's Stubber (moto has no instance refresh): requests
and responses are checked against botocore's service model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from promote.adapters.aws.autoscaling import AwsFleetControl
from promote.config import Overrides, load
from promote.domain import refresh
from promote.domain.rollout import GroupPlan, RolloutPlan
from promote.domain.rollout_engine import RolloutLog
from promote.errors import PromoteError
from tests.support.fakes import FakeClock, make_services
from tests.support.stubs import StubbedAws

WORKER = "concourse-worker-management"
AMI = "ami-0123456789abcdef0"


def plan_for(*groups: str) -> RolloutPlan:
    """A plan replacing two instances in each group, templates already on the AMI."""
    return RolloutPlan(
        "management",
        AMI,
        tuple(GroupPlan(g, 2, 4, ("i-1", "i-2"), (), None, False) for g in groups),
    )


def engine(stubbed: StubbedAws, clock: FakeClock, timeout: float = 600) -> Any:
    services, lines = make_services(
        clock=clock, fleet_control=AwsFleetControl(stubbed.aws), config=stubbed.config
    )
    env = stubbed.config.environment("management")
    return refresh.RefreshEngine(env, services, timeout, 15), lines


def expect_start(stubbed: StubbedAws, refresh_id: str = "r-1") -> None:
    stubbed.stub("autoscaling").add_response(
        "start_instance_refresh",
        {"InstanceRefreshId": refresh_id},
        {
            "AutoScalingGroupName": WORKER,
            "Strategy": "Rolling",
            "Preferences": refresh.PREFERENCES,
        },
    )


def expect_status(stubbed: StubbedAws, status: str, percent: int, reason: str = "") -> None:
    answer: dict[str, Any] = {
        "InstanceRefreshId": "r-1",
        "AutoScalingGroupName": WORKER,
        "Status": status,
        "PercentageComplete": percent,
        "InstancesToUpdate": 2 - percent // 50,
    }
    if reason:
        answer["StatusReason"] = reason
    stubbed.stub("autoscaling").add_response(
        "describe_instance_refreshes",
        {"InstanceRefreshes": [answer]},
        {"AutoScalingGroupName": WORKER, "InstanceRefreshIds": ["r-1"]},
    )


def test_a_refresh_launches_before_terminating_and_is_followed_to_success(
    stubbed: StubbedAws,
) -> None:
    clock = FakeClock()
    expect_start(stubbed)
    expect_status(stubbed, "Pending", 0)
    expect_status(stubbed, "InProgress", 50)
    expect_status(stubbed, "Successful", 100)
    runner, lines = engine(stubbed, clock)

    log = runner.run(plan_for(WORKER), RolloutLog())

    assert refresh.PREFERENCES["MinHealthyPercentage"] == 100
    assert refresh.PREFERENCES["MaxHealthyPercentage"] == 200
    assert refresh.PREFERENCES["SkipMatching"] and refresh.PREFERENCES["AutoRollback"]
    assert log.steps == [
        f"{WORKER}: instance refresh r-1 started",
        f"{WORKER}: instance refresh r-1 Successful",
    ]
    assert f"{WORKER}: instance refresh InProgress, 50% done, 1 to update" in lines
    assert clock.slept == [15, 15]


@pytest.mark.parametrize("status", ["Failed", "RollbackSuccessful", "Cancelled"])
def test_a_refresh_that_ends_badly_is_exit_3_with_its_reason(
    stubbed: StubbedAws, status: str
) -> None:
    expect_start(stubbed)
    expect_status(stubbed, status, 50, reason="instances failed health checks")
    runner, _ = engine(stubbed, FakeClock())

    with pytest.raises(PromoteError) as failed:
        runner.run(plan_for(WORKER), RolloutLog())

    assert failed.value.exit_code == 3
    assert failed.value.message == (
        f"{WORKER}: instance refresh r-1 ended {status}: instances failed health checks"
    )


def test_a_second_refresh_of_a_group_is_refused_by_aws_as_a_conflict(
    stubbed: StubbedAws,
) -> None:
    stubbed.stub("autoscaling").add_client_error(
        "start_instance_refresh",
        service_error_code="InstanceRefreshInProgress",
        service_message="An Instance Refresh is already in progress",
    )
    runner, _ = engine(stubbed, FakeClock())

    with pytest.raises(PromoteError) as refused:
        runner.run(plan_for(WORKER), RolloutLog())

    assert refused.value.exit_code == 6
    assert refused.value.message == f"{WORKER} already has an instance refresh running"


def test_at_the_timeout_the_refresh_goes_on_and_the_hint_says_how_to_follow_it(
    stubbed: StubbedAws,
) -> None:
    expect_start(stubbed)
    expect_status(stubbed, "InProgress", 0)
    expect_status(stubbed, "InProgress", 0)
    runner, _ = engine(stubbed, FakeClock(), timeout=15)

    with pytest.raises(PromoteError) as late:
        runner.run(plan_for(WORKER), RolloutLog())

    assert late.value.exit_code == 5
    assert "still InProgress at the rollout's timeout; it goes on" in late.value.message
    assert "describe-instance-refreshes" in late.value.hint
    assert f"cancel-instance-refresh --auto-scaling-group-name {WORKER}" in late.value.hint


def test_ctrl_c_leaves_the_refresh_running_and_says_how_to_follow_or_cancel_it(
    stubbed: StubbedAws,
) -> None:
    class Interrupted(FakeClock):
        def sleep(self, seconds: float) -> None:
            raise KeyboardInterrupt

    expect_start(stubbed)
    expect_status(stubbed, "InProgress", 0)
    runner, lines = engine(stubbed, Interrupted())

    with pytest.raises(KeyboardInterrupt):
        runner.run(plan_for(WORKER), RolloutLog())

    assert lines[-1].startswith(f"interrupted: the instance refresh r-1 of {WORKER} goes on")
    assert "cancel-instance-refresh" in lines[-1]


def hooks(stubbed: StubbedAws, group: str, transitions: list[str]) -> None:
    stubbed.stub("autoscaling").add_response(
        "describe_lifecycle_hooks",
        {
            "LifecycleHooks": [
                {"LifecycleHookName": f"hook-{i}", "LifecycleTransition": t}
                for i, t in enumerate(transitions)
            ]
        },
        {"AutoScalingGroupName": group},
    )


def test_auto_picks_instance_refresh_on_aws_only_where_every_group_has_the_drain_hook(
    stubbed: StubbedAws,
) -> None:
    on_aws = load(Overrides(region="eu-west-2"), {}, Path("/nonexistent"))
    services, _ = make_services(fleet_control=AwsFleetControl(stubbed.aws), config=on_aws)
    env = on_aws.environment("management")
    terminating = "autoscaling:EC2_INSTANCE_TERMINATING"
    hooks(stubbed, WORKER, [terminating])
    hooks(stubbed, "concourse-web-management", ["autoscaling:EC2_INSTANCE_LAUNCHING"])
    hooks(stubbed, WORKER, [terminating])

    first = refresh.choose("auto", services, env, [WORKER, "concourse-web-management"])
    second = refresh.choose("auto", services, env, [WORKER])

    assert (first, second) == ("client", "instance-refresh")
    local, _ = make_services(fleet_control=AwsFleetControl(stubbed.aws), config=stubbed.config)
    assert refresh.choose("auto", local, env, [WORKER]) == "client"  # the local AWS
    assert refresh.choose("instance-refresh", local, env, [WORKER]) == "instance-refresh"
