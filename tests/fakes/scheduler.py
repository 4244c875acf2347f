"""A stand-in for Auto Scaling's scheduler: the local AWS (moto) stores scheduled actions and never
fires them. `ScheduleStandIn` fires a group's one-off actions once their StartTime has passed,
as AWS does, unless the group has ScheduledActions suspended: then the action is skipped (AWS
skips actions that come due during a suspension) and recorded in `held`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any


class ScheduleStandIn:
    """Polls GROUP through CLIENT (an autoscaling client in the group's account) in a thread."""

    def __init__(
        self,
        client: Any,
        group: str,
        interval: float = 0.05,
        arm: Callable[[], bool] | None = None,
    ) -> None:
        """ARM, when given, is called before each tick until it returns True (a test uses it to
        put an action that comes due at a chosen point of a rollout)."""
        self.client = client
        self.arm = arm
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
            if self.arm is not None and self.arm():
                self.arm = None
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
