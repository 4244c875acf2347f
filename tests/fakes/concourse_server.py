"""A stand-in for a Concourse web node (none can run here): the workers API and fly's login.

It speaks Concourse's JSON for `GET /api/v1/workers` (the fields promote reads, plus the usual
neighbours), `PUT /api/v1/workers/:name/retire` and `/land`, and the OAuth2 password grant
`fly login -u -p` uses (`POST /sky/issuer/token` with fly's client id and secret), with
bearer-token auth on the API. A retiring (or landing) worker reports `retiring` (`landing`) for
a number of polls while its builds drain, then is gone (`landed`). `register_later` adds a
worker after a delay, as a new instance's worker registers some time after it boots;
`mirror_asgs` does that for every new member of some ASGs of the local AWS.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.fakes.loopback import Loopback

FLY_BASIC = "Basic " + base64.b64encode(b"fly:Zmx5").decode()


@dataclass
class FakeWorker:
    """One registered worker."""

    name: str
    state: str = "running"
    active_containers: int = 3
    polls_to_land: int = 2
    team: str = ""
    tags: tuple[str, ...] = ()
    platform: str = "linux"

    def as_json(self) -> dict[str, Any]:
        """The worker as `GET /api/v1/workers` lists it."""
        return {
            "addr": f"{self.name}:7777",
            "baggageclaim_url": f"http://{self.name}:7788",
            "active_containers": self.active_containers,
            "active_volumes": 10,
            "active_tasks": 0,
            "resource_types": [],
            "platform": self.platform,
            "tags": list(self.tags),
            "team": self.team,
            "name": self.name,
            "version": "2.5",
            "start_time": 1732000000,
            "ephemeral": True,
            "state": self.state,
        }


@dataclass
class FakeConcourse:
    """The web node; `with FakeConcourse(token) as c:` serves on `c.url`."""

    token: str
    users: dict[str, str] = field(default_factory=dict)  # local users: name -> password
    workers: dict[str, FakeWorker] = field(default_factory=dict)
    landed: list[str] = field(default_factory=list)  # every worker asked to retire or land
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_worker(self, name: str, polls_to_land: int = 2, **pool: Any) -> FakeWorker:
        """Register a running worker (POOL: team, tags, platform)."""
        worker = FakeWorker(name, polls_to_land=polls_to_land, **pool)
        with self.lock:
            self.workers[name] = worker
        return worker

    def register_later(self, name: str, delay: float, **pool: Any) -> None:
        """Register a running worker DELAY seconds from now."""
        timer = threading.Timer(delay, lambda: self.add_worker(name, **pool))
        timer.daemon = True
        timer.start()

    def running(self, **pool: Any) -> int:
        """How many workers are running (in POOL, when given)."""
        with self.lock:
            return sum(
                1
                for w in self.workers.values()
                if w.state == "running" and all(getattr(w, k) == v for k, v in pool.items())
            )

    def _tick(self) -> None:
        """A poll passes: draining workers get closer to gone."""
        for worker in list(self.workers.values()):
            if worker.state in ("landing", "retiring"):
                worker.polls_to_land -= 1
                if worker.polls_to_land <= 0:
                    if worker.state == "retiring":
                        del self.workers[worker.name]
                    else:
                        worker.state, worker.active_containers = "landed", 0

    def __enter__(self) -> FakeConcourse:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _send(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._send(401)
                    return False
                return True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if self.path != "/sky/issuer/token":
                    self._send(404)
                    return
                user = (form.get("username") or [""])[0]
                good = (
                    self.headers.get("Authorization") == FLY_BASIC
                    and form.get("grant_type") == ["password"]
                    and user in fake.users
                    and form.get("password") == [fake.users[user]]
                )
                if not good:
                    self._send(401, {"error": "invalid_grant"})
                    return
                self._send(
                    200,
                    {
                        "access_token": "opaque-access-token",
                        "token_type": "bearer",
                        "expires_in": 86399,
                        "id_token": fake.token,
                    },
                )

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                if self.path != "/api/v1/workers":
                    self._send(404)
                    return
                with fake.lock:
                    fake._tick()
                    body = [w.as_json() for w in fake.workers.values()]
                self._send(200, body)

            def do_PUT(self) -> None:
                if not self._authorised():
                    return
                parts = self.path.split("/")
                if (
                    len(parts) != 6
                    or parts[:4] != ["", "api", "v1", "workers"]
                    or parts[5] not in ("land", "retire")
                ):
                    self._send(404)
                    return
                with fake.lock:
                    worker = fake.workers.get(unquote(parts[4]))
                    if worker is not None:
                        worker.state = "retiring" if parts[5] == "retire" else "landing"
                        fake.landed.append(worker.name)
                self._send(404 if worker is None else 200)

        self._server = Loopback(Handler, "fake-concourse")
        self.url = self._server.url
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop()


def mirror_asgs(
    concourse: FakeConcourse,
    describe: Callable[[], dict[str, list[dict[str, Any]]]],
    delay: float,
    name_of: Callable[[dict[str, Any]], str],
    stop: threading.Event,
    pool: Callable[[str], dict[str, Any]] = lambda group: {},
) -> threading.Thread:
    """Register the worker of every new InService member of the ASGs DESCRIBE lists (group ->
    members, as Auto Scaling and EC2 describe them) DELAY seconds after it shows up, until STOP
    is set; a background thread."""

    def watch() -> None:
        seen: set[str] = set()
        while not stop.is_set():
            for group, members in describe().items():
                for member in members:
                    name = name_of(member)
                    if member.get("LifecycleState") == "InService" and name not in seen:
                        seen.add(name)
                        if name not in concourse.workers:
                            concourse.register_later(name, delay, **pool(group))
            time.sleep(0.1)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread
