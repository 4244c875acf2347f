"""A fake Concourse web node: the workers API (list, land) with bearer-token auth, on 127.0.0.1.

It speaks Concourse's JSON for `GET /api/v1/workers` (the fields promote reads, plus the usual
neighbours) and `PUT /api/v1/workers/:name/land`. A landing worker reports `landing` for a
number of polls (its builds draining), then `landed`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from tests.fakes.loopback import Loopback


@dataclass
class FakeWorker:
    """One registered worker."""

    name: str
    state: str = "running"
    active_containers: int = 3
    polls_to_land: int = 2

    def as_json(self) -> dict[str, Any]:
        """The worker as `GET /api/v1/workers` lists it."""
        return {
            "addr": f"{self.name}:7777",
            "baggageclaim_url": f"http://{self.name}:7788",
            "active_containers": self.active_containers,
            "active_volumes": 10,
            "active_tasks": 0,
            "resource_types": [],
            "platform": "linux",
            "tags": [],
            "team": "",
            "name": self.name,
            "version": "2.5",
            "start_time": 1732000000,
            "ephemeral": False,
            "state": self.state,
        }


@dataclass
class FakeConcourse:
    """The web node; `with FakeConcourse(token) as c:` serves on `c.url`."""

    token: str
    workers: dict[str, FakeWorker] = field(default_factory=dict)
    landed: list[str] = field(default_factory=list)
    url: str = ""

    def add_worker(self, name: str, polls_to_land: int = 2) -> FakeWorker:
        """Register a running worker."""
        worker = FakeWorker(name, polls_to_land=polls_to_land)
        self.workers[name] = worker
        return worker

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

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                if self.path != "/api/v1/workers":
                    self._send(404)
                    return
                for worker in fake.workers.values():
                    if worker.state == "landing":
                        worker.polls_to_land -= 1
                        if worker.polls_to_land <= 0:
                            worker.state, worker.active_containers = "landed", 0
                self._send(200, [w.as_json() for w in fake.workers.values()])

            def do_PUT(self) -> None:
                if not self._authorised():
                    return
                parts = self.path.split("/")
                if (
                    len(parts) != 6
                    or parts[:4] != ["", "api", "v1", "workers"]
                    or parts[5] != "land"
                ):
                    self._send(404)
                    return
                worker = fake.workers.get(unquote(parts[4]))
                if worker is None:
                    self._send(404)
                    return
                worker.state = "landing"
                fake.landed.append(worker.name)
                self._send(200)

        self._server = Loopback(Handler, "fake-concourse")
        self.url = self._server.url
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop()
