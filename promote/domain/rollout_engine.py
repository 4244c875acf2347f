"""The client-side rollout engine: carries a RolloutPlan out group by group, keeping capacity.

Per group: take the group's lease (`domain.locks`: a CAS-only S3 object, so two rollouts can
never both change one group), mirror it in the `promote:rollout` tag for people, suspend the
ASG automation that would fight the surge (scheduled actions, alarm-driven scaling, AZ
rebalancing; only what was not suspended already, and the lease records which), point the
launch template at the AMI, scale out, replace, then always, also on failure or Ctrl-C:
restore capacity, resume exactly what it suspended, release the lease.

Capacity is restored from values read at the end, never a stale number: the engine knows what
it set and what its terminations removed, so a change someone else made meanwhile (a person
scaling the group by hand) is kept, and only the run's own surge is taken back. A run that
takes over a crashed run's lease (`--resume`, or the lease expired) starts from the capacity
the lease recorded, after `locks.check_resumable` refused one that would shrink the group.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from promote.domain.fleet import SeenInstance, Snapshot, observe, on_expected
from promote.domain.holds import Capacity, Holder
from promote.domain.locks import HELD, Lease, RolloutLock, lock_key
from promote.errors import check_failed

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.ports import WorkerDrain
    from promote.domain.rollout import GroupPlan, RolloutPlan
    from promote.domain.services import Services

MARKER_TAG = "promote:rollout"


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
    drain: WorkerDrain | None = None
    replaced: Callable[[], None] = lambda: None
    started: Callable[[], None] = lambda: None  # the lease is held: changes begin (once)
    log: RolloutLog = field(default_factory=RolloutLog)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        self.control = self.services.fleet_control
        self.clock = self.services.clock
        lock = RolloutLock(
            self.services.ledger, self.clock, self.run_id, self.services.user, self.resume
        )
        self.holder = Holder(self.services, self.env, lock, self._step)

    def run(self, rollout: RolloutPlan) -> RolloutLog:
        """Execute every group's plan in order (config order: web, then workers)."""
        deadline = self.clock.monotonic() + self.timeout
        if self.drain is not None:
            # Every old worker must be found before anything changes (workers.WorkerDrain).
            seen = {i.instance_id: i for i in self._snapshot().instances}
            for group in rollout.groups:
                self.drain.check(group.group, [seen[i] for i in group.replace if i in seen])
        for group in rollout.groups:
            # A group whose lease a crashed run still holds is visited even with nothing to
            # replace: its recorded capacity is restored and the lease released (or, without
            # --resume while the lease is fresh, the rollout refuses).
            if group.replace or group.update_template or self._unfinished(group.group):
                self._group(rollout.expected_ami, group, deadline)
        return self.log

    def _unfinished(self, group: str) -> bool:
        """A crashed run's lease is still held, or its tag was never cleared."""
        stored = self.services.ledger.read(lock_key(group))
        lease = Lease.parse(stored[0]) if stored else None
        if lease is not None and lease.state == HELD:
            return True
        return self.control.state(self.env, group).mirrored

    def _group(self, ami: str, group: GroupPlan, deadline: float) -> None:
        remaining = deadline - self.clock.monotonic()
        with self.holder.hold(group.group, ami, len(group.replace), remaining) as capacity:
            self.started()
            if group.update_template and group.template:
                version = self.control.use_image(self.env, group.group, group.template, ami)
                self._step(
                    f"{group.group}: launch template {group.template.name} v{version} -> {ami}"
                )
            if group.replace:
                self._replace(ami, group, capacity, deadline)

    def _replace(self, ami: str, group: GroupPlan, capacity: Capacity, deadline: float) -> None:
        old = set(group.replace)
        desired = capacity.desired
        surge = desired + len(old)
        self.holder.set_capacity(group.group, capacity, surge, max(capacity.max_size, surge))
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
        members = {i.instance_id: i for i in self._snapshot().instances if i.group == group.group}
        olds = [members[i] for i in sorted(old) if i in members]
        if self.drain is not None:
            fresh = [m for i, m in members.items() if i not in old and i not in group.keep]
            self.drain.await_replacements(group.group, olds, fresh, deadline)
        for index, instance_id in enumerate(sorted(old), start=1):
            if self.drain is not None and instance_id in members:
                landed = self.drain.drain(members[instance_id])
                if landed:
                    self.log.landed.append(landed)
            self.control.terminate(self.env, instance_id)
            capacity.expected_desired -= 1
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


def _gone(instance_id: str) -> Callable[[Sequence[SeenInstance]], int]:
    """1 once INSTANCE_ID is no longer a member, else 0."""
    return lambda members: 0 if any(m.instance_id == instance_id for m in members) else 1
