"""`promote status`: what each environment is set to, what it runs, its pin, its evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promote.config import Environment
from promote.errors import ExitCode, PromoteError
from promote.evidence import LedgerStore, records_for
from promote.fleet import FleetReader, observe
from promote.ids import AmiIds, Pin
from promote.images import Image, ImageReader


@dataclass(frozen=True)
class EnvStatus:
    """One environment at a glance."""

    env: str
    accepts: str
    secret_ami: str | None
    pin: Pin | None
    pin_overdue: bool
    desired: int | None
    running: dict[str, int]
    latest_evidence: str | None
    latest_result: str | None
    problem: str | None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "env": self.env,
            "accepts": self.accepts,
            "secret_ami": self.secret_ami,
            "pin": self.pin.as_dict() if self.pin else None,
            "pin_overdue": self.pin_overdue,
            "desired_capacity": self.desired,
            "running": self.running,
            "latest_evidence": self.latest_evidence,
            "latest_result": self.latest_result,
            "problem": self.problem,
        }


def env_status(
    env: Environment, ids: AmiIds, reader: FleetReader, store: LedgerStore, now: datetime
) -> EnvStatus:
    """Status of one environment; a missing ASG is reported, not raised."""
    secret_ami = ids.ami_for(env)
    pin = ids.pin_for(env)
    desired: int | None = None
    running: dict[str, int] = {}
    problem = None
    try:
        snapshot = observe(env, reader)
        desired = sum(snapshot.desired.values())
        running = dict(snapshot.running_images().most_common())
    except PromoteError as exc:
        if exc.exit_code != ExitCode.NOT_FOUND:
            raise
        problem = exc.message
    latest = records_for(store, secret_ami, env.name)[:1] if secret_ami else []
    return EnvStatus(
        env=env.name,
        accepts=env.accepts,
        secret_ami=secret_ami,
        pin=pin,
        pin_overdue=bool(pin and pin.overdue(now)),
        desired=desired,
        running=running,
        latest_evidence=latest[0].key if latest else None,
        latest_result=latest[0].result if latest else None,
        problem=problem,
    )


def status(
    envs: Sequence[Environment],
    ids: AmiIds,
    reader: FleetReader,
    store: LedgerStore,
    now: datetime,
) -> list[EnvStatus]:
    """Status of each environment, in the order given."""
    return [env_status(env, ids, reader, store, now) for env in envs]


def revoked_warnings(rows: Sequence[EnvStatus], images: ImageReader) -> list[str]:
    """One warning per env that is set to, or runs, a revoked image (instances are untouched)."""
    cache: dict[str, Image | None] = {}
    warnings = []
    for row in rows:
        amis = dict.fromkeys([*([row.secret_ami] if row.secret_ami else []), *row.running])
        for ami in amis:
            if ami not in cache:
                cache[ami] = images.image(ami)
            image = cache[ami]
            if image is not None and image.revoked:
                how = []
                if ami == row.secret_ami:
                    how.append("is set to")
                if ami in row.running:
                    how.append(f"runs ({row.running[ami]} instance(s))")
                warnings.append(
                    f"{row.env} {' and '.join(how)} revoked image {ami}: {image.revoked}"
                )
    return warnings
