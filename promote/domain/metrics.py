"""`promote metrics`: the estate as Prometheus gauges (rendered by adapters.metrics).

Per environment: running instances by AMI, the age of each AMI it is set to or runs, how many
instances run something other than the secret's AMI (drift), whether it is pinned, the age of
the newest SUCCESS record of the secret's AMI (or of the source it was published from) that the
gate would open on (signature, statement and instances checked as `promote gate` does, not a
key listing), and the rollouts in progress
(held, unexpired leases in `locks/rollout/`). With a Concourse web node: workers by state and
team. The domain only gathers numbers; it imports no metrics library.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from promote.domain import evidence
from promote.domain.fleet import observe
from promote.domain.gate import sources_of
from promote.domain.ledger import records_for
from promote.domain.locks import HELD, LOCK_PREFIX, Lease
from promote.errors import ExitCode, PromoteError

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.ami_ids import AmiIds
    from promote.domain.ports import WorkersAPI
    from promote.domain.services import Services

AWS_ACTIONS = {
    "metrics": (
        "secretsmanager:GetSecretValue",
        "autoscaling:DescribeAutoScalingGroups",
        "ec2:DescribeInstances",
        "sts:AssumeRole",
        "ec2:DescribeImages",
        "s3:ListBucket",
        "s3:GetObject",
        "kms:GetPublicKey",
    )
}


@dataclass(frozen=True)
class Family:
    """One gauge: its name (without the `promote_` prefix), help, label names and samples."""

    name: str
    help: str
    labels: tuple[str, ...]
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    def add(self, value: float, *labels: str) -> None:
        """One sample with these label values."""
        self.samples.append((labels, value))


@dataclass(frozen=True)
class MetricsReport:
    """Every gauge, in a fixed order."""

    families: list[Family]


def _stamp_time(stamp: str) -> datetime | None:
    """When an evidence key's stamp (`20261123T121314.123456Z`) was written."""
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _created(text: str) -> datetime | None:
    """An AMI's CreationDate."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def metrics(
    services: Services, env_name: str | None = None, workers: WorkersAPI | None = None
) -> MetricsReport:
    """The gauges for ENV_NAME (default every env), and Concourse's workers when given."""
    config = services.config
    now = services.clock.now()
    envs = [config.environment(env_name)] if env_name else list(config.envs.values())
    instances = Family("instances", "Running instances of the env's ASGs, by AMI.", ("env", "ami"))
    age = Family(
        "ami_age_seconds",
        "Age of each AMI an env is set to or runs (from its CreationDate).",
        ("env", "ami"),
    )
    set_to = Family(
        "secret_ami_info", "The AMI the ami-ids secret sets the env to.", ("env", "ami")
    )
    drift = Family(
        "drift_instances",
        "Running instances not on the AMI the secret sets the env to.",
        ("env",),
    )
    pinned = Family("pinned", "1 when the env is pinned.", ("env",))
    overdue = Family("pin_overdue", "1 when the env's pin expired and still holds.", ("env",))
    verified = Family(
        "last_verified_success_age_seconds",
        "Age of the newest SUCCESS evidence of the secret's AMI that the gate believes.",
        ("env", "ami"),
    )
    has_verified = Family(
        "verified_success",
        "1 when the secret's AMI has SUCCESS evidence the gate believes in the env.",
        ("env",),
    )
    rollouts = Family(
        "rollouts_in_progress", "Held, unexpired rollout leases (locks/rollout/).", ("env",)
    )
    stale = Family(
        "rollout_leases_expired",
        "Held rollout leases past their expiry (a crashed rollout; the next one takes over).",
        ("env",),
    )
    missing = Family("env_unreadable", "1 when the env's ASGs could not be read.", ("env",))
    read: dict[object, AmiIds] = {}
    leases = _leases(services)
    for env in envs:
        place = config.secret_of(env)
        if place not in read:
            read[place] = services.read_ids(check=False, where=place)
        ids = read[place]
        readable = _env_metrics(env, ids, services, now, (instances, age, set_to, drift))
        pin = ids.pin_for(env)
        pinned.add(1.0 if pin else 0.0, env.name)
        overdue.add(1.0 if pin and pin.overdue(now) else 0.0, env.name)
        secret_ami = ids.ami_for(env)
        record = _verified_success(services, secret_ami, env.name) if secret_ami else None
        written = _stamp_time(record.ref.stamp) if record else None
        if record and written and secret_ami:
            verified.add(max(0.0, (now - written).total_seconds()), env.name, secret_ami)
        has_verified.add(1.0 if record else 0.0, env.name)
        held = [lease for lease in leases if lease.env == env.name and lease.state == HELD]
        rollouts.add(float(sum(not lease.expired(now) for lease in held)), env.name)
        stale.add(float(sum(lease.expired(now) for lease in held)), env.name)
        missing.add(0.0 if readable else 1.0, env.name)
    families = [instances, age, set_to, drift, pinned, overdue, verified, has_verified]
    families += [rollouts, stale, missing]
    if workers is not None:
        by = Counter((w.state or "unknown", w.team or "") for w in workers.workers())
        concourse = Family(
            "concourse_workers",
            "Concourse workers by state and team (empty: global).",
            ("state", "team"),
        )
        for (state, team), count in sorted(by.items()):
            concourse.add(float(count), state, team)
        families.append(concourse)
    return MetricsReport(families)


def _env_metrics(
    env: Environment,
    ids: AmiIds,
    services: Services,
    now: datetime,
    families: tuple[Family, Family, Family, Family],
) -> bool:
    """Instances by AMI, AMI ages, the secret's AMI and drift of ENV; False when its ASGs are
    missing."""
    instances, age, set_to, drift = families
    readable = True
    secret_ami = ids.ami_for(env)
    running: Counter[str] = Counter()
    try:
        running = observe(env, services.fleet).running_images()
    except PromoteError as exc:
        if exc.exit_code != ExitCode.NOT_FOUND:
            raise
        readable = False
    for ami, count in sorted(running.items()):
        instances.add(float(count), env.name, ami)
    if secret_ami:
        set_to.add(1.0, env.name, secret_ami)
    drift.add(float(sum(c for a, c in running.items() if a != secret_ami)), env.name)
    for ami in dict.fromkeys([*([secret_ami] if secret_ami else []), *sorted(running)]):
        image = services.images.image(ami)
        created = _created(image.creation_date) if image else None
        if created:
            age.add(max(0.0, (now - created).total_seconds()), env.name, ami)
    return readable


def _verified_success(services: Services, ami: str, env_name: str) -> evidence.Record | None:
    """The newest SUCCESS record for AMI in ENV_NAME that the gate would open on: its own or
    its linked source's (gate.sources_of), fully verified (signature, statement, instances)."""
    image = services.images.image(ami)
    candidates = sources_of(services, image)[0] if image else [ami]
    refs = [
        ref for candidate in candidates for ref in records_for(services.ledger, candidate, env_name)
    ]
    refs.sort(key=lambda ref: ref.stamp, reverse=True)
    return evidence.believed(services, refs, lambda ref: ref.result == "SUCCESS", full=True)


def _leases(services: Services) -> list[Lease]:
    """Every rollout lease in the ledger (objects that are not leases are skipped)."""
    found = []
    for key in services.ledger.keys(LOCK_PREFIX):
        stored = services.ledger.read(key)
        lease = Lease.parse(stored[0]) if stored else None
        if lease is not None:
            found.append(lease)
    return found
