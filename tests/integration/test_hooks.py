"""`promote hooks` on the local AWS (moto stores lifecycle hooks): shown, put once, converged."""

from __future__ import annotations

import json

from tests.support.estate import Estate

WORKERS = "concourse-worker-management-dev"
WEB = "concourse-web-management-dev"


def _hooks(seeded: Estate, group: str) -> list[dict[str, object]]:
    found = seeded.client("autoscaling").describe_lifecycle_hooks(AutoScalingGroupName=group)
    return list(found["LifecycleHooks"])


def test_hooks_shows_the_missing_drain_hook_and_writes_nothing(seeded: Estate) -> None:
    result = seeded.cli("hooks", "--env", "management-dev")

    assert result.exit_code == 0, result.output
    assert f"{WORKERS}: missing: would create it" in result.stdout
    assert "--apply" in result.stdout
    assert WEB not in result.stdout  # only worker groups drain
    assert _hooks(seeded, WORKERS) == []


def test_hooks_apply_puts_the_hook_once_and_a_rerun_changes_nothing(seeded: Estate) -> None:
    applied = seeded.cli("hooks", "--env", "management-dev", "--apply")
    again = seeded.cli("-o", "json", "hooks", "--env", "management-dev", "--apply")

    assert applied.exit_code == 0, applied.output
    assert f"{WORKERS}: created" in applied.stdout
    (hook,) = _hooks(seeded, WORKERS)
    assert hook["LifecycleHookName"] == "concourse-worker-drain"
    assert hook["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert hook["HeartbeatTimeout"] == 300
    assert hook["DefaultResult"] == "CONTINUE"
    assert _hooks(seeded, WEB) == []
    assert again.exit_code == 0, again.output
    document = json.loads(again.stdout)
    assert document["changed"] == []
    assert [g["action"] for g in document["groups"]] == ["ok"]


def test_hooks_apply_updates_a_hook_of_that_name_with_other_settings(seeded: Estate) -> None:
    seeded.client("autoscaling").put_lifecycle_hook(
        AutoScalingGroupName=WORKERS,
        LifecycleHookName="concourse-worker-drain",
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=30,
        DefaultResult="ABANDON",
    )

    shown = seeded.cli("hooks", "--env", "management-dev")
    applied = seeded.cli("hooks", "--env", "management-dev", "--apply")

    assert "different: would update it" in shown.stdout
    assert applied.exit_code == 0, applied.output
    (hook,) = _hooks(seeded, WORKERS)
    assert (hook["HeartbeatTimeout"], hook["DefaultResult"]) == (300, "CONTINUE")


def test_hooks_refuses_a_group_that_is_not_the_envs(seeded: Estate) -> None:
    result = seeded.cli("hooks", "--env", "management-dev", "--asg", "someone-elses", "--apply")

    assert result.exit_code == 2
    assert "someone-elses is not an auto scaling group of management-dev" in result.stderr
    assert _hooks(seeded, WORKERS) == []
