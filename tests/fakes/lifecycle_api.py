"""A recording stand-in for the Auto Scaling lifecycle-action API (moto keeps no lifecycle
action: it neither holds an instance in Terminating:Wait nor takes a heartbeat).

It speaks the Query API (`POST /`, form-encoded `Action=...&Version=2011-01-01`) for
RecordLifecycleActionHeartbeat, CompleteLifecycleAction and DescribeAutoScalingInstances,
answers in Auto Scaling's XML, and records each call with its parameters and when it came.
With KEYS (access key -> secret key) it checks every request's Signature Version 4 by
recomputing it with botocore's signer: a request signed wrong is 403 SignatureDoesNotMatch.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.loopback import Loopback

NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
ACTIONS = (
    "RecordLifecycleActionHeartbeat",
    "CompleteLifecycleAction",
    "DescribeAutoScalingInstances",
)


@dataclass
class Call:
    """One request the stand-in accepted."""

    action: str
    params: dict[str, str]
    at: float


@dataclass
class FakeLifecycleApi:
    """`with FakeLifecycleApi(keys, groups) as api:` serves on `api.url`."""

    keys: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)  # instance id -> ASG name
    region: str = "eu-west-2"
    calls: list[Call] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def actions(self) -> list[str]:
        """The actions called, in order."""
        with self.lock:
            return [c.action for c in self.calls]

    def __enter__(self) -> FakeLifecycleApi:
        self._loopback = Loopback(_handler(self), "fake-lifecycle-api")
        self.url = self._loopback.url
        return self

    def __exit__(self, *_: object) -> None:
        self._loopback.stop()


def signature_problem(
    keys: dict[str, str], region: str, method: str, url: str, headers: Any, body: bytes
) -> str | None:
    """Why the request's SigV4 signature is wrong (None when botocore computes the same)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    authorization = headers.get("Authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        return "no SigV4 Authorization header"
    fields = dict(
        part.strip().split("=", 1) for part in authorization[len("AWS4-HMAC-SHA256 ") :].split(",")
    )
    access_key, day, sig_region, service, _ = fields["Credential"].split("/")
    if access_key not in keys:
        return f"unknown access key {access_key}"
    if (sig_region, service) != (region, "autoscaling"):
        return f"signed for {sig_region}/{service}"
    names = fields["SignedHeaders"].split(";")
    for needed in ("host", "x-amz-date"):
        if needed not in names:
            return f"{needed} is not signed"
    token = headers.get("X-Amz-Security-Token")
    if token and "x-amz-security-token" not in names:
        return "the session token is not signed"
    signed = {name: headers.get(name, "") for name in names}
    request = AWSRequest(method=method, url=url, data=body, headers=signed)
    request.context["timestamp"] = headers.get("X-Amz-Date", "")
    auth = SigV4Auth(Credentials(access_key, keys[access_key], token), "autoscaling", region)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    if not request.context["timestamp"].startswith(day):
        return "the credential scope's day is not X-Amz-Date's"
    return None if expected == fields["Signature"] else "SignatureDoesNotMatch"


def _handler(api: FakeLifecycleApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def _send(self, code: int, xml: str) -> None:
            data = xml.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, code: int, error: str, message: str) -> None:
            self._send(
                code,
                f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{error}</Code>'
                f"<Message>{message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>",
            )

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            params = dict(parse_qsl(body.decode()))
            action = params.pop("Action", "")
            if api.keys:
                problem = signature_problem(
                    api.keys,
                    api.region,
                    "POST",
                    f"http://{self.headers['Host']}{self.path}",
                    self.headers,
                    body,
                )
                if problem:
                    with api.lock:
                        api.refused.append(f"{action}: {problem}")
                    self._error(403, "SignatureDoesNotMatch", problem)
                    return
            if action not in ACTIONS or params.pop("Version", "") != "2011-01-01":
                self._error(400, "InvalidAction", f"{action} is not served here")
                return
            with api.lock:
                api.calls.append(Call(action, params, time.monotonic()))
            if action == "DescribeAutoScalingInstances":
                instance = params.get("InstanceIds.member.1", "")
                group = api.groups.get(instance)
                members = (
                    f"<member><InstanceId>{instance}</InstanceId>"
                    f"<AutoScalingGroupName>{group}</AutoScalingGroupName>"
                    "<LifecycleState>Terminating:Wait</LifecycleState></member>"
                    if group
                    else ""
                )
                result = f"<AutoScalingInstances>{members}</AutoScalingInstances>"
            else:
                result = ""
            self._send(
                200,
                f'<{action}Response xmlns="{NS}"><{action}Result>{result}</{action}Result>'
                f"<ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata>"
                f"</{action}Response>",
            )

    return Handler
