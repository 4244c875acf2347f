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
from promote.domain.locks import Held, RolloutLock, lock_key
from promote.errors import check_failed

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.ports import GroupState, WorkerLanding
    from promote.domain.rollout import GroupPlan, RolloutPlan
    from promote.domain.services import Services

MARKER_TAG = "promote:rollout"
# What a surge must not have fighting it: AWS would scale in, rebalance or reschedule meanwhile.
AUTOMATION = ("ScheduledActions", "AlarmNotification", "AZRebalance")


@dataclass
class RolloutLog:
    """What the rollout did, step by step, for the result and the evidence."""

    steps: list[str] = field(default_factory=list)
    terminated: list[str] = field(default_factory=list)
    launched: list[str] = field(default_factory=list)
    landed: list[str] = field(default_factory=list)
    capacity_samples: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Capacity:
    """The desired and max a group had before, and what this run has set since."""

    desired: int
    max_size: int
    expected_desired: int  # what the group would have now if only this run changed it
    expected_max: int


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
        self.lock = RolloutLock(
            self.services.ledger, self.clock, self.run_id, self.services.user, self.resume
        )

    def run(self, rollout: RolloutPlan) -> RolloutLog:
        """Execute every group's plan in order (config order: web, then workers)."""
        deadline = self.clock.monotonic() + self.timeout
        for group in rollout.groups:
            # A group whose lease a crashed run still holds is visited even with nothing to
            # replace: its recorded capacity is restored and the lease released (or, without
            # --resume while the lease is fresh, the rollout refuses).
            if group.replace or group.update_template or self._unfinished(group.group):
                self._group(rollout.expected_ami, group, deadline)
        return self.log

    def _unfinished(self, group: str) -> bool:
        from promote.domain.locks import HELD, Lease

        stored = self.services.ledger.read(lock_key(group))
        lease = Lease.parse(stored[0]) if stored else None
        return lease is not None and lease.state == HELD

    def _group(self, ami: str, group: GroupPlan, deadline: float) -> None:
        state = self.control.state(self.env, group.group)
        remaining = deadline - self.clock.monotonic()
        held = self.lock.acquire(
            self.env.name, group.group, ami, state, len(group.replace), remaining
        )
        capacity = self._start(held, state)
        try:
            self.control.mirror(self.env, group.group, held.lease.summary())
            self._suspend(held, state)
            if group.update_template and group.template:
                version = self.control.use_image(self.env, group.group, group.template, ami)
                self._step(
                    f"{group.group}: launch template {group.template.name} v{version} -> {ami}"
                )
            if group.replace:
                self._replace(ami, group, capacity, deadline)
        finally:
            self._restore(group.group, capacity)
            self.control.resume(self.env, group.group, held.lease.suspended)
            if held.lease.suspended:
                self._step(f"{group.group}: resumed {', '.join(held.lease.suspended)}")
            # The tag goes before the lease: a crash in between leaves a held lease, which the
            # next run takes over (and clears the tag again); never a tag nobody will clear.
            self.control.mirror(self.env, group.group, None)
            if not self.lock.release(held):
                self._step(f"{group.group}: the lease was taken over; left it to its holder")

    def _start(self, held: Held, state: GroupState) -> Capacity:
        lease = held.lease
        if held.resumed is not None:
            self._step(
                f"{lease.group}: taking over the rollout {held.resumed.run} started "
                f"{held.resumed.started_at} by {held.resumed.by}: capacity will be restored to "
                f"desired {lease.desired}, max {lease.max_size}"
            )
        return Capacity(lease.desired, lease.max_size, state.desired, state.max_size)

    def _suspend(self, held: Held, state: GroupState) -> None:
        wanted = [
            p for p in AUTOMATION if p not in state.suspended and p not in held.lease.suspended
        ]
        if not wanted:
            return
        # Recorded before suspending: a crash in between resumes no more than was suspended.
        self.lock.update(held, suspended=(*held.lease.suspended, *wanted))
        self.control.suspend(self.env, held.lease.group, wanted)
        self._step(f"{held.lease.group}: suspended {', '.join(wanted)} for the rollout")

    def _restore(self, group: str, capacity: Capacity) -> None:
        """Take back this run's own surge only, from the capacity read now."""
        now = self.control.state(self.env, group)
        others = now.desired - capacity.expected_desired
        desired = max(capacity.desired + others, now.min_size)
        max_size = max(capacity.max_size + (now.max_size - capacity.expected_max), desired)
        if (desired, max_size) != (now.desired, now.max_size):
            self.control.set_capacity(self.env, group, desired, max_size)
        kept = f" (kept a change of {others:+d} made meanwhile)" if others else ""
        self._step(f"{group}: capacity restored to desired {desired}, max {max_size}{kept}")

    def _replace(self, ami: str, group: GroupPlan, capacity: Capacity, deadline: float) -> None:
        old = set(group.replace)
        desired = capacity.desired
        surge = desired + len(old)
        max_size = max(capacity.max_size, surge)
        self.control.set_capacity(self.env, group.group, surge, max_size)
        capacity.expected_desired, capacity.expected_max = surge, max_size
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
