"""Concourse workers during a rollout: land the worker on an instance before it is terminated.

Before a worker's instance is terminated the worker is landed (`PUT /api/v1/workers/:name/land`),
so Concourse stops scheduling on it and lets running builds finish, and the rollout waits until
it is landed or gone, bounded by the drain timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promote.clock import Clock
    from promote.domain.ports import WorkersAPI

GONE_STATES = {"landed", "retired", "stalled"}


@dataclass
class WorkerLander:
    """Lands the Concourse worker on an instance before the rollout terminates it."""

    api: WorkersAPI
    clock: Clock
    progress: Callable[[str], None]
    drain_timeout: float = 900.0
    interval: float = 5.0

    def land_instance(self, names: set[str]) -> str | None:
        """Land the worker registered under any of NAMES and wait; its name, or None."""
        worker = next((w for w in self.api.workers() if w.name in names), None)
        if worker is None:
            return None
        if worker.state not in GONE_STATES:
            self.api.land(worker.name)
            self.progress(f"landing worker {worker.name}")
        deadline = self.clock.monotonic() + self.drain_timeout
        while True:
            current = next((w for w in self.api.workers() if w.name == worker.name), None)
            if current is None or current.state in GONE_STATES:
                self.progress(f"worker {worker.name} is {current.state if current else 'gone'}")
                return worker.name
            if self.clock.monotonic() >= deadline:
                self.progress(
                    f"worker {worker.name} still {current.state} with "
                    f"{current.active_containers} container(s) after the drain timeout; "
                    "terminating it anyway (its unit retires it on stop)"
                )
                return worker.name
            self.clock.sleep(min(self.interval, max(0.0, deadline - self.clock.monotonic())))
