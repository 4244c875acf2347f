"""audit: a clean ledger is clean; every object no reader would believe is named with its key."""

from __future__ import annotations

from dataclasses import replace

from promote.domain import audit, events
from promote.domain.ledger import Event
from promote.domain.ports import ObjectVersion
from promote.domain.services import Services
from tests.support.fakes import FakeClock, MemoryLedger, make_services
from tests.support.scenes import promotion_images, promotion_secret, write_record

AMI = "ami-0aaaaaaaaaaaaaaa1"


def _pins(services: Services, count: int) -> list[str]:
    return [
        events.record(services, Event("pin", "management", AMI, ("management",), reason=str(n)))
        for n in range(count)
    ]


def test_a_signed_ledger_is_clean() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    write_record(ledger, clock, AMI, "management-dev", "SUCCESS")
    write_record(ledger, clock, AMI, "management-dev", "FAILED")
    services, _ = make_services(promotion_secret(), ledger=ledger, clock=clock)
    _pins(services, 3)

    report = audit.audit(services)

    assert report.clean, report.findings
    assert (report.records, report.events) == (2, 3)


def test_a_removed_event_is_a_gap_in_its_chain() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    services, _ = make_services(promotion_secret(), ledger=ledger, clock=clock)
    first, middle, last = _pins(services, 3)
    del ledger.objects[middle]

    report = audit.audit(services)

    assert [(f.key, f.problem) for f in report.findings] == [(last, "chain")]
    assert f"names previous event {middle}, which is missing" in report.findings[0].detail
    assert first not in {f.key for f in report.findings}


def test_forged_and_legacy_objects_are_named() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    forged = f"evidence/{AMI}/management-dev/20991231T000000.000000Z-SUCCESS.json"
    legacy = f"evidence/{AMI}/management-dev/20261001T000000.000000Z-FAILED.json"
    ledger.put_new(forged, b"{}")
    ledger.put_new(legacy, b'{"schema": "promote/evidence/v1", "result": "FAILED"}')
    services, _ = make_services(promotion_secret(), ledger=ledger, clock=clock)

    found = {f.key: f.problem for f in audit.audit(services).findings}

    assert found == {forged: "unverified", legacy: "unsigned"}


class Versioned(MemoryLedger):
    """A ledger whose listing also shows an overwritten key and a hidden one."""

    def versions(self, prefix: str) -> list[ObjectVersion]:
        extra = [
            ObjectVersion("events/20261123T000000.000000Z-pin-x.json", "v0", False),
            ObjectVersion("events/20261123T000000.000000Z-pin-x.json", "v1", True, True),
        ]
        return super().versions(prefix) + (extra if prefix == "events/" else [])


def test_overwritten_and_hidden_keys_are_found_from_the_versions() -> None:
    ledger, clock = Versioned(), FakeClock()
    services, _ = make_services(promotion_secret(), ledger=ledger, clock=clock)
    key = write_record(ledger, clock, AMI, "management-dev", "SUCCESS")

    found = audit.audit(services).findings

    assert [(f.key, f.problem) for f in found] == [
        ("events/20261123T000000.000000Z-pin-x.json", "hidden")
    ]
    assert audit.audit(services, ami="ami-0bbbbbbbbbbbbbbb2").clean
    assert key


def test_a_pin_a_raw_secret_write_dropped_is_a_finding() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    services, _ = make_services(promotion_secret(pinned=False), ledger=ledger, clock=clock)
    *_, last = _pins(services, 2)

    found = [(f.key, f.problem) for f in audit.audit(services).findings]

    assert found == [(last, "pin-dropped")]


def test_an_unpin_after_the_pin_is_not_a_finding() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    services, _ = make_services(promotion_secret(pinned=False), ledger=ledger, clock=clock)
    _pins(services, 1)
    events.record(services, Event("unpin", "management", AMI, ("management",), reason="go"))

    assert audit.audit(services).clean


def test_a_revoked_image_whose_tag_was_removed_is_a_finding() -> None:
    from promote.domain import revoke

    ledger, clock = MemoryLedger(), FakeClock()
    images = promotion_images()
    services, _ = make_services(promotion_secret(), images, ledger, clock)
    revoked = revoke.revoke(services, "ami-0000000000000000d", "CVE-1")
    tags = images.images["ami-0000000000000000d"].tags
    stripped = {k: v for k, v in tags.items() if not k.startswith("promote:revoked")}
    images.images["ami-0000000000000000d"] = replace(
        images.images["ami-0000000000000000d"], tags=stripped
    )
    fresh, _ = make_services(promotion_secret(), images, ledger, clock)

    found = [(f.key, f.problem) for f in audit.audit(fresh).findings]

    assert found == [(revoked.event_key, "revoked-untagged")]
