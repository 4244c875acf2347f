"""The evidence ledger: one immutable S3 object per check and per change, never overwritten.

Layout in the evidence bucket:

- `evidence/<ami>/<env>/<utc-stamp>-<SUCCESS|FAILED>.json`: one per `promote validate`, a DSSE
  envelope around a signed in-toto Statement (`domain/evidence.py`); its bulky detail (every
  instance seen, every reason) in `evidence/<ami>/<env>/detail/<sha256>.json`, named by the
  sha256 the Statement signs.
- `events/<utc-stamp>-<kind>-<subject>.json`: one per change (subject: the AMI, or the env for
  pins), a signed Statement holding the kind, the AMI, the envs, what was before and after, the
  reason, who did it, the tool version and the sha256 of the subject's previous event
  (`domain/events.py`); bulky parts in `events/detail/<sha256>.json`.
- `results/concourse.test`: `<AMI_ID> SUCCESS` or `<AMI_ID> FAILED`, the compatibility file
  existing pipelines read. It is the only object that is overwritten: it mirrors the latest
  check, and promote never believes it.

Records and events are written by one create-only writer (`If-None-Match: *`): a key that
already exists (two writes in the same microsecond) is never replaced; the object is written
under a later timestamp instead.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from promote.clock import utc_stamp
from promote.errors import conflict

if TYPE_CHECKING:
    from promote.clock import Clock
    from promote.domain.ports import LedgerStore

EVIDENCE_SCHEMA = "promote/evidence/v1"
EVENT_SCHEMA = "promote/event/v1"
COMPAT_KEY = "results/concourse.test"
EVENTS_PREFIX = "events/"
KINDS = ("set-ids", "pin", "unpin", "publish", "release", "revoke", "prune", "rollout")
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


def records_for(store: LedgerStore, ami: str, env: str) -> list[EvidenceRef]:
    """Every record of AMI in ENV by its key (not yet verified), newest first."""
    refs = [EvidenceRef.parse(key) for key in store.keys(f"evidence/{ami}/{env}/")]
    return sorted((r for r in refs if r is not None), key=lambda r: r.stamp, reverse=True)


def sha256(body: bytes) -> str:
    """The hex sha256 of BODY: how statements name the objects they rely on."""
    return hashlib.sha256(body).hexdigest()


def compact(document: Any) -> bytes:
    """DOCUMENT as compact, key-sorted JSON (what is stored and digested)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


def subject(name: str) -> dict[str, Any]:
    """An in-toto subject for an AMI id or env name (EC2 gives no content digest for an image,
    so the digest is of its name)."""
    return {"name": name, "digest": {"sha256": sha256(name.encode())}}


@dataclass(frozen=True)
class Detail:
    """A bulky part of a statement, stored beside it and named by its sha256."""

    key: str
    body: bytes

    @classmethod
    def of(cls, prefix: str, document: Any) -> Detail:
        """DOCUMENT as the detail object `PREFIX/detail/<sha256>.json`."""
        body = compact(document)
        return cls(f"{prefix}detail/{sha256(body)}.json", body)

    @property
    def reference(self) -> dict[str, str]:
        """What the signed statement says about it: {key, sha256}."""
        return {"key": self.key, "sha256": sha256(self.body)}

    def store(self, store: LedgerStore) -> None:
        """Create it (taken means the same bytes are already there)."""
        store.put_new(self.key, self.body)


def get_detail(store: LedgerStore, reference: Any, prefix: str) -> Any:
    """The detail object REFERENCE names, when it is under PREFIX and its sha256 matches; a
    ValueError saying why not."""
    if not isinstance(reference, dict) or not str(reference.get("key", "")).startswith(prefix):
        raise ValueError(f"its detail is not under {prefix}")
    body = store.get(str(reference["key"]))
    if sha256(body) != reference.get("sha256"):
        raise ValueError(f"its detail {reference['key']} does not match the signed sha256")
    return json.loads(body)


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
    return f"{EVENTS_PREFIX}{utc_stamp(moment)}-{kind}-{safe_subject(subject)}.json"


def parse_event_key(key: str) -> tuple[str, str, str] | None:
    """(stamp, kind, subject) of `events/<stamp>-<kind>-<subject>.json`; None for others."""
    name = key.removeprefix(EVENTS_PREFIX)
    if name == key or "/" in name or not name.endswith(".json"):
        return None
    stamp, _, rest = name.removesuffix(".json").partition("-")
    for kind in sorted(KINDS, key=len, reverse=True):
        if rest.startswith(f"{kind}-") and stamp:
            return stamp, kind, rest.removeprefix(f"{kind}-")
    return None


def safe_subject(subject: str) -> str:
    """SUBJECT as it appears in an event key."""
    return _SAFE.sub("_", subject)


def stamp_of(key: str) -> str:
    """The sortable UTC stamp at the start of an event key's file name."""
    return key.removeprefix(EVENTS_PREFIX).split("-", 1)[0]
