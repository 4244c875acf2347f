"""The evidence ledger: one immutable S3 object per check, never overwritten.

Layout in the evidence bucket:

- `evidence/<ami>/<env>/<utc-stamp>-<SUCCESS|FAILED>.json`: one per `promote validate`, written
  with `If-None-Match: *`, so a record can never replace another (no last-write-wins).
- `results/concourse.test`: `<AMI_ID> SUCCESS` or `<AMI_ID> FAILED`, the compatibility file
  existing pipelines read. It is the only object that is overwritten: it mirrors the latest check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from promote.clock import Clock, utc_stamp
from promote.errors import ExitCode, PromoteError
from promote.fleet import Validation

SCHEMA = "promote/evidence/v1"
COMPAT_KEY = "results/concourse.test"


class LedgerStore(Protocol):
    """An object store: the evidence bucket."""

    def put_new(self, key: str, body: bytes) -> bool:
        """Create KEY with BODY unless it exists; False when it already existed."""
        ...

    def put(self, key: str, body: bytes) -> None:
        """Create or replace KEY."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under PREFIX."""
        ...

    def get(self, key: str) -> bytes:
        """The body of KEY."""
        ...


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
        "schema": SCHEMA,
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
        "instances": [i.as_dict() for i in validation.snapshot.instances],
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
    attempts: int = 5,
) -> str:
    """Write the record as a new object and update the compatibility file; return its key.

    A key that already exists (two checks in the same microsecond) is never overwritten: the
    record is written under a later timestamp instead.
    """
    body = json.dumps(record_body, indent=2, sort_keys=True).encode()
    moment = validation.finished_at
    for _ in range(attempts):
        key = evidence_key(validation.expected_ami, validation.env, moment, validation.result)
        if store.put_new(key, body):
            store.put(COMPAT_KEY, f"{validation.expected_ami} {validation.result}\n".encode())
            return key
        moment = max(clock.now(), moment + timedelta(microseconds=1))
    raise PromoteError(
        f"could not write a new evidence record for {validation.expected_ami} in "
        f"{validation.env} after {attempts} attempts",
        "another writer keeps taking the same key; re-run validate",
        ExitCode.CONFLICT,
    )


def records_for(store: LedgerStore, ami: str, env: str) -> list[EvidenceRef]:
    """Every record of AMI in ENV, newest first."""
    refs = [EvidenceRef.parse(key) for key in store.keys(f"evidence/{ami}/{env}/")]
    return sorted((r for r in refs if r is not None), key=lambda r: r.stamp, reverse=True)


def load(store: LedgerStore, ref: EvidenceRef) -> dict[str, Any]:
    """The stored document of a record."""
    document: dict[str, Any] = json.loads(store.get(ref.key))
    return document
