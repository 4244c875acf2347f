"""Small scenes the unit tests of the domain share: an estate of images and a secret for the
promotion rules, and evidence records written the way validate writes them."""

from __future__ import annotations

import json
from typing import Any

from promote.domain.fleet import Snapshot, Validation
from promote.domain.ledger import build_record, record
from promote.domain.ports import LedgerStore
from tests.support.fakes import FakeClock, FakeImages, FakeSecrets, MemoryLedger, image

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


def promotion_secret(pinned: bool = True) -> FakeSecrets:
    """management-dev on DEV_AMI, management on PROD_AMI (pinned by default)."""
    document: dict[str, Any] = {"concourse_ami_mgmt_dev": DEV_AMI, "concourse_ami": PROD_AMI}
    if pinned:
        document["_pins"] = {"management": PIN}
    return FakeSecrets(json.dumps(document))


def success(ledger: LedgerStore, ami: str, env: str = "management-dev") -> None:
    """A SUCCESS record for AMI in ENV (its key is all the gate reads)."""
    ledger.put_new(f"evidence/{ami}/{env}/20261120T100000.000000Z-SUCCESS.json", b"{}")


def promotion_images() -> FakeImages:
    """The running images and a newer untested one with its tested copy."""
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


def secret_document(secrets: FakeSecrets) -> dict[str, Any]:
    """The current document of the fake secret."""
    loaded: dict[str, Any] = json.loads(secrets.current("x").value)
    return loaded


def validation(clock: FakeClock, ami: str, env: str, result: str) -> Validation:
    """A validation of AMI in ENV that ended with RESULT now."""
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


def write_record(ledger: MemoryLedger, clock: FakeClock, ami: str, env: str, result: str) -> str:
    """Record a validation as validate does, then let a minute pass; its key."""
    v = validation(clock, ami, env, result)
    key = record(ledger, v, build_record(v, {"user": "alice"}, "0.1.0", "eu-west-2"), clock)
    clock.sleep(60)
    return key
