"""pin and unpin decide everything before writing (in-memory fakes)."""

from __future__ import annotations

import pytest

from promote.domain import events, pins
from promote.errors import PromoteError
from tests.support.fakes import (
    FakeClock,
    MemoryLedger,
    make_services,
)
from tests.support.scenes import (
    DEV_AMI,
    NEW_TESTED,
    NEW_UNTESTED,
    PIN,
    PROD_AMI,
    promotion_images,
    promotion_secret,
    secret_document,
    success,
)


def test_pin_records_the_pin_it_replaces() -> None:
    secrets, ledger = promotion_secret(), MemoryLedger()
    success(ledger, NEW_UNTESTED)
    b, _ = make_services(secrets, promotion_images(), ledger)

    result = pins.pin(b, "management", NEW_TESTED, "release 7", "2026-12-31", "alice")

    assert result.previous_pin == PIN
    assert secret_document(secrets)["_pins"]["management"]["owner"] == "alice"
    assert secret_document(secrets)["concourse_ami"] == NEW_TESTED
    event = events.load(b)[0].document
    assert event["before"] == {"ami": PROD_AMI, "pin": PIN}
    assert event["after"]["pin"]["expires"] == "2026-12-31"


def test_pin_warns_about_an_expiry_in_the_past_and_pins_anyway() -> None:
    secrets = promotion_secret(pinned=False)
    b, lines = make_services(secrets, promotion_images())

    pins.pin(b, "management-dev", None, "hold", "2020-01-01", "alice")

    assert any("already in the past" in line for line in lines)
    assert secret_document(secrets)["_pins"]["management-dev"]["ami"] == DEV_AMI


def test_pin_owner_is_git_email_then_user_else_an_error() -> None:
    assert pins.default_owner({"USER": "bob"}, "alice@example.com") == "alice@example.com"
    assert pins.default_owner({"USER": "bob"}, None) == "bob"
    with pytest.raises(PromoteError):
        pins.default_owner({}, " ")


def test_unpin_shows_the_newest_eligible_image_without_writing() -> None:
    secrets, ledger = promotion_secret(), MemoryLedger()
    success(ledger, NEW_UNTESTED)
    b, _ = make_services(secrets, promotion_images(), ledger)

    result = pins.plan_unpin(b, "management", "release")

    assert result.move_to == NEW_TESTED
    assert result.evidence_key and NEW_UNTESTED in result.evidence_key
    assert secrets.puts == []


def test_unpin_skips_revoked_images_and_keeps_the_env_when_nothing_is_eligible() -> None:
    secrets, ledger, images = promotion_secret(), MemoryLedger(), promotion_images()
    success(ledger, NEW_UNTESTED)
    images.tag(NEW_TESTED, {"promote:revoked": "CVE"})
    b, _ = make_services(secrets, images, ledger)

    result = pins.execute_unpin(pins.plan_unpin(b, "management", "release"), b)

    assert result.move_to is None
    document = secret_document(secrets)
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
