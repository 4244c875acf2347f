"""history mixes evidence and events, newest first, and filters by AMI and env."""

from __future__ import annotations

from promote.domain import history
from promote.domain import ledger as ledger_module
from promote.domain.ledger import Event
from tests.support.fakes import FakeClock, MemoryLedger


def test_history_mixes_evidence_and_events_newest_first_and_filters() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    ami = "ami-0000000000000000a"
    ledger.put_new(f"evidence/{ami}/management-dev/20261123T110000.000000Z-SUCCESS.json", b"{}")
    ledger.put_new(f"evidence/{ami}/management/20261123T113000.000000Z-FAILED.json", b"{}")
    ledger_module.record_event(
        ledger,
        Event("set-ids", ami, ami, ("management-dev",), {}, {"management-dev": ami}),
        clock,
        {"user": "a"},
        "1",
    )
    clock.sleep(60)
    ledger_module.record_event(
        ledger, Event("pin", "management", ami, ("management",)), clock, {"user": "b"}, "1"
    )

    everything = history.history(ledger)
    dev = history.history(ledger, env="management-dev")
    other = history.history(ledger, ami="ami-0000000000000000b")

    assert [e.kind for e in everything] == ["pin", "set-ids", "evidence", "evidence"]
    assert [e.stamp for e in everything] == sorted((e.stamp for e in everything), reverse=True)
    assert [e.kind for e in dev] == ["set-ids", "evidence"]
    assert other == []
    assert everything[2].summary == f"validate FAILED for {ami} in management"
