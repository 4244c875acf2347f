"""set-ids, pin, unpin, publish and revoke decide everything before writing (in-memory fakes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promote import pins, promotion, publish, revoke
from promote.errors import PromoteError
from promote.evidence import LedgerStore
from tests.unit.promotion_fakes import (
    FakeClock,
    FakeImages,
    FakeLedger,
    FakeSecrets,
    backends,
    image,
)

DEV_AMI = "ami-0000000000000000d"
PROD_AMI = "ami-0000000000000000e"
NEW_UNTESTED = "ami-0000000000000000f"
NEW_TESTED = "ami-00000000000000010"
PIN = {
    "ami": PROD_AMI,
    "owner": "rm@example.com",
    "reason": "release freeze",
    "since": "2026-11-01T09:00:00+00:00",
    "expires": None,
}


def _secrets(pinned: bool = True) -> FakeSecrets:
    document: dict[str, Any] = {"concourse_ami_mgmt_dev": DEV_AMI, "concourse_ami": PROD_AMI}
    if pinned:
        document["_pins"] = {"management": PIN}
    return FakeSecrets(json.dumps(document))


def _success(ledger: LedgerStore, ami: str, env: str = "management-dev") -> None:
    ledger.put_new(f"evidence/{ami}/{env}/20261120T100000.000000Z-SUCCESS.json", b"{}")


def _estate() -> FakeImages:
    images = FakeImages()
    images.add(image(DEV_AMI))
    images.add(image(PROD_AMI, "tested", tags={"promote:source-image": "ami-00000000000000001"}))
    images.add(image(NEW_UNTESTED, created="2026-11-20T00:00:00.000Z"))
    images.add(
        image(
            NEW_TESTED,
            "tested",
            created="2026-11-21T00:00:00.000Z",
            tags={"promote:source-image": NEW_UNTESTED},
        )
    )
    return images


def _document(secrets: FakeSecrets) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(secrets.current("x").value)
    return loaded


def test_set_ids_refuses_a_pinned_env_naming_owner_reason_and_since() -> None:
    secrets, ledger = _secrets(), FakeLedger()
    _success(ledger, NEW_UNTESTED)
    b, _ = backends(secrets, _estate(), ledger)

    with pytest.raises(PromoteError) as raised:
        promotion.set_ids(b, NEW_TESTED, ["management"])

    assert raised.value.exit_code == 3
    assert raised.value.message == (
        "management is pinned by rm@example.com since 2026-11-01T09:00:00+00:00: release freeze"
    )
    assert secrets.puts == [] and ledger.keys("events/") == []


def test_set_ids_sends_a_tested_image_with_inherited_evidence_to_production() -> None:
    secrets, ledger = _secrets(pinned=False), FakeLedger()
    _success(ledger, NEW_UNTESTED)
    b, _ = backends(secrets, _estate(), ledger)

    result = promotion.set_ids(b, NEW_TESTED, ["management"])

    assert result.changes == {"management": {"before": PROD_AMI, "after": NEW_TESTED}}
    assert result.evidence_key == (
        f"evidence/{NEW_UNTESTED}/management-dev/20261120T100000.000000Z-SUCCESS.json"
    )
    assert _document(secrets)["concourse_ami"] == NEW_TESTED
    [event_key] = ledger.keys("events/")
    assert "-set-ids-" in event_key


def test_set_ids_refuses_an_untested_image_for_a_tested_env_even_with_evidence() -> None:
    secrets, ledger = _secrets(pinned=False), FakeLedger()
    _success(ledger, NEW_UNTESTED)
    b, _ = backends(secrets, _estate(), ledger)

    with pytest.raises(PromoteError) as raised:
        promotion.set_ids(b, NEW_UNTESTED, ["management"])

    assert raised.value.exit_code == 3
    assert "accepts only tested images" in raised.value.message
    assert secrets.puts == []


def test_set_ids_refuses_a_revoked_image_for_any_env() -> None:
    secrets, images = _secrets(), _estate()
    images.tag(NEW_UNTESTED, {"promote:revoked": "CVE"})
    b, _ = backends(secrets, images)

    with pytest.raises(PromoteError) as raised:
        promotion.set_ids(b, NEW_UNTESTED, ["management-dev"])

    assert raised.value.exit_code == 3
    assert raised.value.message == f"{NEW_UNTESTED} is revoked: CVE"


def test_set_ids_dry_run_and_already_set_write_nothing() -> None:
    secrets = _secrets()
    b, _ = backends(secrets, _estate())

    dry = promotion.set_ids(b, NEW_UNTESTED, ["management-dev"], dry_run=True)
    same = promotion.set_ids(b, DEV_AMI, ["management-dev"])

    assert dry.changes == {"management-dev": {"before": DEV_AMI, "after": NEW_UNTESTED}}
    assert same.unchanged == ["management-dev"] and not same.changes
    assert secrets.puts == []


def test_set_ids_of_an_unknown_ami_is_exit_4() -> None:
    b, _ = backends(_secrets(), _estate())

    with pytest.raises(PromoteError) as raised:
        promotion.set_ids(b, "ami-0123456789abcdef0", ["management-dev"])

    assert raised.value.exit_code == 4


def test_pin_records_the_pin_it_replaces() -> None:
    secrets, ledger = _secrets(), FakeLedger()
    _success(ledger, NEW_UNTESTED)
    b, _ = backends(secrets, _estate(), ledger)

    result = pins.pin(b, "management", NEW_TESTED, "release 7", "2026-12-31", "alice")

    assert result.previous_pin == PIN
    assert _document(secrets)["_pins"]["management"]["owner"] == "alice"
    assert _document(secrets)["concourse_ami"] == NEW_TESTED
    event = json.loads(ledger.get(ledger.keys("events/")[0]))
    assert event["before"] == {"ami": PROD_AMI, "pin": PIN}
    assert event["after"]["pin"]["expires"] == "2026-12-31"


def test_pin_warns_about_an_expiry_in_the_past_and_pins_anyway() -> None:
    secrets = _secrets(pinned=False)
    b, lines = backends(secrets, _estate())

    pins.pin(b, "management-dev", None, "hold", "2020-01-01", "alice")

    assert any("already in the past" in line for line in lines)
    assert _document(secrets)["_pins"]["management-dev"]["ami"] == DEV_AMI


def test_unpin_shows_the_newest_eligible_image_without_writing() -> None:
    secrets, ledger = _secrets(), FakeLedger()
    _success(ledger, NEW_UNTESTED)
    b, _ = backends(secrets, _estate(), ledger)

    result = pins.unpin(b, "management", "release", apply=False)

    assert result.move_to == NEW_TESTED
    assert result.evidence_key and NEW_UNTESTED in result.evidence_key
    assert secrets.puts == []


def test_unpin_skips_revoked_images_and_keeps_the_env_when_nothing_is_eligible() -> None:
    secrets, ledger, images = _secrets(), FakeLedger(), _estate()
    _success(ledger, NEW_UNTESTED)
    images.tag(NEW_TESTED, {"promote:revoked": "CVE"})
    b, _ = backends(secrets, images, ledger)

    result = pins.unpin(b, "management", "release", apply=True)

    assert result.move_to is None
    document = _document(secrets)
    assert document["concourse_ami"] == PROD_AMI
    assert "_pins" not in document
    assert len(secrets.puts) == 1


def test_parse_expiry_accepts_dates_and_times_and_refuses_the_rest() -> None:
    now = FakeClock().now()

    assert pins.parse_expiry("2026-12-31", now) == "2026-12-31"
    assert pins.parse_expiry("2026-12-31T17:00:00Z", now) == "2026-12-31T17:00:00+00:00"
    assert pins.parse_expiry(None, now) is None
    with pytest.raises(PromoteError) as raised:
        pins.parse_expiry("next tuesday", now)
    assert raised.value.exit_code == 2


def test_pin_owner_is_git_email_then_user_else_an_error() -> None:
    assert pins.default_owner({"USER": "bob"}, "alice@example.com") == "alice@example.com"
    assert pins.default_owner({"USER": "bob"}, None) == "bob"
    with pytest.raises(PromoteError):
        pins.default_owner({}, " ")


def test_publish_needs_success_evidence_in_the_test_env() -> None:
    b, _ = backends(_secrets(), _estate())

    with pytest.raises(PromoteError) as raised:
        publish.plan(b, NEW_UNTESTED)

    assert raised.value.exit_code == 3
    assert f"no evidence for {NEW_UNTESTED} in management-dev" in raised.value.message


def test_publish_plan_copies_tags_waits_then_shares_and_records() -> None:
    ledger, images = FakeLedger(), FakeImages()
    images.add(image(NEW_UNTESTED, tags={"concourse:version": "7.12.0", "aws:reserved": "x"}))
    images.permissions[NEW_UNTESTED] = {"333333333333"}
    _success(ledger, NEW_UNTESTED)
    b, _ = backends(_secrets(), images, ledger)

    plan = publish.plan(b, NEW_UNTESTED)
    result = publish.execute(b, plan)

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
    ledger = FakeLedger()
    images = _estate()
    _success(ledger, NEW_UNTESTED)
    b, _ = backends(_secrets(), images, ledger)

    plan = publish.plan(b, NEW_UNTESTED)
    result = publish.execute(b, plan)

    assert result.tested == NEW_TESTED and not result.created
    assert not any(kind == "copy" for kind, _ in images.writes)


def test_waiting_for_the_copy_is_bounded_and_never_really_sleeps() -> None:
    ledger, images, clock = FakeLedger(), FakeImages(copy_state="pending"), FakeClock()
    images.add(image(NEW_UNTESTED))
    _success(ledger, NEW_UNTESTED)
    b, lines = backends(_secrets(), images, ledger, clock)
    plan = publish.plan(b, NEW_UNTESTED, timeout=60)

    with pytest.raises(PromoteError) as raised:
        publish.execute(b, plan, interval=15)

    assert raised.value.exit_code == 5
    assert "still pending after 60s" in raised.value.message
    assert clock.sleeps == [15, 15, 15, 15]
    assert sum("pending, waiting" in line for line in lines) == 4


def test_revoke_degrades_to_a_warning_when_the_endpoint_fails_at_deprecation() -> None:
    secrets, ledger = _secrets(), FakeLedger()
    images = _estate()
    images.deprecation_fails = True
    b, lines = backends(secrets, images, ledger)

    result = revoke.revoke(b, DEV_AMI, "CVE-1")

    assert not result.deprecated
    assert result.still_set_for == ["management-dev"]
    assert images.images[DEV_AMI].revoked == "CVE-1"
    assert any(line.startswith(f"warning: could not deprecate {DEV_AMI}") for line in lines)
    assert len(ledger.keys("events/")) == 1


def test_revoke_refused_deprecation_is_an_error_before_anything_is_tagged() -> None:
    secrets, ledger = _secrets(), FakeLedger()
    images = _estate()
    images.deprecation_refused = True
    b, _ = backends(secrets, images, ledger)

    with pytest.raises(PromoteError) as raised:
        revoke.revoke(b, DEV_AMI, "CVE-1")

    assert raised.value.exit_code == 5
    assert "ec2:EnableImageDeprecation" in raised.value.message
    assert images.images[DEV_AMI].revoked is None
    assert ledger.keys("events/") == []


def test_revoke_deprecates_where_the_api_allows() -> None:
    images = _estate()
    b, _ = backends(_secrets(), images)

    result = revoke.revoke(b, NEW_UNTESTED, "bad")

    assert result.deprecated
    assert ("deprecate", (NEW_UNTESTED, "2026-11-23T12:01:00Z")) in images.writes


def test_publish_refuses_when_the_existing_copy_was_revoked() -> None:
    ledger, images = FakeLedger(), _estate()
    images.tag(NEW_TESTED, {"promote:revoked": "CVE"})
    _success(ledger, NEW_UNTESTED)
    b, _ = backends(_secrets(), images, ledger)

    with pytest.raises(PromoteError) as raised:
        publish.plan(b, NEW_UNTESTED)

    assert raised.value.exit_code == 3
    assert f"published as {NEW_TESTED}, which is revoked: CVE" in raised.value.message


def test_waiting_tolerates_a_copy_that_describe_images_does_not_show_yet() -> None:
    ledger, clock = FakeLedger(), FakeClock()
    images = FakeImages()
    images.add(image(NEW_UNTESTED))
    _success(ledger, NEW_UNTESTED)
    b, _ = backends(_secrets(), images, ledger, clock)
    real_image = images.image
    calls: list[str] = []

    def lagging(ami: str) -> Any:
        calls.append(ami)
        return None if len(calls) == 1 else real_image(ami)

    images.image = lagging  # type: ignore[method-assign]

    published = publish.wait_available(b, NEW_UNTESTED, timeout=60, interval=5)

    assert published.image_id == NEW_UNTESTED
    assert clock.sleeps == [5]
