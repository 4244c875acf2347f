"""Replace the instances of an environment that do not run the expected AMI, keeping capacity.

A *plan* first (per ASG: which members to replace, which to keep, the launch template change),
then an *executor*:

1. point the ASG's launch template at the expected AMI (a new version copied from the current
   one with only ImageId changed; skipped with `--no-launch-template`, leaving it to Terraform);
2. scale out by the number of instances to replace (raising MaxSize if needed);
3. wait until that many new instances are InService, Healthy and running on the expected AMI;
4. terminate the old ones one at a time with decrement, waiting for each to leave the group
   (the worker's systemd unit retires the worker on stop);
5. always restore the original desired capacity and MaxSize, also on failure or Ctrl-C.

A marker tag (`promote:rollout`) on each ASG records the original capacity while a rollout runs.
It makes a crashed rollout resumable (`--resume` takes the marker over and restores *its*
capacity) and stops a second rollout of the same ASG from starting while the first is running:
the second refuses with exit 6 (conflict) instead of waiting, so two operators notice each other.

Auto Scaling tags have no compare-and-swap, so two rollouts started in the same instant could
both see no marker and both write one. Each marker therefore carries a random run id; after
writing it the rollout waits MARKER_SETTLE_SECONDS (on the injected clock) and reads the tag
again. The last write wins: a rollout that finds another run id there backs off and refuses
(exit 6) before changing any capacity, and leaves the winner's marker alone.

The instance this command runs on (when it is one) is never terminated.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from promote.clock import Clock
from promote.config import Environment
from promote.errors import ExitCode, PromoteError
from promote.fleet import FleetReader, SeenInstance, Snapshot, observe

MARKER_TAG = "promote:rollout"
# Far longer than one DescribeTags -> CreateOrUpdateTags round trip of a racing rollout.
MARKER_SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class TemplateRef:
    """The launch template an ASG launches from, and the version it asks for."""

    template_id: str
    name: str
    version_spec: str  # "$Latest", "$Default" or a number
    version: int  # the version that spec resolves to now
    image_id: str | None


class FleetControl(Protocol):
    """What a rollout changes in Auto Scaling and EC2."""

    def launch_template(self, env: Environment, group: str) -> TemplateRef | None:
        """The template the group launches from; None for a launch configuration."""
        ...

    def use_image(self, env: Environment, group: str, template: TemplateRef, ami: str) -> int:
        """Make the group launch AMI: a new template version with only ImageId changed."""
        ...

    def capacity(self, env: Environment, group: str) -> tuple[int, int]:
        """(desired, max) of the group."""
        ...

    def set_capacity(self, env: Environment, group: str, desired: int, max_size: int) -> None:
        """Set desired capacity and MaxSize."""
        ...

    def terminate(self, env: Environment, instance_id: str) -> None:
        """Terminate a member and decrement the desired capacity."""
        ...

    def marker(self, env: Environment, group: str) -> dict[str, Any] | None:
        """The rollout marker on the group, if any."""
        ...

    def set_marker(self, env: Environment, group: str, marker: dict[str, Any] | None) -> None:
        """Write (or with None, remove) the rollout marker."""
        ...


class WorkerLanding(Protocol):
    """Lands the Concourse worker on an instance (promote.concourse.WorkerLander)."""

    def land_instance(self, names: set[str]) -> str | None:
        """Land the worker registered under any of NAMES; its name, or None if none is."""
        ...


@dataclass(frozen=True)
class GroupPlan:
    """What the rollout will do to one ASG."""

    group: str
    desired: int
    max_size: int
    replace: tuple[str, ...]
    keep: tuple[str, ...]
    template: TemplateRef | None
    update_template: bool
    protected: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "autoscaling_group": self.group,
            "desired_capacity": self.desired,
            "max_size": self.max_size,
            "replace": list(self.replace),
            "keep": list(self.keep),
            "launch_template": self.template.name if self.template else None,
            "launch_template_image": self.template.image_id if self.template else None,
            "update_launch_template": self.update_template,
        }


@dataclass(frozen=True)
class RolloutPlan:
    """The whole plan for an environment."""

    env: str
    expected_ami: str
    groups: tuple[GroupPlan, ...]
    protected: tuple[str, ...] = ()

    @property
    def replacements(self) -> int:
        """How many instances will be replaced."""
        return sum(len(g.replace) for g in self.groups)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "env": self.env,
            "expected_ami": self.expected_ami,
            "replacements": self.replacements,
            "protected": list(self.protected),
            "groups": [g.as_dict() for g in self.groups],
        }


@dataclass
class RolloutLog:
    """What the rollout did, step by step, for the result and the evidence."""

    steps: list[str] = field(default_factory=list)
    terminated: list[str] = field(default_factory=list)
    launched: list[str] = field(default_factory=list)
    landed: list[str] = field(default_factory=list)
    capacity_samples: list[tuple[str, int]] = field(default_factory=list)


def _on(instance: SeenInstance, ami: str) -> bool:
    return (
        instance.image_id == ami
        and instance.state == "running"
        and instance.lifecycle_state == "InService"
        and instance.health_status == "Healthy"
    )


def plan(
    env: Environment,
    expected_ami: str,
    reader: FleetReader,
    control: FleetControl,
    *,
    replace_all: bool = False,
    update_template: bool = True,
    this_instance: str | None = None,
    only: tuple[str, ...] = (),
) -> RolloutPlan:
    """Which members of each ASG to replace and keep, and the launch template change.

    ONLY limits the plan to those ASGs of the env (e.g. the workers, for a worker refresh).
    """
    unknown = sorted(set(only) - set(env.autoscaling_groups))
    if unknown:
        raise PromoteError(
            f"{', '.join(unknown)} is not an ASG of {env.name}",
            f"its ASGs: {', '.join(env.autoscaling_groups)}",
            ExitCode.USAGE,
        )
    snapshot = observe(env, reader)
    groups = []
    protected = []
    for group in snapshot.groups:
        if only and group.name not in only:
            continue
        members = [i for i in snapshot.instances if i.group == group.name]
        replace = [i.instance_id for i in members if replace_all or not _on(i, expected_ami)]
        kept_here = []
        if this_instance in replace:
            replace.remove(this_instance)
            kept_here.append(this_instance)
        protected.extend(kept_here)
        keep = [i.instance_id for i in members if i.instance_id not in replace]
        template = control.launch_template(env, group.name)
        _, max_size = control.capacity(env, group.name)
        groups.append(
            GroupPlan(
                group=group.name,
                desired=group.desired_capacity,
                max_size=max_size,
                replace=tuple(replace),
                keep=tuple(keep),
                template=template,
                update_template=update_template
                and template is not None
                and template.image_id != expected_ami,
                protected=tuple(kept_here),
            )
        )
    return RolloutPlan(env.name, expected_ami, tuple(groups), tuple(protected))


def check_plan(env: Environment, rollout: RolloutPlan, update_template: bool) -> None:
    """Refuse, before changing anything, a plan that cannot work."""
    for group in rollout.groups:
        if update_template and group.template is None and group.replace:
            raise PromoteError(
                f"{group.group} launches from a launch configuration, not a launch template",
                "point it at the AMI with Terraform, then re-run with --no-launch-template",
                ExitCode.USAGE,
            )
        if group.desired == 0 and group.replace:
            raise PromoteError(
                f"{group.group} has desired capacity 0 but members to replace",
                "wait for the group to settle, then re-run",
                ExitCode.CHECK_FAILED,
            )


@dataclass
class Executor:
    """Carries out a plan with bounded waits, restoring capacity whatever happens."""

    env: Environment
    reader: FleetReader
    control: FleetControl
    clock: Clock
    progress: Callable[[str], None]
    timeout: float = 1800.0
    interval: float = 5.0
    resume: bool = False
    actor: str = "unknown"
    lander: WorkerLanding | None = None
    replaced: Callable[[], None] = lambda: None
    log: RolloutLog = field(default_factory=RolloutLog)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

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
            "by": self.actor,
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
            lambda members: sum(1 for m in members if m.instance_id not in old and _on(m, ami)),
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
            self.progress(f"{group}: waiting for {what}: {min(reached, want)}/{want}")
            if reached >= want:
                return [m.instance_id for m in members]
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                raise PromoteError(
                    f"{group}: timed out waiting for {what} ({reached}/{want})",
                    "capacity was restored; look at the ASG's activity history, then re-run",
                    ExitCode.CHECK_FAILED,
                )
            self.clock.sleep(min(self.interval, remaining))

    def _snapshot(self) -> Snapshot:
        return observe(self.env, self.reader)

    def _step(self, line: str) -> None:
        self.log.steps.append(line)
        self.progress(line)


def _running(group: str, marker: dict[str, Any]) -> PromoteError:
    """Exit 6: another rollout holds GROUP's marker."""
    return PromoteError(
        f"another rollout of {group} is running (started {marker.get('started_at')} by "
        f"{marker.get('by')}, to {marker.get('ami')})",
        "wait for it; if it crashed, re-run with --resume",
        ExitCode.CONFLICT,
    )


def _gone(instance_id: str) -> Callable[[Sequence[SeenInstance]], int]:
    """1 once INSTANCE_ID is no longer a member, else 0."""
    return lambda members: 0 if any(m.instance_id == instance_id for m in members) else 1


def marker_value(marker: dict[str, Any]) -> str:
    """The tag value for a marker (compact JSON)."""
    return json.dumps(marker, separators=(",", ":"), sort_keys=True)
