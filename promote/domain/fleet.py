"""The instances of an environment, compared with the AMI they should run.

SUCCESS means every ASG of the environment has a desired capacity above zero and exactly that
many members, all InService and Healthy, all EC2-`running` on the expected AMI, and nothing else:
no member Pending, Terminating, in Standby, stopped or on another AMI. Zero instances are never a
SUCCESS. Instances that are no longer members of the ASGs (detached) are not counted.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from promote.domain import evidence, ledger
from promote.domain.images import check_ami_id, require_image
from promote.domain.results import FLATTEN, HIDDEN, renamed

if TYPE_CHECKING:
    from promote.clock import Clock
    from promote.config import Environment
    from promote.domain.ports import FleetReader
    from promote.domain.services import Services

_FLEET_READ = ("autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances", "sts:AssumeRole")
# validate only adds a record (a conditional put that never overwrites), signed by the evidence
# key (its public half is read first, so a missing key fails before the fleet is polled).
SIGN_EVIDENCE = ("kms:GetPublicKey", "kms:Sign")
_VALIDATE = (
    "secretsmanager:GetSecretValue",
    "ec2:DescribeImages",  # an AMI given with --ami must exist
    *_FLEET_READ,
    "s3:ListBucket",
    "s3:PutObject",
    *SIGN_EVIDENCE,
)
# A group at desired 0 has its schedule read (to name the action that emptied it).
_SCHEDULE = ("autoscaling:DescribeScheduledActions",)
AWS_ACTIONS = {
    "validate": (*_VALIDATE, *_SCHEDULE),
    # --wake holds emptied groups as a rollout does: the lease, ScheduledActions, capacity.
    "validate --wake": (
        *_VALIDATE,
        *_SCHEDULE,
        "autoscaling:UpdateAutoScalingGroup",
        "autoscaling:SuspendProcesses",
        "autoscaling:ResumeProcesses",
        "autoscaling:CreateOrUpdateTags",
        "autoscaling:DeleteTags",
        "s3:GetObject",
    ),
}

Result = Literal["SUCCESS", "FAILED"]


@dataclass(frozen=True)
class GroupMember:
    """An instance as its auto scaling group sees it."""

    instance_id: str
    lifecycle_state: str
    health_status: str


@dataclass(frozen=True)
class Group:
    """An auto scaling group: its desired capacity and current members."""

    name: str
    desired_capacity: int
    members: tuple[GroupMember, ...]


@dataclass(frozen=True)
class Instance:
    """An instance as EC2 sees it."""

    instance_id: str
    image_id: str
    state: str
    private_dns: str = ""
    private_ip: str = ""
    name_tag: str = ""


@dataclass(frozen=True)
class SeenInstance:
    """One member of one ASG, with what EC2 says about it."""

    instance_id: str
    group: str = field(metadata=renamed("autoscaling_group"))
    lifecycle_state: str = ""
    health_status: str = ""
    image_id: str | None = None
    state: str | None = None
    private_dns: str = field(default="", metadata=HIDDEN)
    private_ip: str = field(default="", metadata=HIDDEN)
    name_tag: str = field(default="", metadata=HIDDEN)

    @property
    def names(self) -> set[str]:
        """The names a Concourse worker on this instance may register with: its instance id,
        Name tag (`ci-concourse-worker-<az>-<id>`), hostname, private DNS name or IP."""
        names = {self.instance_id}
        if self.name_tag:
            names.add(self.name_tag)
        if self.private_dns:
            names |= {self.private_dns, self.private_dns.split(".")[0]}
        if self.private_ip:
            names.add(self.private_ip)
        return names


@dataclass(frozen=True)
class Snapshot:
    """An environment's ASGs and instances at one moment."""

    env: str
    groups: tuple[Group, ...]
    instances: tuple[SeenInstance, ...]
    # group -> the scheduled action that empties it (read only for groups at desired 0)
    zeroed_by: dict[str, str] = field(default_factory=dict)

    @property
    def desired(self) -> dict[str, int]:
        """Desired capacity per ASG."""
        return {group.name: group.desired_capacity for group in self.groups}

    def running_images(self) -> Counter[str]:
        """How many running members run each AMI."""
        return Counter(i.image_id for i in self.instances if i.state == "running" and i.image_id)


def observe(env: Environment, reader: FleetReader) -> Snapshot:
    """Read the environment's ASGs and their members' EC2 state once."""
    groups = reader.groups(env)
    ec2 = reader.instances(env, groups)
    seen = []
    for group in groups:
        for member in group.members:
            instance = ec2.get(member.instance_id)
            seen.append(
                SeenInstance(
                    instance_id=member.instance_id,
                    group=group.name,
                    lifecycle_state=member.lifecycle_state,
                    health_status=member.health_status,
                    image_id=instance.image_id if instance else None,
                    state=instance.state if instance else None,
                    private_dns=instance.private_dns if instance else "",
                    private_ip=instance.private_ip if instance else "",
                    name_tag=instance.name_tag if instance else "",
                )
            )
    zeroed_by = {}
    for group in groups:
        if group.desired_capacity == 0:
            schedule = [a for a in reader.scheduled_actions(env, group.name) if a.scales_to_zero]
            if schedule:
                action = schedule[0]
                when = f" ({action.recurrence})" if action.recurrence else ""
                zeroed_by[group.name] = f"{action.name}{when}"
    return Snapshot(env.name, tuple(groups), tuple(seen), zeroed_by)


def on_expected(instance: SeenInstance, expected_ami: str) -> bool:
    """True for a member that counts: InService, Healthy, EC2-running on EXPECTED_AMI."""
    return (
        instance.lifecycle_state == "InService"
        and instance.health_status == "Healthy"
        and instance.state == "running"
        and instance.image_id == expected_ami
    )


def assess(snapshot: Snapshot, expected_ami: str) -> list[str]:
    """Every reason the snapshot is not a SUCCESS for EXPECTED_AMI; empty when it is."""
    reasons: list[str] = []
    for group in snapshot.groups:
        if group.desired_capacity <= 0 and group.name in snapshot.zeroed_by:
            reasons.append(
                f"{group.name}: scaled to zero by scheduled action "
                f"{snapshot.zeroed_by[group.name]}; an empty group proves nothing (validate "
                "inside the awake window, or with --wake)"
            )
        elif group.desired_capacity <= 0:
            reasons.append(f"{group.name}: desired capacity is 0; an empty group proves nothing")
        members = [i for i in snapshot.instances if i.group == group.name]
        in_service = sum(1 for i in members if i.lifecycle_state == "InService")
        if group.desired_capacity > 0 and in_service != group.desired_capacity:
            reasons.append(
                f"{group.name}: {in_service} InService of desired {group.desired_capacity}"
            )
        for instance in members:
            reasons.extend(_instance_reasons(instance, expected_ami))
    return reasons


def _instance_reasons(instance: SeenInstance, expected_ami: str) -> list[str]:
    where = f"{instance.instance_id} in {instance.group}"
    if instance.state is None:
        return [f"{where}: not found by EC2 DescribeInstances"]
    reasons = []
    if instance.lifecycle_state != "InService":
        reasons.append(f"{where}: lifecycle state {instance.lifecycle_state}, not InService")
    if instance.health_status != "Healthy":
        reasons.append(f"{where}: health status {instance.health_status}")
    if instance.state != "running":
        reasons.append(f"{where}: EC2 state {instance.state}, not running")
    if instance.image_id != expected_ami:
        reasons.append(f"{where}: runs {instance.image_id}, expected {expected_ami}")
    return reasons


def summary_line(snapshot: Snapshot, expected_ami: str) -> str:
    """One progress line: `management-dev: 3/4 on ami-…, 1 pending`."""
    desired = sum(snapshot.desired.values())
    counted = sum(1 for i in snapshot.instances if on_expected(i, expected_ami))
    parts = [f"{snapshot.env}: {counted}/{desired} on {expected_ami}"]
    lifecycle = Counter(
        i.lifecycle_state.split(":")[0].lower()
        for i in snapshot.instances
        if i.lifecycle_state != "InService"
    )
    parts.extend(f"{count} {state}" for state, count in sorted(lifecycle.items()))
    other = sum(
        1 for i in snapshot.instances if i.image_id is not None and i.image_id != expected_ami
    )
    if other:
        parts.append(f"{other} on other AMIs")
    not_running = sum(1 for i in snapshot.instances if i.state is not None and i.state != "running")
    if not_running:
        parts.append(f"{not_running} not running")
    return ", ".join(parts)


@dataclass(frozen=True)
class Validation:
    """The outcome of `promote validate`: what was expected, what was seen, and why."""

    env: str
    expected_ami: str
    result: Result
    reasons: tuple[str, ...]
    snapshot: Snapshot
    polls: int
    started_at: datetime
    finished_at: datetime
    timeout_seconds: float
    interval_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        """True for SUCCESS."""
        return self.result == "SUCCESS"


def validate(
    env: Environment,
    expected_ami: str,
    reader: FleetReader,
    clock: Clock,
    timeout: float,
    interval: float,
    progress: Callable[[str], None],
) -> Validation:
    """Poll the environment until it all runs EXPECTED_AMI (SUCCESS) or TIMEOUT passes (FAILED).

    One progress line per poll. A timeout of 0 checks exactly once.
    """
    started_at = clock.now()
    deadline = clock.monotonic() + timeout
    polls = 0
    while True:
        snapshot = observe(env, reader)
        polls += 1
        reasons = assess(snapshot, expected_ami)
        progress(summary_line(snapshot, expected_ami))
        remaining = deadline - clock.monotonic()
        if not reasons or remaining <= 0:
            break
        clock.sleep(min(interval, remaining))
    return Validation(
        env=env.name,
        expected_ami=expected_ami,
        result="FAILED" if reasons else "SUCCESS",
        reasons=tuple(reasons),
        snapshot=snapshot,
        polls=polls,
        started_at=started_at,
        finished_at=clock.now(),
        timeout_seconds=timeout,
        interval_seconds=interval,
    )


@dataclass(frozen=True)
class ValidateResult:
    """A validation and the evidence record written for it."""

    validation: Validation = field(metadata=HIDDEN)
    record: dict[str, Any] = field(metadata=FLATTEN)
    evidence_key: str
    previous_records: int

    @property
    def succeeded(self) -> bool:
        """True for SUCCESS."""
        return self.validation.succeeded


def check(
    services: Services,
    env_name: str,
    ami: str | None,
    timeout: float,
    interval: float,
    count_previous: bool = True,
    wake: bool = False,
    resume: bool = False,
    ami_must_exist: bool = True,
) -> ValidateResult:
    """Validate ENV against AMI (default: its entry in the secret) and record the evidence.

    COUNT_PREVIOUS lists the earlier records first (which also fails fast when the bucket is
    missing); a rollout's closing validate skips it, so a rollout needs no s3:ListBucket.
    WAKE raises the groups a schedule emptied for the check (`domain.wake`). An AMI given
    (AMI) must exist (exit 4, nothing written) unless AMI_MUST_EXIST is off (a rollout's closing
    validate: the rollout has checked its AMI).
    """
    config = services.config
    env = config.environment(env_name)
    expected = check_ami_id(ami) if ami else services.expected_ami(env)
    if ami and ami_must_exist and config.env_region(env) == config.region:
        # An AMI named on the command line that does not exist: exit 4, no evidence written.
        require_image(services.images, expected, config.region)
    services.evidence_signer.ready()
    previous = ledger.records_for(services.ledger, expected, env.name) if count_previous else []
    with ExitStack() as stack:
        woken: dict[str, int] = {}
        if wake:
            from promote.domain.wake import awake

            woken = stack.enter_context(awake(services, env, expected, timeout + 300, resume))
        result = validate(
            env, expected, services.fleet, services.clock, timeout, interval, services.progress
        )
    if woken:
        result = dataclasses.replace(result, extra={**result.extra, "woken": woken})
    record = evidence.build_record(
        result, services.actor(), services.tool_version, config.env_region(env)
    )
    key = evidence.write(services, result, record)
    if services.results is not None and env.name == config.test_env:
        # The compatibility file as existing consumers read it: from git, the test env only.
        services.results.publish(
            f"results/{config.results_pipeline}.test",
            f"{expected} {result.result}\n",
            f"{env.name}: {expected} {result.result} (evidence {key})",
        )
    return ValidateResult(result, record, key, len(previous))
