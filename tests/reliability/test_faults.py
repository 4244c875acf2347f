"""The sandbox lifecycle at 30 % AWS faults ends exactly where the fault-free run ends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import Estate
from tests.reliability import faults

HOOKS = {
    "PROMOTE_TEST_HOOKS": "tests.reliability.faults:install",
    "AWS_EC2_METADATA_DISABLED": "true",
}
ENVS = {
    "management-dev": ("concourse-web-management-dev", "concourse-worker-management-dev"),
    "management": ("concourse-web-management", "concourse-worker-management"),
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


def end_state(seeded: Estate) -> dict[str, Any]:
    """What a person would compare: the secret, the images, the fleet, the ledger, by role."""
    ec2 = seeded.client("ec2")
    images = ec2.describe_images(Owners=["self"])["Images"]
    tested = [i for i in images if {"Key": "promote:stage", "Value": "tested"} in i.get("Tags", [])]
    names = {seeded.untested: "untested", seeded.tested: "previous"}
    names.update({i["ImageId"]: "tested-copy" for i in tested if i["ImageId"] not in names})
    _, secret = seeded.secret()
    fleet = {}
    for groups in ENVS.values():
        for group in groups:
            raw = seeded.group(group)
            ids = [m["InstanceId"] for m in raw["Instances"]]
            found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
            amis = sorted(names.get(i["ImageId"], "?") for r in found for i in r["Instances"])
            fleet[group] = {
                "desired": raw["DesiredCapacity"],
                "max": raw["MaxSize"],
                "amis": amis,
                "tags": sorted(t["Key"] for t in raw.get("Tags", [])),
            }
    ledger = seeded.ledger_keys()
    return {
        "secret": {k: names.get(v, v) for k, v in secret.items() if k != "_pins"},
        "pins": sorted(secret.get("_pins", {})),
        "tested_images": len(tested),
        "fleet": fleet,
        "evidence": sorted(k.rsplit("-", 1)[-1] for k in ledger if k.startswith("evidence/")),
        "events": sorted(
            k.split("-", 2)[1] if k.count("-") else k for k in ledger if k.startswith("events/")
        ),
    }


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
    from promote import estate
    from promote.clock import SystemClock
    from tests.integration.conftest import reset

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
