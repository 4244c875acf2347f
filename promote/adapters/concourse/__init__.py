"""The one place that talks to a Concourse web node's API (requests): list workers, land one.

Used by `promote rollout --concourse-url URL` (token from `CONCOURSE_TOKEN`) through
`domain.workers.WorkerLander`. The token is sent as a bearer token and never printed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from promote.domain.ports import Worker
from promote.errors import remote_error


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
