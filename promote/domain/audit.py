"""`promote audit`: walk the whole ledger and report every object no reader should believe.

One ListObjectVersions per prefix shows every version and delete marker; then every current
record and event is read (a few at a time) and verified as the readers verify them. Findings,
each with the object's key:

- `overwritten`: a key with more than one version (the ledger only ever creates objects);
- `hidden`: a key whose newest version is a delete marker;
- `unsigned`: a legacy record or event written before evidence was signed;
- `unverified`: anything else a reader would skip (bad signature, another key, a statement
  that disagrees with its key, a PASSED record that proves nothing, a detail that changed);
- `chain`: an event that does not name the one before it in its subject's chain (a removed or
  hidden event, a rewritten one, or two written at once); a recovered event, written late at
  its claimed time, may be skipped over by the events written meanwhile;
- `event-missing`: a change index entry (`events/by-change/`) whose event was never written,
  or an ami-ids secret whose current version promote wrote with no event recording it (the
  writer was killed in between; a re-run of the command records it).

`--env`, `--ami` and `--since` narrow what is reported, not what is read: a chain is checked
whole.
"""

from __future__ import annotations

import json
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from promote.clock import utc_stamp
from promote.domain import ami_ids, drift, events, evidence, ledger
from promote.domain.ledger import EVENTS_PREFIX, EvidenceRef
from promote.errors import usage_error

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.ports import LedgerStore, ObjectVersion
    from promote.domain.services import Services

AWS_ACTIONS = {
    "audit": (
        "s3:ListBucketVersions",
        "s3:ListBucket",
        "s3:GetObject",
        "kms:GetPublicKey",
        # drift: revoked images whose tag is gone, pins a raw secret write dropped
        "ec2:DescribeImages",
        "secretsmanager:GetSecretValue",
        "sts:AssumeRole",
    )
}
READERS = 8


@dataclass(frozen=True)
class Finding:
    """One problem with one object of the ledger."""

    key: str
    problem: str
    detail: str


@dataclass
class AuditReport:
    """What audit read and what it found."""

    records: int
    events: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when nothing was found."""
        return not self.findings


class Prefetched:
    """A LedgerStore whose reads come from bodies fetched already (the rest pass through)."""

    def __init__(self, store: LedgerStore, bodies: dict[str, bytes]) -> None:
        self.store = store
        self.bodies = bodies

    def get(self, key: str) -> bytes:
        """The body, fetched already or now."""
        if key not in self.bodies:
            self.bodies[key] = self.store.get(key)
        return self.bodies[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def since_stamp(text: str | None) -> str | None:
    """--since as a ledger stamp (an ISO date or time, UTC when no zone is given)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise usage_error(
            f"--since '{text}' is not a date or time", "write it as 2026-11-01 or 2026-11-01T09:00Z"
        ) from None
    return utc_stamp(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _versions(found: list[ObjectVersion]) -> tuple[list[str], list[Finding]]:
    """The current keys, and the overwritten and hidden ones."""
    by_key: dict[str, list[ObjectVersion]] = defaultdict(list)
    for version in found:
        by_key[version.key].append(version)
    current, findings = [], []
    for key, versions in sorted(by_key.items()):
        kept = [v for v in versions if not v.delete_marker]
        if any(v.latest and v.delete_marker for v in versions):
            findings.append(
                Finding(key, "hidden", f"hidden by a delete marker ({len(kept)} version(s) kept)")
            )
        else:
            current.append(key)
        if len(kept) > 1:
            findings.append(Finding(key, "overwritten", f"{len(kept)} versions: overwritten"))
    return current, findings


def _problem(reason: str) -> str:
    return (
        "unsigned" if reason.startswith(("an unsigned legacy", "unsigned legacy")) else "unverified"
    )


def _recovered(event: events.Loaded | None) -> bool:
    return event is not None and bool(event.document.get("recovered"))


def _chains(services: Services, loaded: dict[str, events.Loaded], keys: list[str]) -> list[Finding]:
    """Each signed event must name the event before it in its subject's chain.

    A recovered event was written late, at the time its change index entry names: an event
    written meanwhile names the one before it, so one that names the event before a run of
    recovered events is in order too.
    """
    findings = []
    subjects = {parsed[2] for k in keys if (parsed := ledger.parse_event_key(k))}
    store = services.ledger
    for subject in sorted(subjects):
        chain = events.chain_keys(keys, subject)
        for index, key in enumerate(chain):
            event = loaded.get(key)
            if event is None or not event.signed:
                continue
            before = chain[index - 1] if index else None
            allowed: list[str | None] = [before]
            back = index - 1
            while back >= 0 and _recovered(loaded.get(chain[back])):
                back -= 1
                allowed.append(chain[back] if back >= 0 else None)
            named = event.previous
            if named is None:
                if None not in allowed:
                    findings.append(
                        Finding(key, "chain", f"names no previous event; {before} came before it")
                    )
                continue
            named_key = named.get("key")
            if named_key not in allowed:
                where = (
                    "is missing"
                    if named_key not in keys
                    else f"is not the one before it ({before})"
                )
                findings.append(
                    Finding(key, "chain", f"names previous event {named_key}, which {where}")
                )
            elif ledger.sha256(store.get(str(named_key))) != named.get("sha256"):
                findings.append(
                    Finding(
                        key, "chain", f"the previous event {named_key} changed since it was named"
                    )
                )
    return findings


def _unrecorded(bodies: dict[str, bytes], current: list[str]) -> list[Finding]:
    """Change index entries whose event is not there: a change whose writer was killed before
    its event (the command's re-run records it)."""
    present = set(current)
    findings = []
    for key in current:
        if not key.startswith(ledger.CHANGE_INDEX_PREFIX):
            continue
        try:
            named = str(json.loads(bodies[key])["key"])
        except (ValueError, KeyError, TypeError):
            findings.append(Finding(key, "unverified", "a change index entry naming no event"))
            continue
        if named not in present:
            findings.append(
                Finding(
                    key,
                    "event-missing",
                    f"records a change whose event {named} was never written (its writer was "
                    "killed); re-run the command that made the change: it records it",
                )
            )
    return findings


def _unrecorded_versions(
    services: Services,
    envs: list[Environment],
    event_keys: list[str],
    documents: dict[str, dict[str, Any]],
) -> list[Finding]:
    """The ami-ids secrets (of ENVS) whose current version promote wrote but no event records:
    its writer was killed between the secret write and the event."""
    changes = {ref.change for k in event_keys if (ref := ledger.EventRef.parse(k)) and ref.change}
    # Events of the older form (no change id in the key) name the version they wrote.
    changes.update(ledger.safe_subject(str(d.get("secret_version_id"))) for d in documents.values())
    findings = []
    for place in dict.fromkeys(services.config.secret_of(env) for env in envs):
        current = services.read_ids(check=False, where=place)
        previous = services.history_of(place).version(place.secret_id, "AWSPREVIOUS")
        if previous is None or not ami_ids.written_by_promote(previous, current):
            continue
        if ledger.safe_subject(current.version_id) not in changes:
            findings.append(
                Finding(
                    f"secret {place.secret_id}",
                    "event-missing",
                    f"its current version {current.version_id} was written by promote but no "
                    "event records it (its writer was killed before the event); re-run the "
                    "command that made the change: it records it",
                )
            )
    return findings


def _wanted(
    key: str, document: dict[str, Any] | None, env: str | None, ami: str | None, since: str | None
) -> bool:
    """Does a finding about KEY fall inside --env/--ami/--since?"""
    ref = EvidenceRef.parse(key)
    if ref is not None:
        return (
            (not env or ref.env == env)
            and (not ami or ref.ami == ami)
            and (not since or ref.stamp >= since)
        )
    if key.startswith("evidence/"):
        parts = key.split("/")
        return (not ami or parts[1] == ami) and (not env or (len(parts) > 2 and parts[2] == env))
    parsed = ledger.parse_event_key(key)
    if parsed is None:
        return not (env or ami or since)
    stamp, _, subject = parsed
    if since and stamp < since:
        return False
    doc = document or {}
    if ami and ami not in (doc.get("ami"), doc.get("tested_image"), subject):
        return False
    return not env or env in (doc.get("envs") or []) or subject == env


def audit(
    services: Services, env: str | None = None, ami: str | None = None, since: str | None = None
) -> AuditReport:
    """Every problem in the ledger (narrowed to ENV, AMI and SINCE), with its key."""
    if env:
        services.config.environment(env)
    cutoff = since_stamp(since)
    store = services.ledger
    current, findings = _versions([*store.versions("evidence/"), *store.versions(EVENTS_PREFIX)])
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        bodies = dict(zip(current, pool.map(store.get, current), strict=True))
    reading = replace(services, ledger=Prefetched(store, bodies))
    records = [ref for key in current if (ref := EvidenceRef.parse(key))]
    documents: dict[str, dict[str, Any]] = {}
    for ref in records:
        try:
            record = evidence.open_record(reading, ref, bodies[ref.key], full=True)
        except evidence.Unbelievable as exc:
            findings.append(Finding(ref.key, _problem(str(exc)), str(exc)))
            continue
        if not record.signed:
            findings.append(Finding(ref.key, "unsigned", "an unsigned legacy record"))
    event_keys = [k for k in current if ledger.parse_event_key(k)]
    loaded: dict[str, events.Loaded] = {}
    for key in event_keys:
        try:
            loaded[key] = events.open_event(reading, key, bodies[key])
            documents[key] = loaded[key].document
        except (evidence.Unbelievable, ValueError) as exc:
            findings.append(Finding(key, _problem(str(exc)), str(exc)))
    for key, event in loaded.items():
        if not event.signed:
            findings.append(Finding(key, "unsigned", "an unsigned legacy event"))
    findings.extend(_chains(reading, loaded, event_keys))
    findings.extend(_unrecorded(bodies, current))
    envs = [services.config.environment(env)] if env else list(services.config.envs.values())
    drifted = [*drift.untagged_revocations(reading), *drift.dropped_pins(reading, envs)]
    findings.extend(Finding(d.key, d.problem, d.detail) for d in drifted)
    findings.extend(_unrecorded_versions(reading, envs, event_keys, documents))
    findings = [f for f in findings if _wanted(f.key, documents.get(f.key), env, ami, cutoff)]
    findings.sort(key=lambda f: (f.key, f.problem))
    return AuditReport(len(records), len(event_keys), findings)
