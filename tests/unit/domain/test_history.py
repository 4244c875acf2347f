"""history mixes evidence and events, newest first, filters by AMI and env, and shows only what
verifies."""

from __future__ import annotations

from datetime import UTC, datetime

from promote.domain import events, history
from promote.domain.ledger import Event
from tests.support.fakes import FakeClock, MemoryLedger, make_services
from tests.support.scenes import write_record


def test_history_mixes_evidence_and_events_newest_first_and_filters() -> None:
    ledger, clock = MemoryLedger(), FakeClock(datetime(2026, 11, 23, 11, tzinfo=UTC))
    ami = "ami-0000000000000000a"
    write_record(ledger, clock, ami, "management-dev", "SUCCESS")
    clock.sleep(30 * 60 - 60)
    write_record(ledger, clock, ami, "management", "FAILED")
    clock.sleep(30 * 60)
    services, _ = make_services(ledger=ledger, clock=clock)
    events.record(
        services, Event("set-ids", ami, ami, ("management-dev",), {}, {"management-dev": ami})
    )
    clock.sleep(60)
    events.record(services, Event("pin", "management", ami, ("management",)))

    everything = history.history(services)
    dev = history.history(services, env="management-dev")
    other = history.history(services, ami="ami-0000000000000000b")

    assert [e.kind for e in everything] == ["pin", "set-ids", "evidence", "evidence"]
    assert [e.stamp for e in everything] == sorted((e.stamp for e in everything), reverse=True)
    assert [e.kind for e in dev] == ["set-ids", "evidence"]
    assert other == []
    assert everything[2].summary == f"validate FAILED for {ami} in management"


def test_history_skips_what_does_not_verify_and_says_so() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    ami = "ami-0000000000000000a"
    good = write_record(ledger, clock, ami, "management-dev", "SUCCESS")
    forged = f"evidence/{ami}/management-dev/20991231T000000.000000Z-SUCCESS.json"
    ledger.put_new(forged, b"{}")
    ledger.put_new("events/20991231T000000.000000Z-pin-management.json", b'{"kind": "pin"}')
    services, lines = make_services(ledger=ledger, clock=clock)

    shown = history.history(services)

    assert [e.key for e in shown] == [good]
    assert f"warning: skipped {forged}: not signed by alias/promote-evidence" in lines
    assert any(
        "events/20991231T000000.000000Z-pin-management.json: not signed by alias/promote-events"
        in line
        for line in lines
    )
