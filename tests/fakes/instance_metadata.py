"""A stand-in for the EC2 instance metadata service, IMDSv2 only (none can run off EC2).

`PUT /latest/api/token` hands out a session token; every `GET /latest/meta-data/...` without a
valid one is 401, as IMDSv2 with `HttpTokens=required` answers. It serves what the drain agent
reads: instance-id, placement/region, the instance role's credentials, the ASG name tag,
`autoscaling/target-lifecycle-state` and `spot/instance-action` (404 until a notice is set),
and records every path asked for.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.fakes.loopback import Loopback

ROLE = "concourse-worker"


@dataclass
class FakeImds:
    """The metadata of one instance; `with FakeImds(...) as imds:` serves on `imds.url`."""

    instance_id: str = "i-0123456789abcdef0"
    region: str = "eu-west-2"
    group: str = "concourse-worker-management-dev"
    access_key: str = "ASIAFAKEIMDSKEY00001"
    secret_key: str = "fake-imds-secret-key"
    session_token: str = "fake-imds-session-token"
    lifecycle_state: str = "InService"
    spot_action: dict[str, str] | None = None
    tags_exposed: bool = True
    url: str = ""
    asked: list[str] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def values(self) -> dict[str, str]:
        """meta-data path -> value."""
        found = {
            "instance-id": self.instance_id,
            "placement/region": self.region,
            "iam/security-credentials/": ROLE,
            f"iam/security-credentials/{ROLE}": json.dumps(
                {
                    "Code": "Success",
                    "Type": "AWS-HMAC",
                    "AccessKeyId": self.access_key,
                    "SecretAccessKey": self.secret_key,
                    "Token": self.session_token,
                    "Expiration": "2999-01-01T00:00:00Z",
                }
            ),
            "autoscaling/target-lifecycle-state": self.lifecycle_state,
        }
        if self.tags_exposed:
            found["tags/instance/aws:autoscaling:groupName"] = self.group
        if self.spot_action is not None:
            found["spot/instance-action"] = json.dumps(self.spot_action)
        return found

    def __enter__(self) -> FakeImds:
        self._loopback = Loopback(_handler(self), "fake-imds")
        self.url = self._loopback.url
        return self

    def __exit__(self, *_: object) -> None:
        self._loopback.stop()


def _handler(imds: FakeImds) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def _send(self, code: int, body: str) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            if self.path != "/latest/api/token" or not self.headers.get(
                "X-aws-ec2-metadata-token-ttl-seconds"
            ):
                self._send(400, "")
                return
            token = secrets.token_hex(16)
            with imds.lock:
                imds.tokens.add(token)
            self._send(200, token)

        def do_GET(self) -> None:
            prefix = "/latest/meta-data/"
            path = self.path[len(prefix) :] if self.path.startswith(prefix) else None
            with imds.lock:
                valid = self.headers.get("X-aws-ec2-metadata-token") in imds.tokens
                if path is not None:
                    imds.asked.append(path)
                value = imds.values().get(path or "")
            if not valid:
                self._send(401, "")
            elif value is None:
                self._send(404, "")
            else:
                self._send(200, value)

    return Handler
