"""set-ids decides everything before writing (in-memory fakes)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from promote.config import Overrides, load
from promote.domain import set_ids
from promote.errors import PromoteError
from tests.support.fakes import (
    ACCOUNT,
    MemoryLedger,
    image,
    make_services,
)
from tests.support.scenes import (
    DEV_AMI,
    NEW_TESTED,
    NEW_UNTESTED,
    PROD_AMI,
    promotion_images,
    promotion_secret,
    secret_document,
    success,
)


def test_set_ids_refuses_a_pinned_env_naming_owner_reason_and_since() -> None:
    secrets, ledger = promotion_secret(), MemoryLedger()
    success(ledger, NEW_UNTESTED)
    b, _ = make_services(secrets, promotion_images(), ledger)

    with pytest.raises(PromoteError) as raised:
        set_ids.execute(set_ids.plan(b, NEW_TESTED, ["management"]), b)

    assert raised.value.exit_code == 3
    assert raised.value.message == (
        f"management is pinned to {PROD_AMI} by rm@example.com since "
        "2026-11-01T09:00:00+00:00: release freeze"
    )
    assert secrets.puts == [] and ledger.event_keys() == []


def test_a_refusal_lists_every_reason_pin_first() -> None:
    secrets, ledger = promotion_secret(), MemoryLedger()
    images = promotion_images()
    images.tag(NEW_UNTESTED, {"promote:revoked": "CVE-2026-1"})
    b, _ = make_services(secrets, images, ledger)

    with pytest.raises(PromoteError) as raised:
        set_ids.plan(b, NEW_UNTESTED, ["management"])

    assert raised.value.exit_code == 3
    reasons = raised.value.message.removeprefix("refused for management: ").split("; ")
    assert reasons[0].startswith(f"management is pinned to {PROD_AMI} by rm@example.com")
    assert "accepts only tested images" in reasons[1]
    assert reasons[2] == f"{NEW_UNTESTED} is revoked: CVE-2026-1"
    assert "promote pin --env management" in (raised.value.hint or "")
    assert secrets.puts == [] and ledger.event_keys() == []


def test_a_pinned_env_may_be_set_to_its_pinned_ami() -> None:
    secrets = promotion_secret()
    document = secret_document(secrets)
    b, _ = make_services(secrets, promotion_images(), MemoryLedger())

    result = set_ids.plan(b, document["concourse_ami"], ["management"])

    assert result.changes == {} and result.unchanged == ["management"]


@pytest.mark.parametrize(
    ("owner", "stage", "builders", "refused"),
    [
        ("137112412989", "untested", (), "is owned by account 137112412989"),  # Amazon's
        (ACCOUNT, None, (), "carries no promote:stage tag"),
        ("222222222222", "untested", ("222222222222",), None),  # a configured builder
    ],
)
def test_provenance_only_images_promote_built(
    owner: str, stage: str | None, builders: tuple[str, ...], refused: str | None
) -> None:
    secrets, ledger = promotion_secret(pinned=False), MemoryLedger()
    images = promotion_images()
    foreign = images.add(image("ami-0999999999999999a", stage=stage, owner=owner))
    config = replace(load(Overrides(), {}, Path("/nonexistent")), builder_accounts=builders)
    b, _ = make_services(secrets, images, ledger, config=config)

    if refused is None:
        assert set_ids.plan(b, foreign.image_id, ["management-dev"]).changes
        return
    with pytest.raises(PromoteError) as raised:
        set_ids.plan(b, foreign.image_id, ["management-dev"])
    assert raised.value.exit_code == 3
    assert refused in raised.value.message
    assert secrets.puts == [] and ledger.event_keys() == []


def test_set_ids_sends_a_tested_image_with_inherited_evidence_to_production() -> None:
    secrets, ledger = promotion_secret(pinned=False), MemoryLedger()
    success(ledger, NEW_UNTESTED)
    b, _ = make_services(secrets, promotion_images(), ledger)

    result = set_ids.execute(set_ids.plan(b, NEW_TESTED, ["management"]), b)

    assert result.changes == {"management": {"before": PROD_AMI, "after": NEW_TESTED}}
    assert result.evidence_key == (
        f"evidence/{NEW_UNTESTED}/management-dev/20261120T100000.000000Z-SUCCESS.json"
    )
    assert secret_document(secrets)["concourse_ami"] == NEW_TESTED
    [event_key] = ledger.event_keys()
    assert "-set-ids-" in event_key


def test_set_ids_refuses_a_tested_image_without_success_evidence() -> None:
    secrets, ledger = promotion_secret(pinned=False), MemoryLedger()
    b, _ = make_services(secrets, promotion_images(), ledger)

    with pytest.raises(PromoteError) as raised:
        set_ids.plan(b, NEW_TESTED, ["management"])

    assert raised.value.exit_code == 3
    assert "accepts only images with SUCCESS evidence in management-dev" in raised.value.message
    assert secrets.puts == [] and ledger.event_keys() == []


def test_set_ids_refuses_an_untested_image_for_a_tested_env_even_with_evidence() -> None:
    secrets, ledger = promotion_secret(pinned=False), MemoryLedger()
    success(ledger, NEW_UNTESTED)
    b, _ = make_services(secrets, promotion_images(), ledger)

    with pytest.raises(PromoteError) as raised:
        set_ids.execute(set_ids.plan(b, NEW_UNTESTED, ["management"]), b)

    assert raised.value.exit_code == 3
    assert "accepts only tested images" in raised.value.message
    assert secrets.puts == []


def test_set_ids_refuses_a_revoked_image_for_any_env() -> None:
    secrets, images = promotion_secret(), promotion_images()
    images.tag(NEW_UNTESTED, {"promote:revoked": "CVE"})
    b, _ = make_services(secrets, images)

    with pytest.raises(PromoteError) as raised:
        set_ids.execute(set_ids.plan(b, NEW_UNTESTED, ["management-dev"]), b)

    assert raised.value.exit_code == 3
    assert raised.value.message == f"{NEW_UNTESTED} is revoked: CVE"


def test_set_ids_dry_run_and_already_set_write_nothing() -> None:
    secrets = promotion_secret()
    b, _ = make_services(secrets, promotion_images())

    dry = set_ids.plan(b, NEW_UNTESTED, ["management-dev"])
    same = set_ids.execute(set_ids.plan(b, DEV_AMI, ["management-dev"]), b)

    assert dry.changes == {"management-dev": {"before": DEV_AMI, "after": NEW_UNTESTED}}
    assert same.unchanged == ["management-dev"] and not same.changes
    assert secrets.puts == []


def test_set_ids_of_an_unknown_ami_is_exit_4() -> None:
    b, _ = make_services(promotion_secret(), promotion_images())

    with pytest.raises(PromoteError) as raised:
        set_ids.execute(set_ids.plan(b, "ami-0123456789abcdef0", ["management-dev"]), b)

    assert raised.value.exit_code == 4


def test_success_evidence_in_the_env_itself_admits_returning_it_to_an_image_it_ran() -> None:
    secrets, ledger = promotion_secret(pinned=False), MemoryLedger()
    success(ledger, NEW_UNTESTED, env="management")  # production proved it ran it
    b, _ = make_services(secrets, promotion_images(), ledger)

    result = set_ids.execute(set_ids.plan(b, NEW_UNTESTED, ["management"]), b)

    assert result.changes == {"management": {"before": PROD_AMI, "after": NEW_UNTESTED}}
    assert result.evidence_key is not None and "/management/" in result.evidence_key


def test_evidence_in_another_env_is_not_a_return_and_the_hint_deploys_before_validating() -> None:
    secrets, ledger = promotion_secret(pinned=False), MemoryLedger()
    success(ledger, NEW_UNTESTED, env="management-old")
    b, _ = make_services(secrets, promotion_images(), ledger)

    with pytest.raises(PromoteError) as raised:
        set_ids.plan(b, NEW_UNTESTED, ["management"])

    assert "accepts only tested images" in raised.value.message
    assert raised.value.hint.startswith(
        f"deploy it to management-dev first: promote set-ids --env management-dev --ami "
        f"{NEW_UNTESTED}, then promote rollout --env management-dev"
    )
    assert "promote validate" not in raised.value.hint
    assert secrets.puts == []
