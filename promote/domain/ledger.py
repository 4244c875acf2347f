"""The evidence ledger: one immutable S3 object per check and per change, never overwritten.

Layout in the evidence bucket:

- `evidence/<ami>/<env>/<utc-stamp>-<SUCCESS|FAILED>.json`: one per `promote validate`, a DSSE
  envelope around a signed in-toto Statement (`domain/evidence.py`); its bulky detail (every
  instance seen, every reason) in `evidence/<ami>/<env>/detail/<sha256>.json`, named by the
  sha256 the Statement signs.
- `events/<utc-stamp>-<kind>-<subject>+<change>.json`: one per change (subject: the AMI, or the
  env for pins), a signed Statement holding the kind, the AMI, the envs, what was before and
  after, the reason, who did it, the tool version, the change id and the sha256 of the
  subject's previous event (`domain/events.py`); bulky parts in `events/detail/<sha256>.json`.
  Older ledgers hold `events/<utc-stamp>-<kind>-<subject>.json` (no change id): still read.
- `events/by-change/<kind>-<change>.json`: the change index, one per recorded change, naming the
  key of its event.
- `results/concourse.test`: `<AMI_ID> SUCCESS` or `<AMI_ID> FAILED`, the compatibility file
  existing pipelines read. It is the only object that is overwritten: it mirrors the latest
  check, and promote never believes it.

Records and events are written by one create-only writer (`If-None-Match: *`): a key that
already exists (two writes in the same microsecond) is never replaced; the object is written
under a later timestamp instead.

Exactly one event per change. The change id is derived from the change itself, so a re-run
after a crash computes the same one: the secret version id the compare-and-swap wrote (set-ids,
pin, unpin; it is the ClientRequestToken promote derives from the version read and the new
value), the tested copy's image id (publish), the tag (release), the revoked image (revoke).
Because the event key carries a timestamp, a re-run would make a different key, so the dedupe
is the change index, not the key: the writer first creates `events/by-change/<kind>-<change>.json`
(If-None-Match) naming the event key it is about to write, then creates that key. A writer that
finds the index taken writes nothing new: it reads the key the index names and, if that event
is not there (the first writer was killed in between, or is still writing), creates it at
exactly that key (If-None-Match again). Every writer of one change thus aims at one key, and
S3's create-only write lets one of them win: one event per change however many re-runs race,
and none lost once any of them finishes. Kinds with no change id (prune, rollout) keep a
timestamped key alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
CHANGE_INDEX_PREFIX = f"{EVENTS_PREFIX}by-change/"
STAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"  # what clock.utc_stamp writes
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
    """One change to what an environment may run; CHANGE (when the kind has one) is the id
    derived from the change itself that makes its event exactly-once."""

    kind: str
    subject: str
    ami: str | None = None
    envs: tuple[str, ...] = ()
    before: Any = None
    after: Any = None
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    change: str | None = None

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
            **({"change": self.change} if self.change is not None else {}),
            **self.extra,
        }


@dataclass(frozen=True)
class EventRef:
    """An event's key, decoded: `events/<stamp>-<kind>-<subject>[+<change>].json`."""

    key: str
    stamp: str
    kind: str
    subject: str
    change: str | None  # None: an event key of the older form, without a change id

    @classmethod
    def parse(cls, key: str) -> EventRef | None:
        """Decode an event key of either form; None for anything else (details, the index)."""
        name = key.removeprefix(EVENTS_PREFIX)
        if name == key or "/" in name or not name.endswith(".json"):
            return None
        stamp, _, rest = name.removesuffix(".json").partition("-")
        for kind in sorted(KINDS, key=len, reverse=True):
            if rest.startswith(f"{kind}-") and stamp:
                # Neither a safe subject nor a safe change holds '+': the split is unambiguous.
                subject, plus, change = rest.removeprefix(f"{kind}-").partition("+")
                if not subject or (plus and not change):
                    return None
                return cls(key, stamp, kind, subject, change if plus else None)
        return None


def event_key(kind: str, subject: str, moment: datetime, change: str | None = None) -> str:
    """Where one event lives (with CHANGE: the change it records, after a '+')."""
    tail = f"+{safe_subject(change)}" if change is not None else ""
    return f"{EVENTS_PREFIX}{utc_stamp(moment)}-{kind}-{safe_subject(subject)}{tail}.json"


def parse_event_key(key: str) -> tuple[str, str, str] | None:
    """(stamp, kind, subject) of an event key, either form; None for others."""
    ref = EventRef.parse(key)
    return (ref.stamp, ref.kind, ref.subject) if ref is not None else None


def change_index_key(kind: str, change: str) -> str:
    """The change index entry of one change: `events/by-change/<kind>-<change>.json`."""
    return f"{CHANGE_INDEX_PREFIX}{kind}-{safe_subject(change)}.json"


def moment_of(stamp: str) -> datetime:
    """The UTC time an event key's STAMP names (ValueError when it names none)."""
    return datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=UTC)


def safe_subject(subject: str) -> str:
    """SUBJECT (or a change id) as it appears in an event key."""
    return _SAFE.sub("_", subject)


def stamp_of(key: str) -> str:
    """The sortable UTC stamp at the start of an event key's file name."""
    return key.removeprefix(EVENTS_PREFIX).split("-", 1)[0]
