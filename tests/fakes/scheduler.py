"""A stand-in for Auto Scaling's scheduler: the local AWS (moto) stores scheduled actions and never
fires them. `ScheduleStandIn` fires a group's one-off actions once their StartTime has passed,
as AWS does, unless the group has ScheduledActions suspended: then the action is skipped (AWS
skips actions that come due during a suspension) and recorded in `held`.

`install` is a PROMOTE_TEST_HOOKS entry point (`tests.fakes.scheduler:install`, in-process
CLI runs): when the run asks Auto Scaling to change a group's capacity, the callback a test gave
`when_scaled(group, callback)` runs first, once; a test uses it to make an action come due at a
known point of a rollout (the group held) instead of racing a clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any


class ScheduleStandIn:
    """Polls GROUP through CLIENT (an autoscaling client in the group's account) in a thread."""

    def __init__(self, client: Any, group: str, interval: float = 0.05) -> None:
        self.client = client
        self.group = group
        self.interval = interval
        self.fired: list[str] = []
        self.held: list[tuple[str, frozenset[str]]] = []
        self._done: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ScheduleStandIn:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def tick(self) -> None:
        """Fire (or skip, when suspended) every one-off action that has come due."""
        actions = self.client.describe_scheduled_actions(AutoScalingGroupName=self.group)
        now = datetime.now(UTC)
        for action in actions["ScheduledUpdateGroupActions"]:
            name, start = action["ScheduledActionName"], action.get("StartTime")
            if action.get("Recurrence") or start is None or name in self._done or start > now:
                continue
            self._done.add(name)
            group = self.client.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])
            suspended = frozenset(
                p["ProcessName"] for p in group["AutoScalingGroups"][0]["SuspendedProcesses"]
            )
            if "ScheduledActions" in suspended:
                self.held.append((name, suspended))
                continue
            self.client.update_auto_scaling_group(
                AutoScalingGroupName=self.group,
                **{k: action[k] for k in ("MinSize", "MaxSize", "DesiredCapacity") if k in action},
            )
            self.fired.append(name)


_ON_SCALE: dict[str, list[Callable[[], None]]] = {}


def when_scaled(group: str, callback: Callable[[], None]) -> None:
    """Run CALLBACK once, just before the next capacity change promote asks for on GROUP."""
    _ON_SCALE.setdefault(group, []).append(callback)


def install(aws: Any) -> None:
    """The PROMOTE_TEST_HOOKS entry point (see the module docstring)."""

    def before(params: dict[str, Any], **_: Any) -> None:
        pending = _ON_SCALE.get(str(params.get("AutoScalingGroupName", "")))
        if pending:
            pending.pop(0)()

    for operation in ("UpdateAutoScalingGroup", "SetDesiredCapacity"):
        aws.on(f"provide-client-params.autoscaling.{operation}", before)
