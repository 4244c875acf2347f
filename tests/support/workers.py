"""Concourse workers for the stand-in web node that follow an estate's ASGs, as real ones do:
every member's worker registers (named by the instance's hostname, or its Name tag) some time
after the instance is InService."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tests.fakes.concourse_server import FakeConcourse, mirror_asgs
from tests.support.estate import Estate


def worker_name(instance: dict[str, Any]) -> str:
    """How a member's worker registers: its Name tag when it has one, else its hostname."""
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
    return tags.get("Name") or instance["PrivateDnsName"].split(".")[0]


def describe_members(seeded: Estate, groups: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Group -> its members, each with its EC2 description merged in."""
    ec2 = seeded.client("ec2")
    out: dict[str, list[dict[str, Any]]] = {}
    for group in groups:
        members = seeded.group(group)["Instances"]
        ids = [m["InstanceId"] for m in members]
        described = (
            {
                i["InstanceId"]: i
                for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                for i in r["Instances"]
            }
            if ids
            else {}
        )
        out[group] = [{**described.get(m["InstanceId"], {}), **m} for m in members]
    return out


@contextmanager
def following_workers(
    seeded: Estate, concourse: FakeConcourse, groups: Sequence[str], delay: float = 0.5
) -> Iterator[None]:
    """Register the workers of GROUPS' members now, and of new members DELAY s after they
    come InService, while the block runs."""
    for members in describe_members(seeded, groups).values():
        for member in members:
            concourse.add_worker(worker_name(member), polls_to_land=1)
    stop = threading.Event()
    thread = mirror_asgs(
        concourse, lambda: describe_members(seeded, groups), delay, worker_name, stop
    )
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
