"""Replace the instances of an environment that do not run the expected AMI, keeping capacity.

A *plan* first (per ASG: which members to replace, which to keep, the launch template change),
then an *executor*:

1. point the ASG's launch template at the expected AMI (a new version copied from the current
   one with only ImageId changed; skipped with `--no-launch-template`, leaving it to Terraform);
2. scale out by the number of instances to replace (raising MaxSize if needed);
3. wait until that many new instances are InService, Healthy and running on the expected AMI;
4. terminate the old ones one at a time with decrement, waiting for each to leave the group
   (the worker's systemd unit retires the worker on stop);
5. always restore the original desired capacity and MaxSize, also on failure or Ctrl-C.

The rollout lock and the engine that carries the plan out live in `rollout_engine`.

The instance this command runs on (when it is one) is never terminated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from promote.domain import refresh
from promote.domain.deploy import TerraformDeploy, deploy, step_for
from promote.domain.fleet import check, observe, on_expected
from promote.domain.images import require_image
from promote.domain.ledger import Event
from promote.domain.policy import Refusal, refusals, refuse
from promote.domain.results import HIDDEN, renamed
from promote.domain.rollout_engine import Executor, RolloutLog
from promote.errors import check_failed, usage_error

if TYPE_CHECKING:
    from promote.config import Environment
    from promote.domain.fleet import ValidateResult
    from promote.domain.ports import TemplateRef, WorkerDrain
    from promote.domain.services import Services

AWS_ACTIONS = {
    "rollout": (
        "secretsmanager:GetSecretValue",
        "ec2:DescribeImages",  # admission: stage, provenance, revocation
        "s3:ListBucket",  # admission: evidence and revoke events
        "autoscaling:DescribeAutoScalingGroups",
        "ec2:DescribeInstances",
        "sts:AssumeRole",
        "autoscaling:UpdateAutoScalingGroup",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "autoscaling:SuspendProcesses",
        "autoscaling:ResumeProcesses",
        # --engine instance-refresh (the default on AWS for groups with the drain hook)
        "autoscaling:DescribeLifecycleHooks",
        "autoscaling:StartInstanceRefresh",
        "autoscaling:DescribeInstanceRefreshes",
        "autoscaling:CreateOrUpdateTags",
        "autoscaling:DeleteTags",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:CreateLaunchTemplateVersion",
        "ec2:ModifyLaunchTemplate",
        "ec2:RunInstances",
        "ec2:CreateTags",
        "iam:PassRole",
        "s3:GetObject",  # the rollout lease (locks/rollout/<asg>.json)
        "s3:PutObject",  # the lease, and the closing validate's record (signed)
        "kms:GetPublicKey",
        "kms:Sign",
    )
}


@dataclass(frozen=True)
class RolloutOptions:
    """How a rollout runs: bounds, template handling, resumption, the closing validate."""

    timeout: float = 1800.0
    interval: float = 5.0
    update_template: bool = True
    replace_all: bool = False
    resume: bool = False
    validate: bool = True
    only: tuple[str, ...] = ()
    this_instance: str | None = None
    engine: str = "auto"  # auto, client (promote's own) or instance-refresh (AWS's)
    # --override-secret --reason: roll to an --ami the env's secret does not name (recorded)
    override_reason: str | None = None


@dataclass(frozen=True)
class GroupPlan:
    """What the rollout will do to one ASG."""

    group: str = field(metadata=renamed("autoscaling_group"))
    desired: int = field(metadata=renamed("desired_capacity"))
    max_size: int
    replace: tuple[str, ...]
    keep: tuple[str, ...]
    template: TemplateRef | None = field(metadata=HIDDEN)
    update_template: bool = field(metadata=renamed("update_launch_template"))
    protected: tuple[str, ...] = field(default=(), metadata=HIDDEN)

    DATA_PROPERTIES: ClassVar[tuple[str, ...]] = ("launch_template", "launch_template_image")

    @property
    def launch_template(self) -> str | None:
        """The template's name."""
        return self.template.name if self.template else None

    @property
    def launch_template_image(self) -> str | None:
        """The AMI the template launches now."""
        return self.template.image_id if self.template else None


@dataclass(frozen=True)
class RolloutPlan:
    """The whole plan for an environment."""

    env: str
    expected_ami: str
    groups: tuple[GroupPlan, ...]
    protected: tuple[str, ...] = ()
    environment: Environment | None = field(default=None, metadata=HIDDEN)
    options: RolloutOptions = field(default_factory=RolloutOptions, metadata=HIDDEN)
    deploy: TerraformDeploy | None = None
    secret_ami: str | None = None  # what the env's secret names (differs only when overridden)

    DATA_PROPERTIES: ClassVar[tuple[str, ...]] = ("replacements",)

    @property
    def replacements(self) -> int:
        """How many instances will be replaced."""
        return sum(len(g.replace) for g in self.groups)


@dataclass(frozen=True)
class RolloutPreview:
    """A plan shown under --dry-run: nothing changes."""

    plan: RolloutPlan
    dry_run: bool = True


@dataclass(frozen=True)
class RolloutResult:
    """What the rollout did, and how the env validated afterwards."""

    plan: RolloutPlan
    steps: list[str]
    terminated: list[str]
    launched: list[str]
    landed: list[str]
    validation: ValidateResult | None = field(metadata=HIDDEN)
    dry_run: bool = False

    DATA_PROPERTIES: ClassVar[dict[str, str]] = {"validation": "validated"}

    @property
    def validated(self) -> dict[str, object] | None:
        """The closing validate: result, reasons, evidence key."""
        if self.validation is None:
            return None
        result = self.validation.validation
        return {
            "result": result.result,
            "reasons": list(result.reasons),
            "evidence_key": self.validation.evidence_key,
        }


def plan(
    services: Services, env_name: str, ami: str | None, options: RolloutOptions
) -> RolloutPlan:
    """Which members of each ASG to replace and keep, and the launch template change.

    OPTIONS.only limits the plan to those ASGs of the env (e.g. the workers, for a worker
    refresh). A plan that cannot work is refused before anything changes.
    """
    env = services.config.environment(env_name)
    expected_ami, secret_ami = admitted(services, env, ami, options)
    deploy_step = step_for(env)
    if deploy_step is not None:  # Terraform owns the templates: promote never writes one
        options = dataclasses.replace(options, update_template=False)
    unknown = sorted(set(options.only) - set(env.autoscaling_groups))
    if unknown:
        raise usage_error(
            f"{', '.join(unknown)} is not an ASG of {env.name}",
            f"its ASGs: {', '.join(env.autoscaling_groups)}",
        )
    snapshot = observe(env, services.fleet)
    control = services.fleet_control
    groups = []
    protected = []
    for group in snapshot.groups:
        if options.only and group.name not in options.only:
            continue
        members = [i for i in snapshot.instances if i.group == group.name]
        replace = [
            i.instance_id
            for i in members
            if options.replace_all or not on_expected(i, expected_ami)
        ]
        kept_here = []
        if options.this_instance in replace:
            replace.remove(options.this_instance)
            kept_here.append(options.this_instance)
        protected.extend(kept_here)
        keep = [i.instance_id for i in members if i.instance_id not in replace]
        template = control.launch_template(env, group.name)
        max_size = control.state(env, group.name).max_size
        groups.append(
            GroupPlan(
                group=group.name,
                desired=group.desired_capacity,
                max_size=max_size,
                replace=tuple(replace),
                keep=tuple(keep),
                template=template,
                update_template=options.update_template
                and template is not None
                and template.image_id != expected_ami,
                protected=tuple(kept_here),
            )
        )
    rollout = RolloutPlan(
        env.name,
        expected_ami,
        tuple(groups),
        tuple(protected),
        env,
        options,
        deploy_step,
        secret_ami,
    )
    _check(rollout)
    return rollout


def admitted(
    services: Services, env: Environment, ami: str | None, options: RolloutOptions
) -> tuple[str, str | None]:
    """The AMI to roll ENV to and what its secret names; refused (exit 3, every reason) when
    admission refuses it, or when --ami is not the secret's entry and not overridden."""
    current = services.read_ids(check=False, where=env)
    secret_ami = current.ami_for(env)
    target = ami or services.expected_ami(env)
    image = require_image(services.images, target, services.config.region)
    found, _ = refusals(services, image, env, current)
    if target != secret_ami and not options.override_reason:
        found.append(
            Refusal(
                f"--ami {target} is not what {env.name}'s secret names ({secret_ami or 'nothing'})",
                f"point the secret at it first (promote set-ids --env {env.name} --ami "
                f"{target}), or pass --override-secret --reason R (recorded)",
            )
        )
    refuse(found, env)
    return target, secret_ami


def _check(rollout: RolloutPlan) -> None:
    """Refuse, before changing anything, a plan that cannot work."""
    for group in rollout.groups:
        if rollout.options.update_template and group.template is None and group.replace:
            raise usage_error(
                f"{group.group} launches from a launch configuration, not a launch template",
                "point it at the AMI with Terraform, then re-run with --no-launch-template",
            )
        if group.desired == 0 and group.replace:
            raise check_failed(
                f"{group.group} has desired capacity 0 but members to replace",
                "wait for the group to settle, then re-run",
            )


def execute(
    rollout: RolloutPlan,
    services: Services,
    drain: WorkerDrain | None = None,
    replaced: Callable[[], None] = lambda: None,
) -> RolloutResult:
    """Carry out the plan group by group, then validate the env (unless told not to).

    A rollout that changes something records signed `rollout` events: `start` once the first
    lease is held (a rollout refused before any change, e.g. by another's lease, records
    nothing), then `done` (with what was replaced and the closing validate) or `failed`.
    """
    env = rollout.environment or services.config.environment(rollout.env)
    options = rollout.options
    if options.validate:
        services.evidence_signer.ready()  # the closing record is signed: fail before rolling
    changes = bool(rollout.replacements or rollout.deploy is not None or rollout.groups)
    if changes:
        services.ready_to_record(env.name)
    begun: list[bool] = []

    def started() -> None:
        if not begun:
            services.record(_event(rollout, "start"))
            begun.append(True)

    try:
        result = _run(rollout, services, env, drain, replaced, started)
    except BaseException as exc:
        if begun:
            failure = str(exc) or type(exc).__name__
            _record_quietly(services, _event(rollout, "failed", error=failure))
        raise
    if begun:
        outcome = "done"
        if result.validation is not None and not result.validation.succeeded:
            outcome = "done, validate FAILED"
        services.record(
            _event(
                rollout,
                outcome,
                terminated=result.terminated,
                launched=result.launched,
                landed=result.landed,
                validate_evidence=result.validated["evidence_key"] if result.validated else None,
            )
        )
    return result


def _event(rollout: RolloutPlan, phase: str, **extra: object) -> Event:
    """The rollout event of PHASE (start, done, failed): what it replaces or replaced."""
    replacing = {g.group: list(g.replace) for g in rollout.groups if g.replace}
    override = rollout.options.override_reason
    return Event(
        kind="rollout",
        subject=rollout.env,
        ami=rollout.expected_ami,
        envs=(rollout.env,),
        before={"secret_ami": rollout.secret_ami, "replacing": replacing},
        after={"phase": phase, "ami": rollout.expected_ami},
        reason=override,
        extra={
            "phase": phase,
            "override_secret": rollout.expected_ami != rollout.secret_ami,
            **extra,
        },
    )


def _record_quietly(services: Services, event: Event) -> None:
    """Record EVENT on the way out of a failure; a failure to record is a warning only."""
    try:
        services.record(event)
    except Exception as exc:
        services.warn(f"could not record the rollout's {event.after.get('phase')} event: {exc}")


def _run(
    rollout: RolloutPlan,
    services: Services,
    env: Environment,
    drain: WorkerDrain | None,
    replaced: Callable[[], None],
    started: Callable[[], None],
) -> RolloutResult:
    """The deploy, the engine and the closing validate."""
    options = rollout.options
    if rollout.deploy is not None:
        started()
        groups = tuple(g.group for g in rollout.groups)
        deploy(services, env, rollout.deploy, rollout.expected_ami, groups, options.timeout)
    replacing = [g.group for g in rollout.groups if g.replace]
    engine = refresh.choose(options.engine, services, env, replacing)
    log: RolloutLog
    if engine == "instance-refresh":
        refresher = refresh.RefreshEngine(env, services, options.timeout, max(options.interval, 15))
        log = refresher.run(rollout, RolloutLog(), started)
    else:
        executor = Executor(
            env,
            services,
            timeout=options.timeout,
            interval=options.interval,
            resume=options.resume,
            drain=drain,
            replaced=replaced,
            started=started,
        )
        log = executor.run(rollout)
    validation = None
    if options.validate:
        bound = min(options.timeout, 300)
        validation = check(
            services,
            env.name,
            rollout.expected_ami,
            bound,
            options.interval,
            count_previous=False,
            ami_must_exist=False,
        )
    return RolloutResult(rollout, log.steps, log.terminated, log.launched, log.landed, validation)
