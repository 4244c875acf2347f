"""The one place that talks to a Concourse web node's API (requests): workers, retiring one.

Used by `promote rollout --concourse-url URL` through `domain.workers.WorkerDrain`. It
authenticates with a bearer token (`CONCOURSE_TOKEN`), or with a username and password the
way `fly login` does: an OAuth2 password grant at `/sky/issuer/token` (client `fly`), whose
`id_token` (else `access_token`) becomes the bearer token. Credentials are never printed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from promote import redact
from promote.domain.ports import Worker
from promote.errors import remote_error

FLY_CLIENT = ("fly", "Zmx5")  # fly's public OAuth2 client id and secret
FLY_SCOPE = "openid profile email federated:id groups"


class ConcourseAPI:
    """A Concourse web node, reached with a bearer token."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self._session = requests.Session()
        self.timeout = timeout
        if token is None and username is not None and password is not None:
            token = self._login(username, password)
        self._session.headers["Authorization"] = f"Bearer {token}"

    def _login(self, username: str, password: str) -> str:
        """A bearer token from the password grant, as `fly login -u -p` gets one."""
        try:
            response = self._session.post(
                f"{self.url}/sky/issuer/token",
                data={
                    "grant_type": "password",
                    "username": username,
                    "password": password,
                    "scope": FLY_SCOPE,
                },
                auth=FLY_CLIENT,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise remote_error(
                f"cannot reach Concourse at {self.url} ({type(exc).__name__})",
                "check --concourse-url",
            ) from None
        if response.status_code != 200:
            raise remote_error(
                f"Concourse refused the login of {username} ({response.status_code})",
                "check CONCOURSE_USERNAME / CONCOURSE_PASSWORD (a local user of the web node)",
            )
        granted = response.json()
        token = granted.get("id_token") or granted.get("access_token")
        if not token:
            raise remote_error("Concourse's login answer carried no token")
        redact.remember(str(token))
        return str(token)

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
                "the token (or user) must be of a team allowed to retire workers",
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
                team=str(w.get("team") or ""),
                tags=tuple(str(t) for t in w.get("tags") or ()),
                platform=str(w.get("platform") or "linux"),
            )
            for w in self._call("GET", "/api/v1/workers") or []
        ]

    def retire(self, name: str) -> None:
        """Retire the worker: no new work, running builds finish, then it unregisters."""
        self._call("PUT", f"/api/v1/workers/{quote(name, safe='')}/retire")
