"""The client-side rollout engine: carries a RolloutPlan out group by group, keeping capacity.

A marker tag (`promote:rollout`) on each ASG records the original capacity while a rollout runs.
It makes a crashed rollout resumable (`--resume` takes the marker over and restores *its*
capacity) and stops a second rollout of the same ASG from starting while the first is running:
the second refuses with exit 6 (conflict) instead of waiting, so two operators notice each other.

Auto Scaling tags have no compare-and-swap, so two rollouts started in the same instant could
both see no marker and both write one. Each marker therefore carries a random run id; after
writing it the rollout waits MARKER_SETTLE_SECONDS (on the injected clock) and reads the tag
again. The last write wins: a rollout that finds another run id there backs off and refuses
(exit 6) before changing any capacity, and leaves the winner's marker alone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from promote.domain.fleet import SeenInstance, Snapshot, observe, on_expected
from promote.errors import PromoteError, check_failed, conflict

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.ports import WorkerLanding
    from promote.domain.rollout import GroupPlan, RolloutPlan
    from promote.domain.services import Services

MARKER_TAG = "promote:rollout"
# Far longer than one DescribeTags -> CreateOrUpdateTags round trip of a racing rollout.
MARKER_SETTLE_SECONDS = 2.0


@dataclass
class RolloutLog:
    """What the rollout did, step by step, for the result and the evidence."""

    steps: list[str] = field(default_factory=list)
    terminated: list[str] = field(default_factory=list)
    launched: list[str] = field(default_factory=list)
    landed: list[str] = field(default_factory=list)
    capacity_samples: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Executor:
    """Carries out a plan with bounded waits, restoring capacity whatever happens."""

    env: Environment
    services: Services
    timeout: float = 1800.0
    interval: float = 5.0
    resume: bool = False
    lander: WorkerLanding | None = None
    replaced: Callable[[], None] = lambda: None
    log: RolloutLog = field(default_factory=RolloutLog)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        self.control = self.services.fleet_control
        self.clock = self.services.clock

    def run(self, rollout: RolloutPlan) -> RolloutLog:
        """Execute every group's plan in order (config order: web, then workers)."""
        deadline = self.clock.monotonic() + self.timeout
        for group in rollout.groups:
            # A group with a marker left by a crashed run is visited even with nothing to
            # replace: its recorded capacity is restored and the marker removed (or, without
            # --resume while the marker is fresh, the rollout refuses).
            unfinished = self.control.marker(self.env, group.group) is not None
            if group.replace or group.update_template or unfinished:
                self._group(rollout.expected_ami, group, deadline)
        return self.log

    def _group(self, ami: str, group: GroupPlan, deadline: float) -> None:
        original = self._take_marker(group, ami, deadline)
        desired, max_size = original
        try:
            if group.update_template and group.template:
                version = self.control.use_image(self.env, group.group, group.template, ami)
                self._step(
                    f"{group.group}: launch template {group.template.name} v{version} -> {ami}"
                )
            if not group.replace:
                return
            self._replace(ami, group, desired, max_size, deadline)
        finally:
            self.control.set_capacity(self.env, group.group, desired, max_size)
            self.control.set_marker(self.env, group.group, None)
            self._step(f"{group.group}: capacity restored to desired {desired}, max {max_size}")

    def _take_marker(self, group: GroupPlan, ami: str, deadline: float) -> tuple[int, int]:
        existing = self.control.marker(self.env, group.group)
        if existing is not None:
            expires = datetime.fromisoformat(str(existing.get("expires_at")))
            if not self.resume and expires > self.clock.now():
                raise _running(group.group, existing)
            self._step(f"{group.group}: resuming the rollout started {existing.get('started_at')}")
            return int(existing["desired"]), int(existing["max_size"])
        now = self.clock.now()
        marker = {
            "ami": ami,
            "desired": group.desired,
            "max_size": group.max_size,
            "started_at": now.replace(microsecond=0).isoformat(),
            "expires_at": (now + timedelta(seconds=deadline - self.clock.monotonic()))
            .replace(microsecond=0)
            .isoformat(),
            "by": self.services.user,
            "run": self.run_id,
        }
        self.control.set_marker(self.env, group.group, marker)
        # No compare-and-swap on tags: let a racing rollout's write land, then see who won.
        self.clock.sleep(MARKER_SETTLE_SECONDS)
        landed = self.control.marker(self.env, group.group)
        if landed is not None and landed.get("run") != self.run_id:
            raise _running(group.group, landed)
        if landed is None:
            self.control.set_marker(self.env, group.group, marker)
        return group.desired, group.max_size

    def _replace(
        self, ami: str, group: GroupPlan, desired: int, max_size: int, deadline: float
    ) -> None:
        old = set(group.replace)
        surge = desired + len(old)
        self.control.set_capacity(self.env, group.group, surge, max(max_size, surge))
        self._step(f"{group.group}: scaled out to {surge} to replace {len(old)}")
        # The protected instance (the one running this command) keeps a slot of its own.
        new = self._wait(
            group.group,
            lambda members: sum(
                1 for m in members if m.instance_id not in old and on_expected(m, ami)
            ),
            desired - len(group.protected),
            deadline,
            f"new instances on {ami}",
        )
        self.log.launched.extend(m for m in new if m not in old and m not in group.keep)
        names = {i.instance_id: i.names for i in self._snapshot().instances if i.instance_id in old}
        for index, instance_id in enumerate(sorted(old), start=1):
            if self.lander is not None:
                landed = self.lander.land_instance(names.get(instance_id, {instance_id}))
                if landed:
                    self.log.landed.append(landed)
            self.control.terminate(self.env, instance_id)
            self.log.terminated.append(instance_id)
            self.replaced()
            self._step(f"{group.group}: terminated {instance_id} ({index}/{len(old)})")
            self._wait(
                group.group,
                _gone(instance_id),
                1,
                deadline,
                f"{instance_id} to leave",
            )

    def _wait(
        self,
        group: str,
        count: Callable[[Sequence[SeenInstance]], int],
        want: int,
        deadline: float,
        what: str,
    ) -> list[str]:
        """Poll until COUNT(members) reaches WANT; the members' ids; a timeout is exit 3."""
        while True:
            snapshot = self._snapshot()
            members = [i for i in snapshot.instances if i.group == group]
            self.log.capacity_samples.append(
                (group, sum(1 for m in members if m.lifecycle_state == "InService"))
            )
            reached = count(members)
            self.services.progress(f"{group}: waiting for {what}: {min(reached, want)}/{want}")
            if reached >= want:
                return [m.instance_id for m in members]
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                raise check_failed(
                    f"{group}: timed out waiting for {what} ({reached}/{want})",
                    "capacity was restored; look at the ASG's activity history, then re-run",
                )
            self.clock.sleep(min(self.interval, remaining))

    def _snapshot(self) -> Snapshot:
        return observe(self.env, self.services.fleet)

    def _step(self, line: str) -> None:
        self.log.steps.append(line)
        self.services.progress(line)


def _running(group: str, marker: dict[str, Any]) -> PromoteError:
    """Exit 6: another rollout holds GROUP's marker."""
    return conflict(
        f"another rollout of {group} is running (started {marker.get('started_at')} by "
        f"{marker.get('by')}, to {marker.get('ami')})",
        "wait for it; if it crashed, re-run with --resume",
    )


def _gone(instance_id: str) -> Callable[[Sequence[SeenInstance]], int]:
    """1 once INSTANCE_ID is no longer a member, else 0."""
    return lambda members: 0 if any(m.instance_id == instance_id for m in members) else 1


def marker_value(marker: dict[str, Any]) -> str:
    """The tag value for a marker (compact JSON)."""
    return json.dumps(marker, separators=(",", ":"), sort_keys=True)
