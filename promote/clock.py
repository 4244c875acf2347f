"""Time, injected: domain code asks a Clock so tests never sleep."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What domain code needs of time."""

    def now(self) -> datetime:
        """The current UTC time, timezone-aware."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for deadlines."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """time.monotonic()."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """time.sleep()."""
        time.sleep(max(0.0, seconds))


def utc_stamp(moment: datetime) -> str:
    """A sortable, path-safe UTC timestamp: 20261123T121314.123456Z."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
