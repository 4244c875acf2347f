"""The one place that talks to a Concourse web node's API: list workers, land one.

Used by `promote rollout --concourse-url URL` (token from `CONCOURSE_TOKEN`): before a worker's
instance is terminated the worker is landed (`PUT /api/v1/workers/:name/land`), so Concourse
stops scheduling on it and lets running builds finish, and the rollout waits until it is landed
or gone, bounded by the drain timeout. The token is sent as a bearer token and never printed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from promote.clock import Clock
from promote.errors import remote_error

GONE_STATES = {"landed", "retired", "stalled"}


@dataclass(frozen=True)
class Worker:
    """A worker as the Concourse API lists it."""

    name: str
    state: str
    active_containers: int


class ConcourseAPI:
    """A Concourse web node, reached with a bearer token."""

    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def _call(self, method: str, path: str) -> Any:
        try:
            response = self._session.request(method, f"{self.url}{path}", timeout=self.timeout)
        except requests.RequestException as exc:
            raise remote_error(
                f"cannot reach Concourse at {self.url} ({type(exc).__name__})",
                "check --concourse-url",
            ) from None
        if response.status_code in (401, 403):
            raise remote_error(
                f"Concourse refused {method} {path} ({response.status_code})",
                "CONCOURSE_TOKEN must be a bearer token of a team allowed to land workers",
            )
        if response.status_code >= 400:
            raise remote_error(f"Concourse answered {response.status_code} to {method} {path}")
        return response.json() if response.content else None

    def workers(self) -> list[Worker]:
        """Every registered worker."""
        return [
            Worker(
                name=str(w.get("name")),
                state=str(w.get("state", "")),
                active_containers=int(w.get("active_containers") or 0),
            )
            for w in self._call("GET", "/api/v1/workers") or []
        ]

    def land(self, name: str) -> None:
        """Ask the worker to land: no new work, running builds finish."""
        self._call("PUT", f"/api/v1/workers/{quote(name, safe='')}/land")


@dataclass
class WorkerLander:
    """Lands the Concourse worker on an instance before the rollout terminates it."""

    api: ConcourseAPI
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
