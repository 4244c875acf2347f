"""`promote status`: what each environment is set to, what it runs, its pin, its evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from promote.domain import drift, evidence, revocations
from promote.domain.ami_ids import Pin
from promote.domain.fleet import observe
from promote.domain.ledger import records_for
from promote.domain.results import renamed
from promote.errors import ExitCode, PromoteError

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.ami_ids import AmiIds
    from promote.domain.services import Services

_FLEET_READ = ("autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances", "sts:AssumeRole")
# status shows each env's newest record that verifies.
AWS_ACTIONS = {
    "status": (
        "secretsmanager:GetSecretValue",
        *_FLEET_READ,
        "ec2:DescribeImages",
        "s3:ListBucket",
        "s3:GetObject",
        "kms:GetPublicKey",
    )
}


@dataclass(frozen=True)
class EnvStatus:
    """One environment at a glance."""

    env: str
    accepts: str
    secret_ami: str | None
    pin: Pin | None
    pin_overdue: bool
    desired: int | None = field(metadata=renamed("desired_capacity"))
    running: dict[str, int]
    latest_evidence: str | None
    latest_result: str | None
    problem: str | None


@dataclass(frozen=True)
class StatusReport:
    """Every environment asked for, the warnings that go with them, and the problems
    `status --check` fails on (one line each)."""

    secret_id: str
    envs: list[EnvStatus]
    warnings: list[str]
    problems: list[str] = field(default_factory=list)


def env_status(env: Environment, ids: AmiIds, services: Services) -> EnvStatus:
    """Status of one environment; a missing ASG is reported, not raised."""
    now = services.clock.now()
    secret_ami = ids.ami_for(env)
    pin = ids.pin_for(env)
    desired: int | None = None
    running: dict[str, int] = {}
    problem = None
    try:
        snapshot = observe(env, services.fleet)
        desired = sum(snapshot.desired.values())
        running = dict(snapshot.running_images().most_common())
    except PromoteError as exc:
        if exc.exit_code != ExitCode.NOT_FOUND:
            raise
        problem = exc.message
    refs = records_for(services.ledger, secret_ami, env.name) if secret_ami else []
    record = evidence.believed(services, refs, lambda ref: True, full=False)
    latest = [record.ref] if record else []
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


def status(services: Services, env_name: str | None = None) -> StatusReport:
    """Status of ENV_NAME (default: every env), with warnings for revoked images and old pins."""
    config = services.config
    envs = [config.environment(env_name)] if env_name else list(config.envs.values())
    read: dict[object, AmiIds] = {}  # one read per secret the envs use
    rows = []
    for env in envs:
        place = config.secret_of(env)
        if place not in read:
            read[place] = services.read_ids(check=False, where=place)
        rows.append(env_status(env, read[place], services))
    revoked = revoked_warnings(rows, services)
    drifted = [d.detail for d in drift.untagged_revocations(services)]
    drifted += [d.detail for d in drift.dropped_pins(services, envs)]
    warnings = [*revoked, *drifted]
    warnings.extend(
        f"the pin on {row.env} expired {row.pin.expires} and still holds"
        for row in rows
        if row.pin_overdue and row.pin
    )
    problems = [*fleet_problems(rows, services), *revoked, *drifted]
    return StatusReport(config.secret_id, rows, warnings, problems)


def fleet_problems(rows: Sequence[EnvStatus], services: Services) -> list[str]:
    """What `status --check` fails on besides revocation and drift: an ASG missing, an env
    running something other than its secret names, an env that accepts only tested images
    running an untested one."""
    found = []
    stages: dict[str, str | None] = {}
    for row in rows:
        if row.problem:
            found.append(f"{row.env}: {row.problem}")
        for ami, count in row.running.items():
            if row.secret_ami and ami != row.secret_ami:
                found.append(
                    f"{row.env} runs {ami} ({count} instance(s)), not {row.secret_ami} "
                    f"its secret names (promote rollout --env {row.env})"
                )
            if row.accepts == "tested":
                if ami not in stages:
                    image = services.images.image(ami)
                    stages[ami] = image.stage if image else None
                if stages[ami] != "tested":
                    found.append(
                        f"{row.env} accepts only tested images but runs {ami} "
                        f"({stages[ami] or 'no promote stage'}, {count} instance(s))"
                    )
    return found


def revoked_warnings(rows: Sequence[EnvStatus], services: Services) -> list[str]:
    """One warning per env that is set to, or runs, a revoked image (by its own revoke event or
    tag, or its family's: `domain.revocations`); instances are untouched."""
    cache: dict[str, str | None] = {}
    warnings = []
    for row in rows:
        amis = dict.fromkeys([*([row.secret_ami] if row.secret_ami else []), *row.running])
        for ami in amis:
            if ami not in cache:
                image = services.images.image(ami)
                cache[ami] = revocations.why_revoked(services, image) if image else None
            why = cache[ami]
            if why is not None:
                how = []
                if ami == row.secret_ami:
                    how.append("is set to")
                if ami in row.running:
                    how.append(f"runs ({row.running[ami]} instance(s))")
                reason = why.split(": ", 1)[1] if why.startswith(f"{ami} is revoked: ") else why
                warnings.append(f"{row.env} {' and '.join(how)} revoked image {ami}: {reason}")
    return warnings
