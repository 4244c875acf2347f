"""`validate --wake`: a group a schedule emptied is raised for the check, then put back.

A test env's workers are scheduled to 0 at night, and an empty group proves nothing, so a
validate at 01:00 can only fail. With --wake, each group at desired 0 that one of its scheduled
actions empties is held (`holds.Holder`: the rollout lease, ScheduledActions suspended so the
schedule cannot fire mid-check) and raised to its daytime capacity (the largest desired
capacity its schedule sets, else 1 or its MinSize), the check runs, and the group goes back to
what it had, keeping any change someone else made meanwhile. A group at 0 with no such
schedule is not touched: that 0 is somebody's decision, and validate says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from promote.domain.fleet import observe
from promote.domain.holds import Holder
from promote.domain.locks import RolloutLock

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.ports import ScheduledAction
    from promote.domain.services import Services


def daytime_capacity(actions: list[ScheduledAction], min_size: int) -> int:
    """What the group runs when it is awake: its schedule's largest desired, else 1 (or Min)."""
    awake = [a.desired for a in actions if a.desired]
    return max(awake) if awake else max(1, min_size)


@contextmanager
def awake(
    services: Services, env: Environment, ami: str, deadline: float, resume: bool = False
) -> Iterator[dict[str, int]]:
    """Hold every schedule-emptied group of ENV at its daytime capacity while the block runs;
    group -> the capacity it was woken to. RESUME takes over a crashed wake's lease."""
    control = services.fleet_control
    # Everything the check will read is read once first: a refused read fails here, before
    # any group was woken.
    snapshot = observe(env, services.fleet)
    targets = []
    for name in snapshot.zeroed_by:
        actions = services.fleet.scheduled_actions(env, name)
        min_size = control.state(env, name).min_size
        targets.append((name, daytime_capacity(actions, min_size)))
    if not targets:
        yield {}
        return
    lock = RolloutLock(
        services.ledger,
        services.clock,
        uuid.uuid4().hex[:12],
        services.user,
        resume=resume,
        allow_zero=True,
    )
    holder = Holder(services, env, lock, services.progress)
    woken: dict[str, int] = {}
    with ExitStack() as stack:
        for name, capacity in targets:
            held = stack.enter_context(
                holder.hold(
                    name, ami, capacity, deadline, processes=("ScheduledActions",), why="the check"
                )
            )
            holder.set_capacity(name, held, capacity, max(held.max_size, capacity))
            woken[name] = capacity
            services.progress(f"{name}: woken to desired {capacity} for the check")
        yield woken
