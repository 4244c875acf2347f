"""Concourse workers during a rollout: no old worker leaves before its replacement runs.

With `--concourse-url`, `WorkerDrain` keeps a rollout from killing workers builds still need
(`no workers satisfying: resource type 'git'` after a deploy that replaced them all at once):

1. before anything changes, every old instance of a worker group must map to a registered
   worker (by instance id, Name tag, hostname, private DNS name or IP); one that does not is a
   clear error (exit 3) and nothing is terminated. A group is a worker group when its name says
   `worker` or any of its members is a registered worker;
2. after the new instances are InService, it waits until their workers are `running` in the
   pools of the old ones (the same team, tags and platform), as many as the old workers of
   each pool;
3. each old worker is retired through the API (`PUT /api/v1/workers/:name/retire`: no new
   work, running builds finish, then it unregisters), never while it is the last running
   worker of its pool, and the rollout waits until it is gone (or stalled, or landed),
   bounded by the drain timeout; then its instance is terminated (its unit retires it on stop
   anyway).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from promote.errors import check_failed

if TYPE_CHECKING:
    from promote.clock import Clock
    from promote.domain.fleet import SeenInstance
    from promote.domain.ports import Worker, WorkersAPI

GONE_STATES = {"landed", "retired", "stalled"}
Pool = tuple[str, tuple[str, ...], str]


def matching(workers: Sequence[Worker], instance: SeenInstance) -> Worker | None:
    """The worker registered under one of INSTANCE's names, if any."""
    names = instance.names
    return next((w for w in workers if w.name in names), None)


def pool_label(pool: Pool) -> str:
    """`team main, tags [gpu], linux` for messages."""
    team, tags, platform = pool
    return f"team {team or '(all)'}, tags [{', '.join(tags)}], {platform}"


@dataclass
class WorkerDrain:
    """Drains the workers of old instances through a Concourse web node (see module doc)."""

    api: WorkersAPI
    clock: Clock
    progress: Callable[[str], None]
    drain_timeout: float = 900.0
    interval: float = 5.0

    def check(self, group: str, old: Sequence[SeenInstance]) -> None:
        """Refuse (exit 3) old instances of a worker group whose worker cannot be found."""
        workers = self.api.workers()
        found = {i.instance_id: matching(workers, i) for i in old}
        if "worker" not in group and not any(found.values()):
            return  # a web (or other) group: no worker runs there
        missing = sorted(i for i, w in found.items() if w is None)
        if missing:
            raise check_failed(
                f"{group}: no Concourse worker matches {', '.join(missing)} (by instance id, "
                "Name tag, hostname, private DNS name or IP); nothing was changed",
                "check --concourse-url and the team of the token; a worker that has already "
                "gone can be pruned with `fly prune-worker`, then re-run",
            )

    def await_replacements(
        self,
        group: str,
        old: Sequence[SeenInstance],
        new: Sequence[SeenInstance],
        deadline: float,
    ) -> None:
        """Wait until the NEW instances' workers run in the OLD workers' pools (exit 3 at the
        deadline: capacity is restored and no old worker was touched)."""
        workers = self.api.workers()
        wanted = Counter(w.pool for i in old if (w := matching(workers, i)) is not None)
        if not wanted:
            return
        while True:
            workers = self.api.workers()
            running = Counter(
                w.pool
                for i in new
                if (w := matching(workers, i)) is not None and w.state == "running"
            )
            short = {pool: count - running[pool] for pool, count in wanted.items()}
            short = {pool: n for pool, n in short.items() if n > 0}
            ready = sum(wanted.values()) - sum(short.values())
            self.progress(
                f"{group}: waiting for replacement workers running in Concourse: "
                f"{ready}/{sum(wanted.values())}"
            )
            if not short:
                return
            if self.clock.monotonic() >= deadline:
                pools = "; ".join(f"{n} in {pool_label(p)}" for p, n in short.items())
                raise check_failed(
                    f"{group}: replacement workers never ran in Concourse ({pools} missing)",
                    "the old workers were kept and capacity restored; check the new image's "
                    "worker registers (its team, tags, platform), then re-run",
                )
            self.clock.sleep(min(self.interval, max(0.0, deadline - self.clock.monotonic())))

    def drain(self, instance: SeenInstance) -> str | None:
        """Retire INSTANCE's worker and wait until it is gone; its name (None: no worker)."""
        worker = matching(self.api.workers(), instance)
        if worker is None:
            return None
        deadline = self.clock.monotonic() + self.drain_timeout
        if worker.state not in GONE_STATES and worker.state != "retiring":
            self._wait_for_another(worker, deadline)
            self.api.retire(worker.name)
            self.progress(f"retiring worker {worker.name} ({pool_label(worker.pool)})")
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

    def _wait_for_another(self, worker: Worker, deadline: float) -> None:
        """Never retire the last running worker of a pool: wait for another (bounded)."""
        while True:
            others = [
                w
                for w in self.api.workers()
                if w.pool == worker.pool and w.name != worker.name and w.state == "running"
            ]
            if others:
                return
            if self.clock.monotonic() >= deadline:
                raise check_failed(
                    f"worker {worker.name} is the last running worker of its pool "
                    f"({pool_label(worker.pool)}); it was not retired",
                    "capacity was restored; look at why the replacements left, then re-run",
                )
            self.clock.sleep(min(self.interval, max(0.0, deadline - self.clock.monotonic())))
