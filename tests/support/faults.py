"""Fault injection through botocore's event system (a `before-send` handler, no mock.patch).

`install(aws)` is the `PROMOTE_TEST_HOOKS` seam (`tests.support.faults:install`): it
registers the current `INJECTOR` on every client of a CLI run. The injector fails a seeded share
of HTTP attempts with what AWS really answers under load (Throttling in each protocol's own
error format, 500, 503) or a connection reset, never more than `max_in_a_row` times in a row for
one operation, so botocore's standard retries (5 attempts) always get through.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError

_QUERY_THROTTLE = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
    b"<Message>Rate exceeded</Message></Error><RequestId>f</RequestId></ErrorResponse>"
)
_EC2_THROTTLE = (
    b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
    b"<Message>Request limit exceeded.</Message></Error></Errors>"
    b"<RequestID>f</RequestID></Response>"
)
_S3_SLOWDOWN = (
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)
_JSON_THROTTLE = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'


class _Body:
    """The raw body botocore reads an AWSResponse from."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        """All of it at once."""
        yield self.data


@dataclass
class FaultInjector:
    """Fails a seeded share of AWS HTTP attempts."""

    rate: float
    seed: int = 7
    max_in_a_row: int = 3
    injected: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    _rng: random.Random = field(init=False)
    _in_a_row: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def before_send(self, request: Any, event_name: str = "", **_: Any) -> AWSResponse | None:
        """Answer for AWS (a fault) or return None to let the request through."""
        self.attempts += 1
        operation = event_name.removeprefix("before-send.")
        if self._in_a_row[operation] >= self.max_in_a_row or self._rng.random() >= self.rate:
            self._in_a_row[operation] = 0
            return None
        self._in_a_row[operation] += 1
        kind = self._rng.choice(("throttle", "500", "503", "reset"))
        self.injected[kind] += 1
        if kind == "reset":
            raise ConnectionClosedError(endpoint_url=request.url)
        if kind == "throttle":
            status, body = _throttle(operation)
        else:
            status, body = int(kind), b""
        return AWSResponse(request.url, status, {"x-amzn-requestid": "fault"}, _Body(body))

    @property
    def total(self) -> int:
        """How many attempts were failed (each one a retry botocore made)."""
        return sum(self.injected.values())


def _throttle(operation: str) -> tuple[int, bytes]:
    service = operation.split(".")[0]
    if service == "ec2":
        return 503, _EC2_THROTTLE
    if service == "s3":
        return 503, _S3_SLOWDOWN
    if service in ("secretsmanager", "secrets-manager", "kms"):  # the JSON protocols
        return 400, _JSON_THROTTLE
    return 400, _QUERY_THROTTLE


INJECTOR: FaultInjector | None = None


def install(aws: Any) -> None:
    """The PROMOTE_TEST_HOOKS entry point: put the current injector on this run's clients."""
    if INJECTOR is not None:
        aws.on("before-send", INJECTOR.before_send)


LEASE_DELAY_SECONDS = 3.0


def delay_lease(aws: Any) -> None:
    """A PROMOTE_TEST_HOOKS entry point: the run's first write of a rollout lease waits
    LEASE_DELAY_SECONDS first, as if throttled between reading the lease and creating it."""
    import time

    waited: list[bool] = []

    def before_call(params: dict[str, Any], **_: Any) -> None:
        if not waited and str(params.get("Key", "")).startswith("locks/"):
            waited.append(True)
            time.sleep(LEASE_DELAY_SECONDS)

    aws.on("before-parameter-build.s3.PutObject", before_call)
