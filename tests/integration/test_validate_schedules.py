"""A test env scheduled to zero at night: validate names the cause, `--wake` checks it anyway."""

from __future__ import annotations

import json

from promote.domain.locks import lock_key
from tests.support.estate import Estate

WORKER = "concourse-worker-management-dev"
FAST = ("--interval", "0.2s", "--timeout", "60s")


def night(seeded: Estate, group: str = WORKER) -> None:
    """The estate at night: down at 19:00 on weekdays (now in effect), up again at 07:00."""
    autoscaling = seeded.client("autoscaling")
    autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName=group,
        ScheduledActionName="night",
        Recurrence="0 19 * * 1-5",
        MinSize=0,
        DesiredCapacity=0,
    )
    autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName=group,
        ScheduledActionName="morning",
        Recurrence="0 7 * * 1-5",
        MinSize=0,
        DesiredCapacity=3,
    )
    autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=0)


def test_validate_names_the_scheduled_action_that_emptied_a_group(seeded: Estate) -> None:
    night(seeded)

    result = seeded.cli("-o", "json", "validate", "--env", "management-dev", "--timeout", "0")

    assert result.exit_code == 3, result.output
    record = json.loads(result.stdout)
    assert record["result"] == "FAILED"
    assert any(
        r.startswith(f"{WORKER}: scaled to zero by scheduled action night (0 19 * * 1-5)")
        for r in record["reasons"]
    ), record["reasons"]


def test_validate_wake_raises_the_group_for_the_check_and_puts_it_back(seeded: Estate) -> None:
    night(seeded)

    result = seeded.cli("-o", "json", "validate", "--env", "management-dev", "--wake", *FAST)

    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["result"] == "SUCCESS"
    assert record["woken"] == {WORKER: 3}
    assert record["desired_capacity"][WORKER] == 3
    group = seeded.group(WORKER)
    assert group["DesiredCapacity"] == 0
    assert not group["SuspendedProcesses"]
    assert json.loads(seeded.ledger_object(lock_key(WORKER)))["state"] == "released"


def test_wake_leaves_alone_a_group_someone_set_to_zero_without_a_schedule(seeded: Estate) -> None:
    seeded.client("autoscaling").set_desired_capacity(
        AutoScalingGroupName=WORKER, DesiredCapacity=0
    )

    # An empty group never converges: a short timeout (not FAST's 60 s) gives the same verdict.
    result = seeded.cli(
        "-o",
        "json",
        "validate",
        "--env",
        "management-dev",
        "--wake",
        "--interval",
        "0.2s",
        "--timeout",
        "2s",
    )

    assert result.exit_code == 3
    reasons = json.loads(result.stdout)["reasons"]
    assert f"{WORKER}: desired capacity is 0; an empty group proves nothing" in reasons
    assert seeded.group(WORKER)["DesiredCapacity"] == 0
    assert lock_key(WORKER) not in seeded.ledger_keys()
