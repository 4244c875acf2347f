"""The evidence ledger: one immutable S3 object per check and per change, never overwritten.

Layout in the evidence bucket:

- `evidence/<ami>/<env>/<utc-stamp>-<SUCCESS|FAILED>.json`: one per `promote validate`.
- `events/<utc-stamp>-<kind>-<subject>.json`: one per change (subject: the AMI, or the env for
  pins), holding the kind, the AMI, the envs, what was before and after, the reason, who did it
  and the tool version.
- `results/concourse.test`: `<AMI_ID> SUCCESS` or `<AMI_ID> FAILED`, the compatibility file
  existing pipelines read. It is the only object that is overwritten: it mirrors the latest check.

Records and events are written by one create-only writer (`If-None-Match: *`): a key that
already exists (two writes in the same microsecond) is never replaced; the object is written
under a later timestamp instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from promote.clock import utc_stamp
from promote.domain.results import to_data
from promote.errors import conflict

if TYPE_CHECKING:
    from promote.clock import Clock
    from promote.domain.fleet import Validation
    from promote.domain.ports import LedgerStore

EVIDENCE_SCHEMA = "promote/evidence/v1"
EVENT_SCHEMA = "promote/event/v1"
COMPAT_KEY = "results/concourse.test"
EVENTS_PREFIX = "events/"
KINDS = ("set-ids", "pin", "unpin", "publish", "release", "revoke", "prune")
WRITE_ATTEMPTS = 5
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def put_new_object(
    store: LedgerStore,
    key_at: Callable[[datetime], str],
    body_at: Callable[[datetime], bytes],
    moment: datetime,
    clock: Clock,
    what: str,
    attempts: int = WRITE_ATTEMPTS,
) -> str:
    """Create a new object at KEY_AT(moment), moving MOMENT on while the key is taken; its key."""
    for _ in range(attempts):
        key = key_at(moment)
        if store.put_new(key, body_at(moment)):
            return key
        moment = max(clock.now(), moment + timedelta(microseconds=1))
    raise conflict(
        f"could not write {what} after {attempts} attempts",
        "another writer keeps taking the same key; re-run the command",
    )


# --- evidence: one record per check ---


@dataclass(frozen=True)
class EvidenceRef:
    """A record's key, decoded."""

    key: str
    ami: str
    env: str
    stamp: str
    result: str

    @classmethod
    def parse(cls, key: str) -> EvidenceRef | None:
        """Decode `evidence/<ami>/<env>/<stamp>-<RESULT>.json`; None for anything else."""
        parts = key.split("/")
        if len(parts) != 4 or parts[0] != "evidence" or not parts[3].endswith(".json"):
            return None
        stamp, _, result = parts[3].removesuffix(".json").rpartition("-")
        if result not in ("SUCCESS", "FAILED") or not stamp:
            return None
        return cls(key=key, ami=parts[1], env=parts[2], stamp=stamp, result=result)


def evidence_key(ami: str, env: str, moment: datetime, result: str) -> str:
    """Where the record of one check lives."""
    return f"evidence/{ami}/{env}/{utc_stamp(moment)}-{result}.json"


def build_record(
    validation: Validation, actor: dict[str, Any], tool_version: str, region: str
) -> dict[str, Any]:
    """The JSON document stored for one validation."""
    return {
        "schema": EVIDENCE_SCHEMA,
        "result": validation.result,
        "env": validation.env,
        "expected_ami": validation.expected_ami,
        "region": region,
        "started_at": validation.started_at.isoformat(),
        "checked_at": validation.finished_at.isoformat(),
        "polls": validation.polls,
        "timeout_seconds": validation.timeout_seconds,
        "desired_capacity": validation.snapshot.desired,
        "instance_count": len(validation.snapshot.instances),
        "instances": to_data(validation.snapshot.instances),
        "reasons": list(validation.reasons),
        "actor": actor,
        "tool_version": tool_version,
        **validation.extra,
    }


def record(
    store: LedgerStore,
    validation: Validation,
    record_body: dict[str, Any],
    clock: Clock,
    attempts: int = WRITE_ATTEMPTS,
) -> str:
    """Write the record as a new object and update the compatibility file; return its key."""
    body = json.dumps(record_body, indent=2, sort_keys=True).encode()
    key = put_new_object(
        store,
        lambda at: evidence_key(validation.expected_ami, validation.env, at, validation.result),
        lambda _: body,
        validation.finished_at,
        clock,
        f"a new evidence record for {validation.expected_ami} in {validation.env}",
        attempts,
    )
    store.put(COMPAT_KEY, f"{validation.expected_ami} {validation.result}\n".encode())
    return key


def records_for(store: LedgerStore, ami: str, env: str) -> list[EvidenceRef]:
    """Every record of AMI in ENV, newest first."""
    refs = [EvidenceRef.parse(key) for key in store.keys(f"evidence/{ami}/{env}/")]
    return sorted((r for r in refs if r is not None), key=lambda r: r.stamp, reverse=True)


def load(store: LedgerStore, ref: EvidenceRef) -> dict[str, Any]:
    """The stored document of a record."""
    document: dict[str, Any] = json.loads(store.get(ref.key))
    return document


# --- events: one per change ---


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
            "schema": EVENT_SCHEMA,
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
    return f"{EVENTS_PREFIX}{utc_stamp(moment)}-{kind}-{_SAFE.sub('_', subject)}.json"


def record_event(
    store: LedgerStore,
    event: Event,
    clock: Clock,
    actor: dict[str, Any],
    tool_version: str,
    attempts: int = WRITE_ATTEMPTS,
) -> str:
    """Write EVENT as a new object; its key. An existing key is never overwritten."""
    return put_new_object(
        store,
        lambda at: event_key(event.kind, event.subject, at),
        lambda at: json.dumps(
            event.document(at, actor, tool_version), indent=2, default=str
        ).encode(),
        clock.now(),
        clock,
        f"the {event.kind} event",
        attempts,
    )


def stamp_of(key: str) -> str:
    """The sortable UTC stamp at the start of an event key's file name."""
    return key.removeprefix(EVENTS_PREFIX).split("-", 1)[0]


def load_events(store: LedgerStore) -> list[tuple[str, dict[str, Any]]]:
    """Every event (key, document), newest first; unreadable objects are skipped."""
    out: list[tuple[str, dict[str, Any]]] = []
    for key in store.keys(EVENTS_PREFIX):
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
