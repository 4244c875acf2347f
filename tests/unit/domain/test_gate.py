"""The gate opens only on SUCCESS evidence for this AMI (or its source) and never when revoked."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from promote.domain.gate import GateResult, evaluate, wait_open
from promote.domain.images import Image
from promote.errors import PromoteError
from tests.support.fakes import FakeClock, FakeImages, MemoryLedger, make_services
from tests.support.scenes import published, write_record

UNTESTED, TESTED = "ami-0aaaaaaaaaaaaaaa1", "ami-0bbbbbbbbbbbbbbb2"


def image(ami: str, **tags: str) -> Image:
    return Image(ami, f"name-{ami}", "available", "2026-11-01T00:00:00Z", tags)


def gate(
    ami: str, env: str, images: list[Image], ledger: MemoryLedger, latest: bool = False
) -> GateResult:
    """The gate for AMI in ENV over IMAGES and LEDGER."""
    images_port = FakeImages(images={i.image_id: i for i in images})
    services, _ = make_services(images=images_port, ledger=ledger)
    return evaluate(services, ami, env, latest)


def test_the_gate_opens_on_success_and_names_the_record() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    key = write_record(ledger, clock, UNTESTED, "management-dev", "SUCCESS")

    result = gate(UNTESTED, "management-dev", [image(UNTESTED)], ledger)

    assert result.open
    assert result.evidence_key == key
    assert result.evidence is not None and result.evidence["actor"] == {"user": "alice"}


def test_the_gate_stays_closed_with_only_failed_records() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    write_record(ledger, clock, UNTESTED, "management-dev", "FAILED")

    result = gate(UNTESTED, "management-dev", [image(UNTESTED)], ledger)

    assert not result.open
    assert result.reason.startswith(f"only FAILED evidence for {UNTESTED} in management-dev")


def test_the_gate_stays_closed_without_records_and_for_another_env() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    write_record(ledger, clock, UNTESTED, "management-dev", "SUCCESS")

    result = gate(UNTESTED, "management", [image(UNTESTED)], ledger)

    assert not result.open
    assert result.reason == f"no evidence for {UNTESTED} in management"


def test_the_gate_stays_closed_for_a_revoked_image() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    write_record(ledger, clock, UNTESTED, "management-dev", "SUCCESS")
    revoked = image(UNTESTED, **{"promote:revoked": "bad kernel"})

    result = gate(UNTESTED, "management-dev", [revoked], ledger)

    assert not result.open
    assert result.reason == f"{UNTESTED} is revoked: bad kernel"


def test_the_gate_of_an_unknown_or_malformed_ami_is_refused() -> None:
    with pytest.raises(PromoteError) as unknown:
        gate(UNTESTED, "management-dev", [], MemoryLedger())
    with pytest.raises(PromoteError) as malformed:
        gate("ami-nothex", "management-dev", [], MemoryLedger())

    assert unknown.value.exit_code == 4
    assert unknown.value.message == f"{UNTESTED} not found in eu-west-2"
    assert malformed.value.exit_code == 2


def test_the_gate_waits_for_evidence_that_arrives_later() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    images = [image(UNTESTED)]
    calls = {"n": 0}

    def check() -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            write_record(ledger, clock, UNTESTED, "management-dev", "SUCCESS")
        return gate(UNTESTED, "management-dev", images, ledger)

    result = wait_open(check, clock, 600, 30, lambda _: None)  # type: ignore[arg-type]

    assert result.open
    assert clock.slept[:2] == [30, 30]


def test_the_gate_stops_waiting_at_once_for_a_revoked_image() -> None:
    clock = FakeClock()
    revoked = [image(UNTESTED, **{"promote:revoked": "bad"})]

    result = wait_open(
        lambda: gate(UNTESTED, "management-dev", revoked, MemoryLedger()),
        clock,
        600,
        30,
        lambda _: None,
    )

    assert not result.open and clock.slept == []


def test_a_tested_copy_inherits_its_source_images_success_through_a_signed_publish_record() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    key = write_record(ledger, clock, UNTESTED, "management-dev", "SUCCESS")
    published(ledger, UNTESTED, TESTED)
    copy = image(TESTED, **{"promote:source-image": UNTESTED, "promote:stage": "tested"})

    result = gate(TESTED, "management-dev", [copy], ledger)

    assert result.open
    assert result.evidence_key == key
    assert "via its source image" in result.reason


def test_a_copy_aws_says_was_copied_from_the_source_inherits_without_a_publish_record() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    write_record(ledger, clock, UNTESTED, "management-dev", "SUCCESS")
    copy = replace(image(TESTED, **{"promote:stage": "tested"}), copied_from=UNTESTED)

    assert gate(TESTED, "management-dev", [copy], ledger).open


def test_a_tag_alone_never_lends_a_copy_its_sources_evidence() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    write_record(ledger, clock, UNTESTED, "management-dev", "SUCCESS")
    laundered = image(TESTED, **{"promote:source-image": UNTESTED, "promote:stage": "tested"})

    result = gate(TESTED, "management-dev", [laundered], ledger)

    assert not result.open
    assert "no signed publish record links them" in result.reason


def test_a_publish_record_for_another_copy_links_nothing() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    write_record(ledger, clock, UNTESTED, "management-dev", "SUCCESS")
    published(ledger, UNTESTED, "ami-0ccccccccccccccc3")
    laundered = image(TESTED, **{"promote:source-image": UNTESTED, "promote:stage": "tested"})

    assert not gate(TESTED, "management-dev", [laundered], ledger).open


def test_a_forged_record_is_skipped_with_a_reason_naming_it() -> None:
    ledger = MemoryLedger()
    key = f"evidence/{UNTESTED}/management-dev/20991231T000000.000000Z-SUCCESS.json"
    ledger.put_new(key, b"{}")
    images_port = FakeImages(images={UNTESTED: image(UNTESTED)})
    services, lines = make_services(images=images_port, ledger=ledger)

    result = evaluate(services, UNTESTED, "management-dev")

    assert not result.open
    assert f"skipped {key}: not signed by alias/promote-evidence" in result.reason
    assert any(line.startswith(f"warning: skipped {key}: not signed by") for line in lines)


def test_a_newer_failure_is_reported_beside_the_success() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    write_record(ledger, clock, UNTESTED, "management-dev", "SUCCESS")
    clock.sleep(timedelta(hours=1).total_seconds())
    failed = write_record(ledger, clock, UNTESTED, "management-dev", "FAILED")

    result = gate(UNTESTED, "management-dev", [image(UNTESTED)], ledger)
    newest = gate(UNTESTED, "management-dev", [image(UNTESTED)], ledger, latest=True)

    assert result.open
    assert result.newer_failures == [failed]
    assert not newest.open  # --latest: the verdict is the newest verified record
    assert newest.reason.startswith(f"the newest verified record of {UNTESTED} in management-dev")
