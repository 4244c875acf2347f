"""In-memory fakes of the Protocols the domain modules take, and a clock that never sleeps."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from promote.config import Overrides, load
from promote.errors import remote_error
from promote.ids import SecretVersion
from promote.images import Image
from promote.promotion import Backends
from tests.unit.fakes import MemoryLedger

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FakeClock:
    """Time moves only when someone sleeps."""

    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        """START plus the time slept."""
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        """Seconds slept so far."""
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        """Advance without waiting."""
        self.sleeps.append(seconds)
        self.elapsed += seconds


# The ledger fake is shared with the foundation's tests.
FakeLedger = MemoryLedger


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

    def copy(
        self, source: str, name: str, description: str, tags: dict[str, str], token: str
    ) -> str:
        ami = f"ami-{len(self.images) + 1:017x}"
        self.images[ami] = Image(ami, name, self.copy_state, "2026-11-23T12:00:00.000Z", dict(tags))
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
) -> Image:
    """An image promote would have made."""
    all_tags = {"promote:stage": stage} if stage else {}
    all_tags.update(tags or {})
    prefix = "dw-al2-concourse-ami" if stage == "tested" else "untested-dw-al2-concourse-ami"
    return Image(ami, f"{prefix}-{created[:10]}", state, created, all_tags, (f"snap-{ami[4:]}",))


def backends(
    secrets: FakeSecrets,
    images: FakeImages | None = None,
    ledger: FakeLedger | None = None,
    clock: FakeClock | None = None,
) -> tuple[Backends, list[str]]:
    """Backends on fakes, with the built-in config; and the list progress/warnings go to."""
    lines: list[str] = []
    config = load(Overrides(), {}, Path("/nonexistent"))
    return (
        Backends(
            config=config,
            images=images or FakeImages(),
            ledger=ledger or FakeLedger(),
            secrets=secrets,
            writer=secrets,
            clock=clock or FakeClock(),
            actor=lambda: {"user": "tester", "aws_identity": "arn:aws:iam::1:user/tester"},
            tool_version="test",
            progress=lines.append,
            warn=lambda line: lines.append(f"warning: {line}"),
        ),
        lines,
    )
