"""Holding an ASG for a change of its capacity: the lease, quiet automation, and the way back.

`Holder.hold(group, ...)` is what a rollout (and `validate --wake`) wraps its capacity changes
in: it takes the group's lease (`domain.locks`), mirrors it in the group's tag, suspends the ASG
automation that would fight the change (only processes not suspended already; the lease records
which, before suspending), and always, also on failure or Ctrl-C: restores capacity, resumes
exactly what it suspended, clears the tag, releases the lease.

Capacity is restored from values read at the end, never a stale number: `set_capacity` keeps
track of what the holder set (and a rollout's terminations what they removed), so a change
someone else made meanwhile (a person scaling the group by hand) is kept, and only the
holder's own change is taken back. A holder that takes over a crashed run's lease starts from
the capacity the lease recorded, after `locks.check_resumable` refused one that would shrink
the group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.locks import Held, RolloutLock
    from promote.domain.ports import GroupState
    from promote.domain.services import Services

# What a surge must not have fighting it: AWS would scale in, rebalance or reschedule meanwhile.
AUTOMATION = ("ScheduledActions", "AlarmNotification", "AZRebalance")


@dataclass
class Capacity:
    """The desired and max a group had before, and what this run has set since."""

    desired: int
    max_size: int
    expected_desired: int  # what the group would have now if only this run changed it
    expected_max: int


@dataclass
class Holder:
    """Holds groups of one env for a change of their capacity (see the module docstring)."""

    services: Services
    env: Environment
    lock: RolloutLock
    step: Callable[[str], None]

    @contextmanager
    def hold(
        self,
        group: str,
        ami: str,
        surge: int,
        deadline: float,
        processes: Sequence[str] = AUTOMATION,
        why: str = "the rollout",
    ) -> Iterator[Capacity]:
        """Hold GROUP while the block changes it; what it had, and what the block sets."""
        control = self.services.fleet_control
        state = control.state(self.env, group)
        held = self.lock.acquire(self.env.name, group, ami, state, surge, deadline)
        capacity = self._start(held, state)
        try:
            control.mirror(self.env, group, held.lease.summary())
            self._suspend(held, state, processes, why)
            yield capacity
        except BaseException:
            self._let_go(group, capacity, held, raising=False)  # the block's error wins
            raise
        self._let_go(group, capacity, held, raising=True)

    def _let_go(self, group: str, capacity: Capacity, held: Held, raising: bool) -> None:
        """Restore, resume, clear the tag, release: each tried even when an earlier one fails.

        The lease is released only once capacity and processes are back: otherwise it stays
        held, so the next run (or --resume) finishes the job from what it recorded. A tag that
        cannot be cleared does not keep the lease: nothing reads the tag.
        """
        control = self.services.fleet_control
        failures: list[Exception] = []

        def attempt(step: Callable[[], None]) -> bool:
            try:
                step()
            except Exception as exc:  # collected: the first is raised (or reported) below
                failures.append(exc)
                return False
            return True

        back = attempt(lambda: self._restore(group, capacity))
        back = attempt(lambda: control.resume(self.env, group, held.lease.suspended)) and back
        if back and held.lease.suspended:
            self.step(f"{group}: resumed {', '.join(held.lease.suspended)}")
        # The tag goes before the lease: a crash in between leaves a held lease, which the next
        # run takes over (and clears the tag again); never a tag nobody will clear.
        attempt(lambda: control.mirror(self.env, group, None))
        if back and not self.lock.release(held):
            self.step(f"{group}: the lease was taken over; left it to its holder")
        if failures and raising:
            raise failures[0]
        for failure in failures:
            self.step(f"{group}: could not finish cleaning up: {failure}")

    def set_capacity(self, group: str, capacity: Capacity, desired: int, max_size: int) -> None:
        """Set the group's capacity, remembering it as this holder's own change."""
        self.services.fleet_control.set_capacity(self.env, group, desired, max_size)
        capacity.expected_desired, capacity.expected_max = desired, max_size

    def _start(self, held: Held, state: GroupState) -> Capacity:
        lease = held.lease
        if held.resumed is not None:
            self.step(
                f"{lease.group}: taking over the rollout {held.resumed.run} started "
                f"{held.resumed.started_at} by {held.resumed.by}: capacity will be restored to "
                f"desired {lease.desired}, max {lease.max_size}"
            )
        return Capacity(lease.desired, lease.max_size, state.desired, state.max_size)

    def _suspend(self, held: Held, state: GroupState, processes: Sequence[str], why: str) -> None:
        wanted = [
            p for p in processes if p not in state.suspended and p not in held.lease.suspended
        ]
        if not wanted:
            return
        # Recorded before suspending: a crash in between resumes no more than was suspended.
        self.lock.update(held, suspended=(*held.lease.suspended, *wanted))
        self.services.fleet_control.suspend(self.env, held.lease.group, wanted)
        self.step(f"{held.lease.group}: suspended {', '.join(wanted)} for {why}")

    def _restore(self, group: str, capacity: Capacity) -> None:
        """Take back this run's own surge only, from the capacity read now."""
        now = self.services.fleet_control.state(self.env, group)
        others = now.desired - capacity.expected_desired
        desired = max(capacity.desired + others, now.min_size)
        max_size = max(capacity.max_size + (now.max_size - capacity.expected_max), desired)
        if (desired, max_size) != (now.desired, now.max_size):
            self.services.fleet_control.set_capacity(self.env, group, desired, max_size)
        kept = f" (kept a change of {others:+d} made meanwhile)" if others else ""
        self.step(f"{group}: capacity restored to desired {desired}, max {max_size}{kept}")
