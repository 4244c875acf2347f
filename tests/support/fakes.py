"""In-memory fakes of the domain's ports (not of AWS: AWS is stubbed with botocore's Stubber,
see `tests.support.stubs`), a clock that never sleeps, and `make_services` to bundle them."""

from __future__ import annotations

import fnmatch
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from promote.config import Overrides, load
from promote.domain.ami_ids import SecretVersion
from promote.domain.images import Image
from promote.domain.ledger import parse_event_key
from promote.domain.ports import ObjectVersion
from promote.domain.services import Services
from promote.errors import remote_error
from tests.support.keys import signing_ports

ACCOUNT = "123456789012"  # the tooling account the fakes act in (moto's default too)
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FakeClock:
    """Time moves only when someone sleeps: now() is START plus the time slept, monotonic()
    the seconds slept so far, and `slept` lists every sleep."""

    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self.elapsed = 0.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        """START plus the time slept."""
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        """Seconds slept so far."""
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        """Advance without waiting."""
        self.slept.append(seconds)
        self.elapsed += seconds


class MemoryLedger:
    """A LedgerStore in a dict, honouring create-only writes."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.refused: list[str] = []

    def put_new(self, key: str, body: bytes) -> bool:
        """Create unless present."""
        if key in self.objects:
            self.refused.append(key)
            return False
        self.objects[key] = body
        return True

    def put(self, key: str, body: bytes) -> None:
        """Create or replace."""
        self.objects[key] = body

    def keys(self, prefix: str) -> list[str]:
        """Keys under prefix."""
        return sorted(k for k in self.objects if k.startswith(prefix))

    def get(self, key: str) -> bytes:
        """A body."""
        return self.objects[key]

    def event_keys(self) -> list[str]:
        """The keys of events (not their details or the change index)."""
        return [k for k in self.keys("events/") if parse_event_key(k) is not None]

    def read(self, key: str) -> tuple[bytes, str] | None:
        """A body and a stand-in ETag; None when absent."""
        body = self.objects.get(key)
        return None if body is None else (body, f'"{hash(body) & 0xFFFFFFFF:08x}"')

    def versions(self, prefix: str) -> list[ObjectVersion]:
        """One version per object (a dict keeps no history)."""
        return [ObjectVersion(k, "v1", True) for k in self.keys(prefix)]


class Killed(BaseException):
    """An in-process stand-in for `kill -9`: no `except Exception` and no cleanup catches it."""


class DyingLedger(MemoryLedger):
    """A MemoryLedger whose process is killed at the first create DIES_AT names (then it lives)."""

    def __init__(self, dies_at: Callable[[str], bool] | None = None) -> None:
        super().__init__()
        self.dies_at = dies_at

    def put_new(self, key: str, body: bytes) -> bool:
        """Die just before creating the chosen key; otherwise create unless present."""
        if self.dies_at is not None and self.dies_at(key):
            self.dies_at = None
            raise Killed(key)
        return super().put_new(key, body)


class FakeSecrets:
    """A secret with versions and stages; `before_put` can play a concurrent writer."""

    def __init__(self, value: str | bytes) -> None:
        self.versions: dict[str, str | bytes] = {"v0": value}
        self.stages: dict[str, set[str]] = {"v0": {"AWSCURRENT"}}
        self.puts: list[str] = []
        self.before_put: Callable[[FakeSecrets], None] | None = None

    def _holder(self, stage: str) -> str | None:
        return next((v for v, s in self.stages.items() if stage in s), None)

    def current(self, secret_id: str) -> SecretVersion:
        version = self._holder("AWSCURRENT")
        assert version is not None
        return SecretVersion(version, self.versions[version])

    def version(self, secret_id: str, stage: str) -> SecretVersion | None:
        version = self._holder(stage)
        return SecretVersion(version, self.versions[version]) if version else None

    def write_directly(self, value: str | bytes) -> str:
        """Another writer's plain PutSecretValue: AWSCURRENT moves to it at once."""
        version = f"other-{uuid.uuid4()}"
        self.versions[version] = value
        self.stages[version] = set()
        self._move("AWSCURRENT", version)
        return version

    def _move(self, stage: str, to: str) -> None:
        old = self._holder(stage)
        if old:
            self.stages[old].discard(stage)
            if stage == "AWSCURRENT":
                for s in self.stages.values():
                    s.discard("AWSPREVIOUS")
                self.stages[old].add("AWSPREVIOUS")
        self.stages[to].add(stage)

    def put_pending(self, secret_id: str, token: str, value: str | bytes) -> str:
        if self.before_put:
            self.before_put(self)
        self.puts.append(token)
        if token in self.versions:
            assert self.versions[token] == value
            return token
        self.versions[token] = value
        self.stages[token] = set()
        self._move("promote-pending", token)
        return token

    def make_current(self, secret_id: str, version_id: str, from_version_id: str) -> bool:
        if "AWSCURRENT" not in self.stages[from_version_id]:
            return False
        self._move("AWSCURRENT", version_id)
        return True

    def clear_pending(self, secret_id: str, version_id: str) -> None:
        self.stages[version_id].discard("promote-pending")


@dataclass
class FakeImages:
    """Images by id, with launch permissions; records every write."""

    images: dict[str, Image] = field(default_factory=dict)
    permissions: dict[str, set[str]] = field(default_factory=dict)
    writes: list[tuple[str, Any]] = field(default_factory=list)
    deprecation_fails: bool = False
    deprecation_refused: bool = False
    copy_state: str = "available"

    def add(self, image: Image) -> Image:
        self.images[image.image_id] = image
        return image

    def image(self, ami: str) -> Image | None:
        return self.images.get(ami)

    def owned(self) -> list[Image]:
        return list(self.images.values())

    def copies_of(self, source: str) -> list[Image]:
        return [i for i in self.images.values() if i.source_image == source and i.stage == "tested"]

    def newest_base(self, owner: str, filters: Mapping[str, str]) -> Image | None:
        """The newest available image of OWNER whose name matches the name filter's glob (and
        whose id is the image-id filter's, when given)."""
        found = [
            i
            for i in self.images.values()
            if i.owner_id == owner
            and i.state == "available"
            and fnmatch.fnmatchcase(i.name, filters.get("name", "*"))
            and filters.get("image-id", i.image_id) == i.image_id
        ]
        return max(found, key=lambda i: (i.creation_date, i.image_id), default=None)

    def copy(
        self, source: str, name: str, description: str, tags: dict[str, str], token: str
    ) -> str:
        ami = f"ami-{len(self.images) + 1:017x}"
        self.images[ami] = Image(
            ami,
            name,
            self.copy_state,
            "2026-11-23T12:00:00.000Z",
            dict(tags),
            copied_from=source,
            owner_id=ACCOUNT,
        )
        self.writes.append(("copy", (source, name, token)))
        return ami

    def tag(self, ami: str, tags: dict[str, str]) -> None:
        image = self.images[ami]
        self.images[ami] = replace(image, tags={**image.tags, **tags})
        self.writes.append(("tag", (ami, tags)))

    def launch_permissions(self, ami: str) -> list[str]:
        return sorted(self.permissions.get(ami, set()))

    def grant_launch(self, ami: str, accounts: list[str]) -> None:
        self.permissions.setdefault(ami, set()).update(accounts)
        self.writes.append(("grant", (ami, accounts)))

    def deprecate(self, ami: str, at: str) -> str | None:
        if self.deprecation_refused:
            raise remote_error("AWS denied ec2:EnableImageDeprecation while deprecating")
        if self.deprecation_fails:
            return "AWS EnableImageDeprecation failed: InternalError (HTTP 500)"
        self.writes.append(("deprecate", (ami, at)))
        return None

    def disable(self, ami: str) -> None:
        self.images[ami] = replace(self.images[ami], state="disabled")
        self.writes.append(("disable", ami))

    def deregister(self, image: Image) -> list[str]:
        del self.images[image.image_id]
        self.writes.append(("deregister", image.image_id))
        return list(image.snapshot_ids)


def image(
    ami: str,
    stage: str | None = "untested",
    created: str = "2026-11-01T00:00:00.000Z",
    tags: dict[str, str] | None = None,
    state: str = "available",
    copied_from: str | None = None,
    owner: str | None = None,
) -> Image:
    """An image promote would have made (COPIED_FROM: AWS's SourceImageId for a copy), owned
    by the tooling account unless OWNER says otherwise."""
    all_tags = {"promote:stage": stage} if stage else {}
    all_tags.update(tags or {})
    prefix = "dw-al2-concourse-ami" if stage == "tested" else "untested-dw-al2-concourse-ami"
    snapshots = (f"snap-{ami[4:]}",)
    return Image(
        ami,
        f"{prefix}-{created[:10]}",
        state,
        created,
        all_tags,
        snapshots,
        copied_from,
        owner or ACCOUNT,
    )


class Unused:
    """A port a test does not expect to be used: any call fails the test, naming the port."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"{self.name}.{attribute} was not expected in this test")


def make_services(
    secrets: FakeSecrets | None = None,
    images: FakeImages | None = None,
    ledger: MemoryLedger | None = None,
    clock: FakeClock | None = None,
    **ports: Any,
) -> tuple[Services, list[str]]:
    """Services on fakes, with the built-in config; and the list progress/warnings go to.

    Ports not given (fleet, fleet_control, usage, or the secret) fail the test when used."""
    lines: list[str] = []
    config = ports.pop("config", None) or load(Overrides(), {}, Path("/nonexistent"))
    secret_port: Any = secrets or Unused("secrets")
    ports = {**signing_ports(), **ports}
    services = Services(
        config=config,
        clock=clock or FakeClock(),
        images=images or FakeImages(),
        ledger=ledger or MemoryLedger(),
        secrets=secret_port,
        writer=secret_port,
        fleet=ports.pop("fleet", None) or Unused("fleet"),
        fleet_control=ports.pop("fleet_control", None) or Unused("fleet_control"),
        usage=ports.pop("usage", None) or Unused("usage"),
        actor=lambda: {"user": "tester", "aws_identity": f"arn:aws:iam::{ACCOUNT}:user/tester"},
        tool_version="test",
        user="tester",
        progress=lines.append,
        warn=lambda line: lines.append(f"warning: {line}"),
        **ports,
    )
    return services, lines


class MemoryImages:
    """An ImageReader over a dict (the read-only view FakeImages also offers)."""

    def __init__(self, *images: Image) -> None:
        self.images = {i.image_id: i for i in images}

    def image(self, ami: str) -> Image | None:
        """The image or None."""
        return self.images.get(ami)
