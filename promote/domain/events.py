"""Signed, chained events: every change is a signed in-toto Statement naming the one before it.

`record` is the only writer of events (through `Services.record`): the event's kind, subject
and change id give its key (`events/<stamp>-<kind>-<subject>+<change>.json`; exactly once per
change through the change index, see `domain/ledger.py`), the subject (the AMI, or the env
for pins and rollouts) is the Statement's subject, and the predicate names the key and sha256
of the subject's previous event, so a removed event leaves a visible gap (`promote audit`).
Parts too bulky for KMS's 4096-byte RAW limit go to a detail object named by its sha256.

`read` believes an event only when it is signed by the event key, its kind, subject and time
agree with its key, and its detail (if any) matches; a legacy unsigned event counts only with
`allow_unsigned_evidence = true`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from promote.clock import utc_stamp
from promote.domain import ledger
from promote.domain.evidence import PREDICATE_BASE, STATEMENT_BUDGET, STATEMENT_TYPE, Unbelievable
from promote.domain.ledger import EVENTS_PREFIX, Event
from promote.errors import conflict

if TYPE_CHECKING:
    from promote.domain.ports import LedgerStore
    from promote.domain.services import Services

EVENT_PREDICATE = f"{PREDICATE_BASE}/event/v1"
DETAIL_PREFIX = f"{EVENTS_PREFIX}detail/"


def chain_keys(keys: list[str], subject: str) -> list[str]:
    """The event keys of SUBJECT's chain, oldest first."""
    safe = ledger.safe_subject(subject)
    mine = [k for k in keys if (parsed := ledger.parse_event_key(k)) and parsed[2] == safe]
    return sorted(mine, key=lambda k: (ledger.stamp_of(k), k))


def previous_of(
    store: LedgerStore, subject: str, before: str | None = None
) -> dict[str, str] | None:
    """{key, sha256} of SUBJECT's newest event (with BEFORE: the newest one ordered before that
    key), or None when it has none."""
    chain = chain_keys(store.keys(EVENTS_PREFIX), subject)
    if before is not None:
        chain = [k for k in chain if (ledger.stamp_of(k), k) < (ledger.stamp_of(before), before)]
    if not chain:
        return None
    return {"key": chain[-1], "sha256": ledger.sha256(store.get(chain[-1]))}


def statement(
    event: Event,
    at: datetime,
    actor: dict[str, Any],
    tool_version: str,
    previous: dict[str, str] | None,
) -> tuple[dict[str, Any], ledger.Detail | None]:
    """The Statement for EVENT at AT, and the detail object its bulky parts moved to when it
    would be too big to sign."""
    predicate = event.document(at, actor, tool_version)
    del predicate["schema"]
    predicate.update(subject=event.subject, previous=previous)
    found = {
        "_type": STATEMENT_TYPE,
        "subject": [ledger.subject(event.subject)],
        "predicateType": EVENT_PREDICATE,
        "predicate": predicate,
    }
    if len(ledger.compact(found)) <= STATEMENT_BUDGET:
        return found, None
    bulky: list[str] = ["before", "after", *event.extra]
    detail = ledger.Detail.of(EVENTS_PREFIX, {k: predicate.pop(k) for k in bulky if k in predicate})
    predicate["detail"] = detail.reference
    return found, detail


@dataclass(frozen=True)
class Recorded:
    """Where a change's event is, and whether this run wrote it."""

    key: str
    written: bool  # False: the change's event was there already, nothing was written
    recovered: bool = False  # written by a run that found the change done and its event missing


def _signed_at(services: Services, event: Event, previous: dict[str, str] | None) -> Any:
    store = services.ledger
    actor, tool_version = services.actor(), services.tool_version

    def signed(at: datetime) -> bytes:
        found, detail = statement(event, at, actor, tool_version, previous)
        envelope = services.event_signer.sign(found)
        if detail is not None:
            detail.store(store)  # only once signing worked
        return envelope

    return signed


def _claimed(services: Services, index: str, event: Event) -> str | None:
    """The event key the change index entry INDEX names, None when there is no entry; a
    conflict (exit 6) when it names an event of another change."""
    found = services.ledger.read(index)
    if found is None:
        return None
    try:
        key = str(json.loads(found[0])["key"])
    except (ValueError, KeyError, TypeError):
        key = ""
    ref = ledger.EventRef.parse(key)
    change = ledger.safe_subject(event.change or "")
    subject = ledger.safe_subject(event.subject)
    if ref is None or (ref.kind, ref.subject, ref.change) != (event.kind, subject, change):
        raise conflict(
            f"the change index {index} does not name an event of this {event.kind} ({key!r})",
            "run `promote audit`: the index was written by something other than promote",
        )
    return key


def record(services: Services, event: Event, legacy: Callable[[], str | None] | None = None) -> str:
    """Sign EVENT, chained to its subject's previous event, and store it; its key."""
    return record_change(services, event, legacy).key


def record_change(
    services: Services, event: Event, legacy: Callable[[], str | None] | None = None
) -> Recorded:
    """Sign EVENT, chained to its subject's previous event, and store it: exactly once per
    change when it has a change id (see `domain/ledger.py`).

    An event marked `recovered` is a re-run's, for a change found done: it first looks for the
    change's event (the index, then LEGACY: a finder of an event of the older form, without an
    index) and writes nothing when there is one.
    """
    store = services.ledger
    if event.change is None:
        key = ledger.put_new_object(
            store,
            lambda at: ledger.event_key(event.kind, event.subject, at),
            _signed_at(services, event, previous_of(store, event.subject)),
            services.clock.now(),
            services.clock,
            f"the {event.kind} event",
        )
        return Recorded(key, written=True)
    index = ledger.change_index_key(event.kind, event.change)
    recovering = bool(event.extra.get("recovered"))
    claimed = _claimed(services, index, event) if recovering else None
    if claimed is None:
        if recovering and legacy is not None and (old := legacy()) is not None:
            return Recorded(old, written=False)
        previous = previous_of(store, event.subject)
        moment = services.clock.now()
        key = ledger.event_key(event.kind, event.subject, moment, event.change)
        entry = {"key": key, "kind": event.kind, "subject": event.subject, "change": event.change}
        if store.put_new(index, ledger.compact(entry)):
            signed = _signed_at(services, event, previous)(moment)
            return Recorded(key, store.put_new(key, signed), recovered=recovering)
        claimed = _claimed(services, index, event)  # another run recorded it meanwhile
        if claimed is None:
            raise conflict(f"the change index {index} vanished", "re-run the command")
    if store.read(claimed) is not None:
        return Recorded(claimed, written=False)
    # Claimed but not written: its writer was killed in between (or is still writing). Every
    # writer of this change aims at this one key, and the create-only write lets one win.
    recovered = replace(event, extra={**event.extra, "recovered": True})
    previous = previous_of(store, event.subject, before=claimed)
    signed = _signed_at(services, recovered, previous)(ledger.moment_of(ledger.stamp_of(claimed)))
    return Recorded(claimed, store.put_new(claimed, signed), recovered=True)


def find(
    services: Services, kind: str, subject: str, matches: Callable[[dict[str, Any]], bool]
) -> str | None:
    """The key of a believed KIND event of SUBJECT whose document MATCHES, newest first."""
    chain = chain_keys(services.ledger.keys(EVENTS_PREFIX), subject)
    for key in reversed(chain):
        parsed = ledger.parse_event_key(key)
        if parsed is None or parsed[1] != kind:
            continue
        loaded = read(services, key)
        if loaded is not None and loaded.document.get("kind") == kind and matches(loaded.document):
            return key
    return None


@dataclass(frozen=True)
class Loaded:
    """A believed event: its key, its document (as events were always shown) and its link."""

    key: str
    document: dict[str, Any]
    previous: dict[str, str] | None
    signed: bool = True


def open_event(services: Services, key: str, body: bytes) -> Loaded:
    """The event stored under KEY with BODY when it is believed; Unbelievable otherwise."""
    ref = ledger.EventRef.parse(key)
    if ref is None:
        raise Unbelievable("not an event key")
    stamp, kind, subject, change = ref.stamp, ref.kind, ref.subject, ref.change
    opened = services.event_verifier.open(body)
    if opened.statement is None:
        plain = opened.plain
        if plain is None or plain.get("schema") != ledger.EVENT_SCHEMA:
            raise Unbelievable(
                f"not signed by {services.event_verifier.key_name} ({opened.problem})"
            )
        if not services.config.allow_unsigned_evidence:
            raise Unbelievable(
                "an unsigned legacy event (counted only with allow_unsigned_evidence = true)"
            )
        if plain.get("kind") != kind:
            raise Unbelievable(f"its key says {kind} but it says {plain.get('kind')}")
        return Loaded(key, plain, None, signed=False)
    found = opened.statement
    if found.get("predicateType") != EVENT_PREDICATE:
        raise Unbelievable(f"not an event ({found.get('predicateType')})")
    predicate = dict(found["predicate"])
    if "detail" in predicate:
        try:
            predicate.update(ledger.get_detail(services.ledger, predicate["detail"], DETAIL_PREFIX))
        except ValueError as exc:
            raise Unbelievable(str(exc)) from None
    said_subject = ledger.safe_subject(str(predicate.get("subject")))
    try:
        said_stamp = utc_stamp(datetime.fromisoformat(str(predicate.get("at"))))
    except ValueError:
        said_stamp = "?"
    said_change = predicate.get("change")
    for what, theirs, ours in (
        ("kind", predicate.get("kind"), kind),
        ("subject", said_subject, subject),
        ("time", said_stamp, stamp),
        ("change", ledger.safe_subject(str(said_change)) if said_change else None, change),
    ):
        if theirs != ours:
            raise Unbelievable(f"its key says {what} {ours} but its statement says {theirs}")
    previous = predicate.pop("previous", None)
    predicate.pop("detail", None)
    return Loaded(key, {"schema": ledger.EVENT_SCHEMA, **predicate}, previous)


def read(services: Services, key: str) -> Loaded | None:
    """The event under KEY when believed; None (with a warning naming it) when not."""
    try:
        loaded = open_event(services, key, services.ledger.get(key))
    except (Unbelievable, json.JSONDecodeError) as exc:
        services.skipped(key, str(exc))
        return None
    if not loaded.signed:
        services.skipped(
            key, "unsigned legacy event counted (allow_unsigned_evidence = true)", counted=True
        )
    return loaded


def load(services: Services, keys: list[str] | None = None) -> list[Loaded]:
    """Every believed event (of KEYS, default all), newest first; the rest are warned about."""
    chosen = keys if keys is not None else services.ledger.keys(EVENTS_PREFIX)
    wanted = [k for k in chosen if ledger.parse_event_key(k) is not None]
    loaded = [e for k in wanted if (e := read(services, k)) is not None]
    loaded.sort(key=lambda e: (ledger.stamp_of(e.key), e.key), reverse=True)
    return loaded


def publish_link(services: Services, source: str, copy: str) -> Loaded | None:
    """The signed publish event that made COPY from SOURCE, if there is one."""
    chain = chain_keys(services.ledger.keys(EVENTS_PREFIX), source)
    for key in reversed(chain):
        parsed = ledger.parse_event_key(key)
        if parsed is None or parsed[1] != "publish":
            continue
        loaded = read(services, key)
        if (
            loaded is not None
            and loaded.signed
            and loaded.document.get("kind") == "publish"
            and loaded.document.get("ami") == source
            and loaded.document.get("tested_image") == copy
        ):
            return loaded
    return None
