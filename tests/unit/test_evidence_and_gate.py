"""The ledger never overwrites a record; the gate opens only on SUCCESS and never when revoked."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from promote.errors import PromoteError
from promote.evidence import COMPAT_KEY, EvidenceRef, build_record, record, records_for
from promote.fleet import Snapshot, Validation
from promote.gate import evaluate
from promote.images import Image
from tests.unit.fakes import FakeClock, MemoryImages, MemoryLedger

UNTESTED, TESTED = "ami-0aaaaaaaaaaaaaaa1", "ami-0bbbbbbbbbbbbbbb2"


def validation(clock: FakeClock, ami: str, env: str, result: str) -> Validation:
    return Validation(
        env=env,
        expected_ami=ami,
        result="SUCCESS" if result == "SUCCESS" else "FAILED",
        reasons=() if result == "SUCCESS" else ("i-1 in web: runs ami-old",),
        snapshot=Snapshot(env=env, groups=(), instances=()),
        polls=1,
        started_at=clock.now(),
        finished_at=clock.now(),
        timeout_seconds=0,
        interval_seconds=15,
    )


def write(ledger: MemoryLedger, clock: FakeClock, ami: str, env: str, result: str) -> str:
    v = validation(clock, ami, env, result)
    key = record(ledger, v, build_record(v, {"user": "alice"}, "0.1.0", "eu-west-2"), clock)
    clock.sleep(60)
    return key


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

    write(ledger, clock, UNTESTED, "management-dev", "FAILED")
    assert ledger.objects[COMPAT_KEY] == f"{UNTESTED} FAILED\n".encode()
    write(ledger, clock, UNTESTED, "management-dev", "SUCCESS")
    assert ledger.objects[COMPAT_KEY] == f"{UNTESTED} SUCCESS\n".encode()


def test_evidence_keys_decode_and_foreign_keys_are_ignored() -> None:
    ref = EvidenceRef.parse(
        f"evidence/{UNTESTED}/management-dev/20261123T120000.000000Z-SUCCESS.json"
    )
    assert ref is not None and ref.result == "SUCCESS" and ref.env == "management-dev"
    assert EvidenceRef.parse(f"evidence/{UNTESTED}/management-dev/notes.txt") is None
    assert EvidenceRef.parse("results/concourse.test") is None


def image(ami: str, **tags: str) -> Image:
    return Image(ami, f"name-{ami}", "available", "2026-11-01T00:00:00Z", tags)


def test_the_gate_opens_on_success_and_names_the_record() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    key = write(ledger, clock, UNTESTED, "management-dev", "SUCCESS")

    result = evaluate(
        UNTESTED, "management-dev", MemoryImages(image(UNTESTED)), ledger, "eu-west-2"
    )

    assert result.open
    assert result.evidence_key == key
    assert result.evidence is not None and result.evidence["actor"] == {"user": "alice"}


def test_the_gate_stays_closed_with_only_failed_records() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    write(ledger, clock, UNTESTED, "management-dev", "FAILED")

    result = evaluate(
        UNTESTED, "management-dev", MemoryImages(image(UNTESTED)), ledger, "eu-west-2"
    )

    assert not result.open
    assert result.reason.startswith(f"only FAILED evidence for {UNTESTED} in management-dev")


def test_the_gate_stays_closed_without_records_and_for_another_env() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    write(ledger, clock, UNTESTED, "management-dev", "SUCCESS")

    result = evaluate(UNTESTED, "management", MemoryImages(image(UNTESTED)), ledger, "eu-west-2")

    assert not result.open
    assert result.reason == f"no evidence for {UNTESTED} in management"


def test_the_gate_stays_closed_for_a_revoked_image() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    write(ledger, clock, UNTESTED, "management-dev", "SUCCESS")
    revoked = image(UNTESTED, **{"promote:revoked": "bad kernel"})

    result = evaluate(UNTESTED, "management-dev", MemoryImages(revoked), ledger, "eu-west-2")

    assert not result.open
    assert result.reason == f"{UNTESTED} is revoked: bad kernel"


def test_a_tested_copy_inherits_its_source_images_success() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    key = write(ledger, clock, UNTESTED, "management-dev", "SUCCESS")
    copy = image(TESTED, **{"promote:source-image": UNTESTED, "promote:stage": "tested"})

    result = evaluate(TESTED, "management-dev", MemoryImages(copy), ledger, "eu-west-2")

    assert result.open
    assert result.evidence_key == key
    assert "via its source image" in result.reason


def test_a_newer_failure_is_reported_beside_the_success() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    write(ledger, clock, UNTESTED, "management-dev", "SUCCESS")
    clock.sleep(timedelta(hours=1).total_seconds())
    failed = write(ledger, clock, UNTESTED, "management-dev", "FAILED")

    result = evaluate(
        UNTESTED, "management-dev", MemoryImages(image(UNTESTED)), ledger, "eu-west-2"
    )

    assert result.open
    assert result.newer_failures == [failed]


def test_the_gate_of_an_unknown_or_malformed_ami_is_refused() -> None:
    with pytest.raises(PromoteError) as unknown:
        evaluate(UNTESTED, "management-dev", MemoryImages(), MemoryLedger(), "eu-west-2")
    with pytest.raises(PromoteError) as malformed:
        evaluate("ami-nothex", "management-dev", MemoryImages(), MemoryLedger(), "eu-west-2")

    assert unknown.value.exit_code == 4
    assert unknown.value.message == f"{UNTESTED} not found in eu-west-2"
    assert malformed.value.exit_code == 2


def test_the_gate_waits_for_evidence_that_arrives_later() -> None:
    from promote.gate import wait_open

    ledger, clock = MemoryLedger(), FakeClock()
    images = MemoryImages(image(UNTESTED))
    calls = {"n": 0}

    def check() -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            write(ledger, clock, UNTESTED, "management-dev", "SUCCESS")
        return evaluate(UNTESTED, "management-dev", images, ledger, "eu-west-2")

    result = wait_open(check, clock, 600, 30, lambda _: None)  # type: ignore[arg-type]

    assert result.open
    assert clock.slept[:2] == [30, 30]


def test_the_gate_stops_waiting_at_once_for_a_revoked_image() -> None:
    from promote.gate import wait_open

    clock = FakeClock()
    revoked = MemoryImages(image(UNTESTED, **{"promote:revoked": "bad"}))

    result = wait_open(
        lambda: evaluate(UNTESTED, "management-dev", revoked, MemoryLedger(), "eu-west-2"),
        clock,
        600,
        30,
        lambda _: None,
    )

    assert not result.open and clock.slept == []
