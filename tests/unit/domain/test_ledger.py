"""The ledger never overwrites a record or an event; keys decode back to what they name."""

from __future__ import annotations

import json

from promote.domain.ledger import COMPAT_KEY, Event, EvidenceRef, record, record_event, records_for
from tests.support.fakes import FakeClock, MemoryLedger
from tests.support.scenes import validation, write_record

UNTESTED = "ami-0aaaaaaaaaaaaaaa1"


def test_a_record_in_the_same_microsecond_gets_a_new_key_and_overwrites_nothing() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    v = validation(clock, UNTESTED, "management-dev", "SUCCESS")
    first = record(ledger, v, {"n": 1}, clock)
    first_body = ledger.objects[first]

    second = record(ledger, v, {"n": 2}, clock)

    assert second != first
    assert ledger.refused == [first]
    assert ledger.objects[first] == first_body
    assert json.loads(ledger.objects[second]) == {"n": 2}
    assert [r.key for r in records_for(ledger, UNTESTED, "management-dev")] == [second, first]


def test_the_compatibility_file_names_the_ami_and_the_result() -> None:
    ledger, clock = MemoryLedger(), FakeClock()

    write_record(ledger, clock, UNTESTED, "management-dev", "FAILED")
    assert ledger.objects[COMPAT_KEY] == f"{UNTESTED} FAILED\n".encode()
    write_record(ledger, clock, UNTESTED, "management-dev", "SUCCESS")
    assert ledger.objects[COMPAT_KEY] == f"{UNTESTED} SUCCESS\n".encode()


def test_evidence_keys_decode_and_foreign_keys_are_ignored() -> None:
    ref = EvidenceRef.parse(
        f"evidence/{UNTESTED}/management-dev/20261123T120000.000000Z-SUCCESS.json"
    )
    assert ref is not None and ref.result == "SUCCESS" and ref.env == "management-dev"
    assert EvidenceRef.parse(f"evidence/{UNTESTED}/management-dev/notes.txt") is None
    assert EvidenceRef.parse("results/concourse.test") is None


def test_an_event_key_never_replaces_another() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    event = Event(kind="pin", subject="management", envs=("management",), reason="r")

    first = record_event(ledger, event, clock, {"user": "a"}, "1")
    second = record_event(ledger, event, clock, {"user": "a"}, "1")

    assert first == "events/20261123T120000.000000Z-pin-management.json"
    assert second == "events/20261123T120000.000001Z-pin-management.json"
    assert json.loads(ledger.get(first))["kind"] == "pin"
