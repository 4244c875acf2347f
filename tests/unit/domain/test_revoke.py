"""revoke deprecates first, then tags; a refusal leaves the image untouched."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from promote.domain import revoke
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
    promotion_images,
    promotion_secret,
)


def test_revoke_degrades_to_a_warning_when_the_endpoint_fails_at_deprecation() -> None:
    secrets, ledger = promotion_secret(), MemoryLedger()
    images = promotion_images()
    images.deprecation_fails = True
    b, lines = make_services(secrets, images, ledger)

    result = revoke.revoke(b, DEV_AMI, "CVE-1")

    assert not result.deprecated
    assert result.still_set_for == ["management-dev"]
    assert images.images[DEV_AMI].revoked == "CVE-1"
    assert any(line.startswith(f"warning: could not deprecate {DEV_AMI}") for line in lines)
    assert len(ledger.event_keys()) == 1


def test_revoke_refused_deprecation_is_an_error_before_anything_is_tagged() -> None:
    secrets, ledger = promotion_secret(), MemoryLedger()
    images = promotion_images()
    images.deprecation_refused = True
    b, _ = make_services(secrets, images, ledger)

    with pytest.raises(PromoteError) as raised:
        revoke.revoke(b, DEV_AMI, "CVE-1")

    assert raised.value.exit_code == 5
    assert "ec2:EnableImageDeprecation" in raised.value.message
    assert images.images[DEV_AMI].revoked is None
    assert ledger.event_keys() == []


def test_revoke_deprecates_where_the_api_allows() -> None:
    images = promotion_images()
    b, _ = make_services(promotion_secret(), images)

    result = revoke.revoke(b, NEW_UNTESTED, "bad")

    assert result.deprecated
    assert ("deprecate", (NEW_UNTESTED, "2026-11-23T12:01:00Z")) in images.writes


def test_revoking_an_image_revokes_its_tested_copy_with_its_own_event() -> None:
    secrets, ledger = promotion_secret(), MemoryLedger()
    images = promotion_images()
    b, _ = make_services(secrets, images, ledger)

    result = revoke.revoke(b, NEW_UNTESTED, "CVE-9")

    assert [(e.ami, e.through, e.outcome) for e in result.images] == [
        (NEW_UNTESTED, None, "revoked"),
        (NEW_TESTED, NEW_UNTESTED, "revoked"),
    ]
    assert images.images[NEW_TESTED].revoked == f"CVE-9 (through {NEW_UNTESTED})"
    assert len(ledger.event_keys()) == 2


def test_a_removed_revoked_tag_is_restored_from_the_event_and_nothing_else_is_written() -> None:
    secrets, ledger = promotion_secret(), MemoryLedger()
    images = promotion_images()
    b, _ = make_services(secrets, images, ledger)
    revoke.revoke(b, DEV_AMI, "CVE-1")
    revoked_at = images.images[DEV_AMI].tags["promote:revoked-at"]
    stripped = {k: v for k, v in images.images[DEV_AMI].tags.items() if "revoked" not in k}
    images.images[DEV_AMI] = replace(images.images[DEV_AMI], tags=stripped)
    events_before = ledger.event_keys()
    a_year_later = FakeClock(datetime(2027, 11, 23, 12, 0, tzinfo=UTC))
    again, lines = make_services(secrets, images, ledger, a_year_later)

    result = revoke.revoke(again, DEV_AMI, "anything")

    assert result.main.outcome == "tag restored"
    assert images.images[DEV_AMI].revoked == "CVE-1"
    assert images.images[DEV_AMI].tags["promote:revoked-at"] == revoked_at
    assert ledger.event_keys() == events_before
    assert any("its revoked tag was removed" in line for line in lines)


def test_a_hand_made_revoked_tag_gets_its_event_on_a_re_run() -> None:
    secrets, ledger = promotion_secret(), MemoryLedger()
    images = promotion_images()
    images.tag(DEV_AMI, {"promote:revoked": "by hand"})
    b, _ = make_services(secrets, images, ledger)

    result = revoke.revoke(b, DEV_AMI, "CVE-1")

    assert result.main.outcome == "recorded"
    assert images.images[DEV_AMI].revoked == "by hand"
    assert len(ledger.event_keys()) == 1
