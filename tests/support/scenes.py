"""Small scenes the unit tests of the domain share: an estate of images and a secret for the
promotion rules, and evidence records written the way validate writes them (signed with the
session's evidence key, tests/support/keys.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from promote.domain import events
from promote.domain.evidence import build_record, write
from promote.domain.fleet import Group, GroupMember, SeenInstance, Snapshot, Validation
from promote.domain.ledger import Event
from tests.support.fakes import (
    FakeClock,
    FakeImages,
    FakeSecrets,
    MemoryLedger,
    image,
    make_services,
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


def promotion_secret(pinned: bool = True) -> FakeSecrets:
    """management-dev on DEV_AMI, management on PROD_AMI (pinned by default)."""
    document: dict[str, Any] = {"concourse_ami_mgmt_dev": DEV_AMI, "concourse_ami": PROD_AMI}
    if pinned:
        document["_pins"] = {"management": PIN}
    return FakeSecrets(json.dumps(document))


RECORDED_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def success(ledger: MemoryLedger, ami: str, env: str = "management-dev") -> str:
    """A signed SUCCESS record for AMI in ENV, checked at RECORDED_AT; its key
    (`evidence/<ami>/<env>/20261120T100000.000000Z-SUCCESS.json`)."""
    return write_record(ledger, FakeClock(RECORDED_AT), ami, env, "SUCCESS")


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
            copied_from=NEW_UNTESTED,  # as AWS's DescribeImages says (SourceImageId)
        )
    )
    return images


def published(ledger: MemoryLedger, source: str, copy: str, clock: FakeClock | None = None) -> str:
    """The signed publish event that links COPY to SOURCE, as publish records it; its key."""
    services, _ = make_services(ledger=ledger, clock=clock or FakeClock(RECORDED_AT))
    return events.record(
        services,
        Event(
            kind="publish",
            subject=source,
            ami=source,
            before={"image": source, "stage": "untested"},
            after={"image": copy, "stage": "tested"},
            extra={"tested_image": copy, "evidence_key": None},
        ),
    )


def secret_document(secrets: FakeSecrets) -> dict[str, Any]:
    """The current document of the fake secret."""
    loaded: dict[str, Any] = json.loads(secrets.current("x").value)
    return loaded


def snapshot(env: str, ami: str, count: int = 1) -> Snapshot:
    """COUNT instances of one ASG, all running InService on AMI."""
    members = tuple(GroupMember(f"i-{n:017x}", "InService", "Healthy") for n in range(count))
    instances = tuple(
        SeenInstance(m.instance_id, "web", "InService", "Healthy", ami, "running") for m in members
    )
    return Snapshot(env=env, groups=(Group("web", count, members),), instances=instances)


def validation(clock: FakeClock, ami: str, env: str, result: str, instances: int = 1) -> Validation:
    """A validation of AMI in ENV that ended with RESULT now (SUCCESS: INSTANCES on it)."""
    return Validation(
        env=env,
        expected_ami=ami,
        result="SUCCESS" if result == "SUCCESS" else "FAILED",
        reasons=() if result == "SUCCESS" else ("i-1 in web: runs ami-old",),
        snapshot=snapshot(env, ami, instances if result == "SUCCESS" else 0),
        polls=1,
        started_at=clock.now(),
        finished_at=clock.now(),
        timeout_seconds=0,
        interval_seconds=15,
    )


def write_record(ledger: MemoryLedger, clock: FakeClock, ami: str, env: str, result: str) -> str:
    """Record a validation as validate does (signed), then let a minute pass; its key."""
    v = validation(clock, ami, env, result)
    services, _ = make_services(ledger=ledger, clock=clock)
    key = write(services, v, build_record(v, {"user": "alice"}, "0.1.0", "eu-west-2"))
    clock.sleep(60)
    return key
