"""The sandbox lifecycle at 30 % AWS faults ends exactly where the fault-free run ends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import faults
from tests.support.estate import Estate, end_state

HOOKS = {
    "PROMOTE_TEST_HOOKS": "tests.support.faults:install",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def lifecycle(seeded: Estate) -> dict[str, Any]:
    """set-ids -> rollout -> validate -> publish -> unpin --apply -> rollout -> validate."""
    untested, previous = seeded.untested, seeded.tested
    fast = ("--interval", "0.2s", "--timeout", "2m")
    steps = [
        ("set-ids", "--ami", previous, "--env", "management-dev"),
        ("rollout", "--env", "management-dev", *fast),
        ("set-ids", "--ami", untested, "--env", "management-dev"),
        ("rollout", "--env", "management-dev", *fast),
        ("validate", "--env", "management-dev", *fast),
        ("publish", "--ami", untested, "--interval", "0.2s"),
        ("unpin", "--env", "management", "--reason", "release", "--apply"),
        ("rollout", "--env", "management", *fast),
        ("validate", "--env", "management", *fast),
    ]
    for step in steps:
        result = seeded.cli(*step, env=HOOKS)
        assert result.exit_code == 0, (step, result.output)
    return end_state(seeded)


@pytest.fixture
def injector() -> Any:
    faults.INJECTOR = faults.FaultInjector(rate=0.3, seed=20261123)
    yield faults.INJECTOR
    faults.INJECTOR = None


def test_the_lifecycle_at_30_percent_faults_ends_like_the_fault_free_run(
    seeded: Estate,
    moto_server: Any,
    tmp_path: Any,
    injector: faults.FaultInjector,
    capsys: pytest.CaptureFixture[str],
) -> None:
    faulty = lifecycle(seeded)
    attempts, injected = injector.attempts, dict(injector.injected)

    faults.INJECTOR = None
    from promote.clock import SystemClock
    from promote.sandbox import estate
    from tests.support.estate import reset

    reset(moto_server)
    seeded.report = estate.seed(seeded.aws, seeded.config, SystemClock())
    clean = lifecycle(seeded)

    assert injector.total > 20, "the faults did not bite"
    assert faulty == clean
    with capsys.disabled():
        print(
            f"\nfault injection: {injector.total} of {attempts} AWS attempts failed "
            f"({json.dumps(injected, sort_keys=True)}), each retried by botocore; "
            "end state equal to the fault-free run"
        )
