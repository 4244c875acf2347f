"""rollback chooses where an env goes back to before it writes anything (in-memory fakes)."""

from __future__ import annotations

import pytest

from promote.domain import ami_ids, rollback, set_ids
from promote.errors import PromoteError
from tests.support.fakes import MemoryLedger, make_services
from tests.support.scenes import (
    DEV_AMI,
    NEW_TESTED,
    NEW_UNTESTED,
    promotion_images,
    promotion_secret,
    secret_document,
    success,
)


def test_an_earlier_entry_in_the_ledger_counts_when_awsprevious_is_another_envs_change() -> None:
    secrets, ledger = promotion_secret(pinned=False), MemoryLedger()
    success(ledger, NEW_UNTESTED)
    b, _ = make_services(secrets, promotion_images(), ledger)
    set_ids.execute(set_ids.plan(b, NEW_UNTESTED, ["management-dev"]), b)
    set_ids.execute(set_ids.plan(b, NEW_TESTED, ["management"]), b)  # AWSPREVIOUS: dev's too

    planned = rollback.plan(b, "management-dev", None, "INC-1")

    assert (planned.current, planned.target, planned.source) == (
        NEW_UNTESTED,
        DEV_AMI,
        rollback.EARLIER,
    )
    assert planned.set_ids is not None and planned.set_ids.reason == "INC-1"
    assert secret_document(secrets)["concourse_ami_mgmt_dev"] == NEW_UNTESTED  # nothing written


def test_without_history_the_newest_image_proven_in_the_env_is_the_target() -> None:
    secrets, ledger = promotion_secret(pinned=False), MemoryLedger()
    success(ledger, NEW_UNTESTED)
    b, _ = make_services(secrets, promotion_images(), ledger)

    planned = rollback.plan(b, "management-dev", None, None)

    assert (planned.target, planned.source) == (NEW_UNTESTED, rollback.EVIDENCE)
    assert planned.evidence_key is None  # management-dev accepts untested images


def test_nothing_to_go_back_to_is_exit_4_and_a_pinned_env_passes_over_every_other_image() -> None:
    b, _ = make_services(promotion_secret(pinned=False), promotion_images(), MemoryLedger())
    with pytest.raises(PromoteError) as raised:
        rollback.plan(b, "management-dev", None, None)
    assert raised.value.exit_code == 4
    assert raised.value.hint == "name one: promote rollback --env management-dev --to AMI"

    secrets, ledger = promotion_secret(pinned=True), MemoryLedger()
    success(ledger, NEW_UNTESTED)
    success(ledger, NEW_UNTESTED, env="management")
    pinned, _ = make_services(secrets, promotion_images(), ledger)
    with pytest.raises(PromoteError) as refused:
        rollback.plan(pinned, "management", None, None)
    assert refused.value.exit_code == 3
    assert f"passed over {NEW_UNTESTED} (SUCCESS evidence): management is pinned to" in (
        refused.value.message
    )
    assert secrets.puts == [] and ledger.keys("events/") == []


def test_a_secret_write_no_event_records_is_no_safe_way_back_without_to() -> None:
    secrets, ledger = promotion_secret(pinned=False), MemoryLedger()
    success(ledger, NEW_UNTESTED)
    b, _ = make_services(secrets, promotion_images(), ledger)
    env = b.config.environment("management-dev")
    # A run killed between its compare-and-swap write and its event: the write alone.
    b.update(lambda current: ami_ids.with_ami(current.document, env, NEW_UNTESTED), where=env)
    assert ledger.keys("events/") == []

    with pytest.raises(PromoteError) as raised:
        rollback.plan(b, "management-dev", None, None)

    assert raised.value.exit_code == 3
    assert "was written by promote, but no event records it" in raised.value.message
    assert raised.value.hint.startswith("name the image: promote rollback --env management-dev")
    named = rollback.plan(b, "management-dev", DEV_AMI, "INC-3")
    assert (named.target, named.source) == (DEV_AMI, rollback.TO)
