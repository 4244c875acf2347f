"""The audit trail: one immutable object per change, under `events/` in the evidence bucket.

Key: `events/<utc-stamp>-<kind>-<subject>.json` (subject: the AMI, or the env for pins), written
with `If-None-Match: *` like evidence, so an event is never replaced. Each holds the kind, the
AMI, the envs, what was before and after, the reason, who did it and the tool version.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from promote.clock import Clock, utc_stamp
from promote.errors import ExitCode, PromoteError
from promote.evidence import LedgerStore

SCHEMA = "promote/event/v1"
PREFIX = "events/"
KINDS = ("set-ids", "pin", "unpin", "publish", "release", "revoke", "prune")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Event:
    """One change to what an environment may run."""

    kind: str
    subject: str
    ami: str | None = None
    envs: tuple[str, ...] = ()
    before: Any = None
    after: Any = None
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def document(self, at: datetime, actor: dict[str, Any], tool_version: str) -> dict[str, Any]:
        """The JSON document stored for the event."""
        return {
            "schema": SCHEMA,
            "kind": self.kind,
            "at": at.isoformat(),
            "ami": self.ami,
            "envs": list(self.envs),
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "actor": actor,
            "tool_version": tool_version,
            **self.extra,
        }


def event_key(kind: str, subject: str, moment: datetime) -> str:
    """Where one event lives."""
    return f"{PREFIX}{utc_stamp(moment)}-{kind}-{_SAFE.sub('_', subject)}.json"


def record(
    store: LedgerStore,
    event: Event,
    clock: Clock,
    actor: dict[str, Any],
    tool_version: str,
    attempts: int = 5,
) -> str:
    """Write EVENT as a new object; its key. An existing key is never overwritten."""
    moment = clock.now()
    for _ in range(attempts):
        key = event_key(event.kind, event.subject, moment)
        body = json.dumps(event.document(moment, actor, tool_version), indent=2, default=str)
        if store.put_new(key, body.encode()):
            return key
        moment = max(clock.now(), moment + timedelta(microseconds=1))
    raise PromoteError(
        f"could not write the {event.kind} event after {attempts} attempts",
        "another writer keeps taking the same key; re-run the command",
        ExitCode.CONFLICT,
    )


def stamp_of(key: str) -> str:
    """The sortable UTC stamp at the start of an event key's file name."""
    return key.removeprefix(PREFIX).split("-", 1)[0]


def load_all(store: LedgerStore) -> list[tuple[str, dict[str, Any]]]:
    """Every event (key, document), newest first; unreadable objects are skipped."""
    out: list[tuple[str, dict[str, Any]]] = []
    for key in store.keys(PREFIX):
        if not key.endswith(".json"):
            continue
        try:
            document = json.loads(store.get(key))
        except ValueError:
            continue
        if isinstance(document, dict):
            out.append((key, document))
    out.sort(key=lambda item: stamp_of(item[0]), reverse=True)
    return out
