"""revoke deprecates first, then tags; a refusal leaves the image untouched."""

from __future__ import annotations

import pytest

from promote.domain import revoke
from promote.errors import PromoteError
from tests.support.fakes import (
    MemoryLedger,
    make_services,
)
from tests.support.scenes import (
    DEV_AMI,
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
    assert len(ledger.keys("events/")) == 1


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
    assert ledger.keys("events/") == []


def test_revoke_deprecates_where_the_api_allows() -> None:
    images = promotion_images()
    b, _ = make_services(promotion_secret(), images)

    result = revoke.revoke(b, NEW_UNTESTED, "bad")

    assert result.deprecated
    assert ("deprecate", (NEW_UNTESTED, "2026-11-23T12:01:00Z")) in images.writes
