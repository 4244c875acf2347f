"""publish plans its steps, then copies once; waiting is bounded (in-memory fakes)."""

from __future__ import annotations

from typing import Any

import pytest

from promote.domain import publish
from promote.errors import PromoteError
from tests.support.fakes import (
    FakeClock,
    FakeImages,
    MemoryLedger,
    image,
    make_services,
)
from tests.support.scenes import (
    NEW_TESTED,
    NEW_UNTESTED,
    promotion_images,
    promotion_secret,
    success,
)


def test_publish_needs_success_evidence_in_the_test_env() -> None:
    b, _ = make_services(promotion_secret(), promotion_images())

    with pytest.raises(PromoteError) as raised:
        publish.plan(b, NEW_UNTESTED)

    assert raised.value.exit_code == 3
    assert f"no evidence for {NEW_UNTESTED} in management-dev" in raised.value.message


def test_publish_plan_copies_tags_waits_then_shares_and_records() -> None:
    ledger, images = MemoryLedger(), FakeImages()
    images.add(image(NEW_UNTESTED, tags={"concourse:version": "7.12.0", "aws:reserved": "x"}))
    images.permissions[NEW_UNTESTED] = {"333333333333"}
    success(ledger, NEW_UNTESTED)
    b, _ = make_services(promotion_secret(), images, ledger)

    plan = publish.plan(b, NEW_UNTESTED)
    result = publish.execute(plan, b)

    kinds = [type(s).__name__ for s in plan.steps]
    assert kinds == ["CopyImage", "TagImage", "WaitAvailable", "ShareImage", "RecordPublish"]
    copy = images.images[result.tested]
    assert copy.name == "dw-al2-concourse-ami-20261123T120000Z"
    assert copy.tags == {
        "promote:stage": "tested",
        "promote:source-image": NEW_UNTESTED,
        "concourse:version": "7.12.0",
    }
    assert images.permissions[result.tested] == {"333333333333"}
    assert result.event_key


def test_publish_again_finds_the_copy_and_makes_no_second_one() -> None:
    ledger = MemoryLedger()
    images = promotion_images()
    success(ledger, NEW_UNTESTED)
    b, _ = make_services(promotion_secret(), images, ledger)

    plan = publish.plan(b, NEW_UNTESTED)
    result = publish.execute(plan, b)

    assert result.tested == NEW_TESTED and not result.created
    assert not any(kind == "copy" for kind, _ in images.writes)


def test_publish_refuses_when_the_existing_copy_was_revoked() -> None:
    ledger, images = MemoryLedger(), promotion_images()
    images.tag(NEW_TESTED, {"promote:revoked": "CVE"})
    success(ledger, NEW_UNTESTED)
    b, _ = make_services(promotion_secret(), images, ledger)

    with pytest.raises(PromoteError) as raised:
        publish.plan(b, NEW_UNTESTED)

    assert raised.value.exit_code == 3
    assert f"revoked through its copy {NEW_TESTED}: CVE" in raised.value.message


def test_waiting_for_the_copy_is_bounded_and_never_really_sleeps() -> None:
    ledger, images, clock = MemoryLedger(), FakeImages(copy_state="pending"), FakeClock()
    images.add(image(NEW_UNTESTED))
    success(ledger, NEW_UNTESTED)
    b, lines = make_services(promotion_secret(), images, ledger, clock)
    plan = publish.plan(b, NEW_UNTESTED, timeout=60)

    with pytest.raises(PromoteError) as raised:
        publish.execute(plan, b, interval=15)

    assert raised.value.exit_code == 5
    assert "still pending after 60s" in raised.value.message
    assert clock.slept == [15, 15, 15, 15]
    assert sum("pending, waiting" in line for line in lines) == 4


def test_waiting_tolerates_a_copy_that_describe_images_does_not_show_yet() -> None:
    ledger, clock = MemoryLedger(), FakeClock()
    images = FakeImages()
    images.add(image(NEW_UNTESTED))
    success(ledger, NEW_UNTESTED)
    b, _ = make_services(promotion_secret(), images, ledger, clock)
    real_image = images.image
    calls: list[str] = []

    def lagging(ami: str) -> Any:
        calls.append(ami)
        return None if len(calls) == 1 else real_image(ami)

    images.image = lagging  # type: ignore[method-assign]

    published = publish.wait_available(b, NEW_UNTESTED, timeout=60, interval=5)

    assert published.image_id == NEW_UNTESTED
    assert clock.slept == [5]
