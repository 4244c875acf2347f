"""The ledger never overwrites a record or an event; keys decode back to what they name."""

from __future__ import annotations

import pytest

from promote.domain import events
from promote.domain.evidence import build_record, write
from promote.domain.ledger import COMPAT_KEY, Event, EvidenceRef, parse_event_key, records_for
from promote.errors import PromoteError, remote_error
from tests.support.fakes import FakeClock, MemoryLedger, make_services
from tests.support.keys import EVENT_KEY, key
from tests.support.scenes import validation, write_record

UNTESTED = "ami-0aaaaaaaaaaaaaaa1"


def test_a_record_in_the_same_microsecond_gets_a_new_key_and_overwrites_nothing() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    services, _ = make_services(ledger=ledger, clock=clock)
    v = validation(clock, UNTESTED, "management-dev", "SUCCESS")
    first = write(services, v, build_record(v, {"n": 1}, "1", "eu-west-2"))
    first_body = ledger.objects[first]

    second = write(services, v, build_record(v, {"n": 2}, "1", "eu-west-2"))

    assert second != first
    assert first in ledger.refused
    assert ledger.objects[first] == first_body
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
    assert EvidenceRef.parse(f"evidence/{UNTESTED}/management-dev/detail/ab.json") is None
    assert EvidenceRef.parse("results/concourse.test") is None


def test_event_keys_decode_to_stamp_kind_and_subject() -> None:
    assert parse_event_key("events/20261123T120000.000000Z-set-ids-ami-1.json") == (
        "20261123T120000.000000Z",
        "set-ids",
        "ami-1",
    )
    assert parse_event_key("events/detail/abc.json") is None
    assert parse_event_key("events/20261123T120000.000000Z-nonsense-x.json") is None


def test_an_event_key_never_replaces_another() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    services, _ = make_services(ledger=ledger, clock=clock)
    event = Event(kind="pin", subject="management", envs=("management",), reason="r")

    first = events.record(services, event)
    second = events.record(services, event)

    assert first == "events/20261123T120000.000000Z-pin-management.json"
    assert second == "events/20261123T120000.000001Z-pin-management.json"
    loaded = events.load(services)
    assert [e.key for e in loaded] == [second, first]
    assert loaded[1].document["kind"] == "pin"


def test_a_bulky_event_signs_a_small_statement_and_still_loads_whole() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    services, _ = make_services(ledger=ledger, clock=clock)
    kept = {f"ami-{n:017x}": ["one of the 3 newest tested images (--keep 3)"] for n in range(300)}
    signing = key(EVENT_KEY)
    before = len(signing.signed)

    events.record(services, Event("prune", "images", extra={"deleted": {}, "kept": kept}))

    assert all(len(message) <= 4096 for message in signing.signed[before:])
    assert any(k.startswith("events/detail/") for k in ledger.objects)
    assert events.load(services)[0].document["kept"] == kept


def test_a_refused_signature_writes_nothing() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    services, _ = make_services(ledger=ledger, clock=clock, evidence_signer=Refusing())
    v = validation(clock, UNTESTED, "management-dev", "SUCCESS")

    with pytest.raises(PromoteError, match="denied kms:Sign"):
        write(services, v, build_record(v, {}, "1", "eu-west-2"))

    assert ledger.objects == {}


class Refusing:
    """A signer whose key the caller may not use."""

    key_name = "alias/promote-evidence"

    def ready(self) -> None:
        """Public key reads are allowed."""

    def sign(self, statement: object) -> bytes:
        """kms:Sign is not."""
        raise remote_error("AWS denied kms:Sign while signing with alias/promote-evidence")
