"""In-memory stand-ins for promote's own Protocols (not for AWS: AWS is stubbed with Stubber)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from promote.images import Image


class FakeClock:
    """A clock that moves only when slept on."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        self.slept: list[float] = []

    def now(self) -> datetime:
        """The fake time."""
        return self.current

    def monotonic(self) -> float:
        """Seconds since the fake epoch."""
        return self.current.timestamp()

    def sleep(self, seconds: float) -> None:
        """Advance instead of sleeping."""
        self.slept.append(seconds)
        self.current += timedelta(seconds=seconds)


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


class MemoryImages:
    """An ImageReader over a dict."""

    def __init__(self, *images: Image) -> None:
        self.images = {i.image_id: i for i in images}

    def image(self, ami: str) -> Image | None:
        """The image or None."""
        return self.images.get(ami)
